#include "blockvol/nbd_server.h"

#include <array>
#include <string>
#include <thread>
#include <vector>

namespace stowage::blockvol::nbd {
namespace {

constexpr uint32_t kMaxOptionLength = 64 * 1024;
constexpr uint16_t kKnownCommandFlags = kCmdFlagFua | kCmdFlagNoHole | kCmdFlagDf | (1 << 3) | kCmdFlagFastZero;

Status send_option_reply(int fd, uint32_t option, uint32_t type, std::span<const uint8_t> data = {}) {
  std::array<uint8_t, 20> header{};
  put_u64(&header[0], kOptionReplyMagic);
  put_u32(&header[8], option);
  put_u32(&header[12], type);
  put_u32(&header[16], uint32_t(data.size()));
  TRY_STATUS(write_full(fd, header));
  if (!data.empty()) TRY_STATUS(write_full(fd, data));
  return ok_status();
}

Status send_error_reply(int fd, uint32_t option, uint32_t type, const std::string& message) {
  return send_option_reply(fd, option, type,
                           std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(message.data()), message.size()));
}

Status send_simple_reply(int fd, uint32_t error, uint64_t cookie, std::span<const uint8_t> data = {}) {
  std::array<uint8_t, 16> header{};
  put_u32(&header[0], kSimpleReplyMagic);
  put_u32(&header[4], error);
  put_u64(&header[8], cookie);
  TRY_STATUS(write_full(fd, header));
  if (error == 0 && !data.empty()) TRY_STATUS(write_full(fd, data));
  return ok_status();
}

uint32_t error_value(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInvalidArgument: return kEinval;
    case ErrorCode::kPermissionDenied: return kEperm;
    default: return kEio;
  }
}

uint16_t transmission_flags() { return kHasFlags | kSendFlush | kSendFua | kSendTrim | kSendWriteZeroes; }

}  // namespace

void NbdServer::serve(Socket listener) {
  while (!stopping_) {
    auto client = accept_tcp(listener, std::chrono::milliseconds(200));
    if (!client.ok()) {
      if (client.error().code() != ErrorCode::kUnavailable)
        log_.warning("accept failed", {{"error", client.error().to_string()}});
      continue;
    }
    std::thread([this, c = std::move(*client)]() mutable { serve_client(std::move(c)); }).detach();
  }
}

void NbdServer::serve_client(Socket socket) {
  ++clients_;
  if (negotiate(socket.fd())) transmit(socket.fd());
  --clients_;
}

bool NbdServer::negotiate(int fd) {
  std::array<uint8_t, 18> greeting{};
  put_u64(&greeting[0], kInitMagic);
  put_u64(&greeting[8], kOptionMagic);
  put_u16(&greeting[16], kFlagFixedNewstyle | kFlagNoZeroes);
  if (!write_full(fd, greeting).ok()) return false;
  std::array<uint8_t, 4> client_flags_bytes{};
  if (!read_full(fd, client_flags_bytes).ok()) return false;
  uint32_t client_flags = get_u32(client_flags_bytes.data());
  if (client_flags & ~uint32_t(kFlagFixedNewstyle | kFlagNoZeroes)) {
    log_.warning("client sent unknown handshake flags; closing");
    return false;
  }
  const bool no_zeroes = client_flags & kFlagNoZeroes;
  for (;;) {
    std::array<uint8_t, 16> header{};
    if (!read_full(fd, header).ok()) return false;
    if (get_u64(&header[0]) != kOptionMagic) {
      log_.warning("bad option magic; closing");
      return false;
    }
    uint32_t option = get_u32(&header[8]);
    uint32_t length = get_u32(&header[12]);
    if (length > kMaxOptionLength) {
      log_.warning("option data too long; closing", {{"length", std::to_string(length)}});
      return false;
    }
    std::vector<uint8_t> data(length);
    if (!read_full(fd, data).ok()) return false;
    switch (option) {
      case kOptExportName: {
        std::array<uint8_t, 10 + 124> reply{};
        put_u64(&reply[0], device_.size());
        put_u16(&reply[8], transmission_flags());
        size_t n = no_zeroes ? 10 : reply.size();
        return write_full(fd, std::span<const uint8_t>(reply.data(), n)).ok();
      }
      case kOptAbort:
        (void)send_option_reply(fd, option, kRepAck);
        return false;
      case kOptList: {
        if (length != 0) {
          if (!send_error_reply(fd, option, kRepErrInvalid, "NBD_OPT_LIST carries no data").ok()) return false;
          break;
        }
        std::array<uint8_t, 4> entry{};  // one export, named ""
        if (!send_option_reply(fd, option, kRepServer, entry).ok() || !send_option_reply(fd, option, kRepAck).ok())
          return false;
        break;
      }
      case kOptInfo:
      case kOptGo: {
        // name length u32, name, count u16, count × info type u16
        bool valid = length >= 6;
        uint32_t name_length = valid ? get_u32(&data[0]) : 0;
        valid = valid && name_length <= length - 6;
        uint16_t requests = valid ? get_u16(&data[4 + name_length]) : 0;
        valid = valid && length == 4 + name_length + 2 + 2u * requests;
        if (!valid) {
          if (!send_error_reply(fd, option, kRepErrInvalid, "malformed NBD_OPT_INFO/GO data").ok()) return false;
          break;
        }
        std::string name(reinterpret_cast<const char*>(&data[4]), name_length);
        bool want_name = false;
        for (uint16_t i = 0; i < requests; ++i)
          if (get_u16(&data[4 + name_length + 2 + 2 * i]) == kInfoName) want_name = true;
        std::array<uint8_t, 12> export_info{};
        put_u16(&export_info[0], kInfoExport);
        put_u64(&export_info[2], device_.size());
        put_u16(&export_info[10], transmission_flags());
        std::array<uint8_t, 14> block_info{};
        put_u16(&block_info[0], kInfoBlockSize);
        put_u32(&block_info[2], 1);  // any alignment works (partial blocks are read-modify-written)
        put_u32(&block_info[6], kPreferredBlock);
        put_u32(&block_info[10], kMaxRequest);
        if (!send_option_reply(fd, option, kRepInfo, export_info).ok()) return false;
        if (!send_option_reply(fd, option, kRepInfo, block_info).ok()) return false;
        if (want_name) {
          std::vector<uint8_t> name_info(2 + name.size());
          put_u16(name_info.data(), kInfoName);
          std::copy(name.begin(), name.end(), name_info.begin() + 2);
          if (!send_option_reply(fd, option, kRepInfo, name_info).ok()) return false;
        }
        if (!send_option_reply(fd, option, kRepAck).ok()) return false;
        if (option == kOptGo) return true;
        break;
      }
      default:
        // STARTTLS, structured replies and metadata contexts are not offered.
        if (!send_error_reply(fd, option, kRepErrUnsup, "option not supported by stowage-volume").ok()) return false;
        break;
    }
  }
}

