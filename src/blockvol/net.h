// Small TCP helpers for the block volume: listening and connecting on
// host:port, reading and writing whole buffers, and big-endian field
// encoding shared by the NBD and the replication protocols.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "util/result.h"

namespace stowage::blockvol {

struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
};

// "127.0.0.1:10809" → {host, port}; kInvalidArgument otherwise.
Result<HostPort> parse_host_port(std::string_view text);

// A socket descriptor that closes itself.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() { close(); }
  Socket(Socket&& other) noexcept : fd_(other.release()) {}
  Socket& operator=(Socket&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = other.release();
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void close();
  // Ends both directions (wakes a thread blocked in read) without closing.
  void shutdown();

 private:
  int fd_ = -1;
};

// Binds and listens (SO_REUSEADDR); port 0 picks a free port (bound_port tells).
Result<Socket> listen_tcp(const HostPort& address, int backlog = 64);
uint16_t bound_port(const Socket& listener);
// Waits up to `timeout` for a connection; kUnavailable on timeout (so the
// caller can check whether it should stop), kIo on a real failure.
Result<Socket> accept_tcp(const Socket& listener, std::chrono::milliseconds timeout);
// Connects within `timeout`; sets TCP_NODELAY.
Result<Socket> connect_tcp(const HostPort& address, std::chrono::milliseconds timeout);
// Every later send/receive on the socket fails after `timeout` (0: never).
void set_io_timeout(const Socket& socket, std::chrono::milliseconds timeout);
void set_nodelay(const Socket& socket);

// Reads exactly out.size() bytes. kNotFound when the peer closed before the
// first byte (a clean end), kIo on a short read, error or timeout.
Status read_full(int fd, std::span<uint8_t> out);
Status write_full(int fd, std::span<const uint8_t> data);
// Reads and drops `length` bytes.
Status discard(int fd, uint64_t length);

// Big-endian (network order) fields.
inline void put_u16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void put_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (24 - 8 * i));
}
inline void put_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (56 - 8 * i));
}
inline uint16_t get_u16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t get_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
inline uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace stowage::blockvol
