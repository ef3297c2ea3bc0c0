// NbdServer: exports a BlockDevice over the NBD protocol (newstyle, fixed
// handshake, simple replies) to clients such as nbdinfo, nbdcopy, nbdfuse
// and fio's nbd engine. One thread per client connection; requests on a
// connection are answered in order. Every export name maps to the device.
#pragma once

#include <atomic>
#include <cstdint>

#include "blockvol/block_device.h"
#include "blockvol/net.h"
#include "util/log.h"

namespace stowage::blockvol::nbd {

// Protocol numbers (see the NBD protocol specification, doc/proto.md).
inline constexpr uint64_t kInitMagic = 0x4e42444d41474943ull;     // "NBDMAGIC"
inline constexpr uint64_t kOptionMagic = 0x49484156454f5054ull;   // "IHAVEOPT"
inline constexpr uint64_t kOptionReplyMagic = 0x3e889045565a9ull;
inline constexpr uint32_t kRequestMagic = 0x25609513;
inline constexpr uint32_t kSimpleReplyMagic = 0x67446698;

inline constexpr uint16_t kFlagFixedNewstyle = 1 << 0;
inline constexpr uint16_t kFlagNoZeroes = 1 << 1;

enum Option : uint32_t {
  kOptExportName = 1, kOptAbort = 2, kOptList = 3, kOptStartTls = 5, kOptInfo = 6, kOptGo = 7,
  kOptStructuredReply = 8, kOptListMetaContext = 9, kOptSetMetaContext = 10,
};
enum OptionReply : uint32_t {
  kRepAck = 1, kRepServer = 2, kRepInfo = 3,
  kRepErrUnsup = 0x80000001, kRepErrPolicy = 0x80000002, kRepErrInvalid = 0x80000003,
};
enum Info : uint16_t { kInfoExport = 0, kInfoName = 1, kInfoDescription = 2, kInfoBlockSize = 3 };
enum TransmissionFlag : uint16_t {
  kHasFlags = 1 << 0, kReadOnly = 1 << 1, kSendFlush = 1 << 2, kSendFua = 1 << 3, kSendTrim = 1 << 5,
  kSendWriteZeroes = 1 << 6,
};
enum Command : uint16_t { kCmdRead = 0, kCmdWrite = 1, kCmdDisc = 2, kCmdFlush = 3, kCmdTrim = 4, kCmdWriteZeroes = 6 };
enum CommandFlag : uint16_t { kCmdFlagFua = 1 << 0, kCmdFlagNoHole = 1 << 1, kCmdFlagDf = 1 << 2, kCmdFlagFastZero = 1 << 4 };
enum ErrorValue : uint32_t { kEperm = 1, kEio = 5, kEnomem = 12, kEinval = 22, kEnospc = 28, kEoverflow = 75, kEnotsup = 95 };

inline constexpr uint32_t kMaxRequest = 32u << 20;  // the largest read or write accepted
inline constexpr uint32_t kPreferredBlock = 4096;

class NbdServer {
 public:
  NbdServer(BlockDevice& device, Logger log) : device_(device), log_(std::move(log)) {}

  // Accepts clients on `listener` until stop().
  void serve(Socket listener);
  void stop() { stopping_ = true; }
  size_t clients() const { return clients_; }

 private:
  void serve_client(Socket socket);
  // The handshake; true when the client chose to start transmission.
  bool negotiate(int fd);
  void transmit(int fd);

  BlockDevice& device_;
  Logger log_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> clients_{0};
};

}  // namespace stowage::blockvol::nbd