void NbdServer::transmit(int fd) {
  std::vector<uint8_t> buffer;
  const uint64_t size = device_.size();
  for (;;) {
    std::array<uint8_t, 28> header{};
    Status got = read_full(fd, header);
    if (!got.ok()) {
      if (got.error().code() != ErrorCode::kNotFound)
        log_.info("client went away mid-request", {{"error", got.error().to_string()}});
      return;
    }
    if (get_u32(&header[0]) != kRequestMagic) {
      log_.warning("bad request magic; closing the connection");
      return;
    }
    uint16_t flags = get_u16(&header[4]);
    uint16_t type = get_u16(&header[6]);
    uint64_t cookie = get_u64(&header[8]);
    uint64_t offset = get_u64(&header[16]);
    uint32_t length = get_u32(&header[24]);
    const bool in_range = offset <= size && length <= size - offset;
    const bool fua = flags & kCmdFlagFua;
    const bool bad_flags = flags & ~kKnownCommandFlags;
    Status sent;
    switch (type) {
      case kCmdRead: {
        if (bad_flags || length > kMaxRequest || !in_range) {
          sent = send_simple_reply(fd, kEinval, cookie);
          break;
        }
        buffer.resize(length);
        Status s = length ? device_.read(offset, buffer) : ok_status();
        sent = s.ok() ? send_simple_reply(fd, 0, cookie, buffer) : send_simple_reply(fd, error_value(s.error()), cookie);
        if (!s.ok()) log_.warning("read failed", {{"error", s.error().to_string()}});
        break;
      }
      case kCmdWrite: {
        if (bad_flags || length > kMaxRequest || !in_range) {
          // The data follows the request whatever we answer: skip it.
          if (!discard(fd, length).ok()) return;
          sent = send_simple_reply(fd, (bad_flags || length > kMaxRequest) ? kEinval : kEnospc, cookie);
          break;
        }
        buffer.resize(length);
        if (!read_full(fd, buffer).ok()) {
          log_.info("client went away in the middle of a write's data");
          return;
        }
        Status s = length ? device_.write(offset, buffer, fua) : ok_status();
        if (!s.ok()) log_.warning("write failed", {{"error", s.error().to_string()}});
        sent = send_simple_reply(fd, s.ok() ? 0 : error_value(s.error()), cookie);
        break;
      }
      case kCmdWriteZeroes:
      case kCmdTrim: {
        if (bad_flags) {
          sent = send_simple_reply(fd, kEinval, cookie);
          break;
        }
        if (!in_range) {
          sent = send_simple_reply(fd, type == kCmdTrim ? kEinval : kEnospc, cookie);
          break;
        }
        // A trim is carried out as zeroing: the blocks read back as zeros.
        Status s = length ? device_.write_zeroes(offset, length, fua) : ok_status();
        if (!s.ok()) log_.warning("write-zeroes failed", {{"error", s.error().to_string()}});
        sent = send_simple_reply(fd, s.ok() ? 0 : error_value(s.error()), cookie);
        break;
      }
      case kCmdFlush: {
        if (bad_flags || offset != 0 || length != 0) {
          sent = send_simple_reply(fd, kEinval, cookie);
          break;
        }
        Status s = device_.flush();
        if (!s.ok()) log_.warning("flush failed", {{"error", s.error().to_string()}});
        sent = send_simple_reply(fd, s.ok() ? 0 : error_value(s.error()), cookie);
        break;
      }
      case kCmdDisc:
        return;
      default:
        sent = send_simple_reply(fd, kEinval, cookie);
        break;
    }
    if (!sent.ok()) return;
  }
}

}  // namespace stowage::blockvol::nbd
