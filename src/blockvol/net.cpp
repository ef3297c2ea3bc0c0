#include "blockvol/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <vector>

namespace stowage::blockvol {
namespace {

Error errno_error(const std::string& what, const std::string& object) {
  return Error(ErrorCode::kIo, what + ": " + std::strerror(errno), object);
}

Result<sockaddr_in> resolve(const HostPort& address) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(address.port);
  std::string host = address.host == "localhost" ? "127.0.0.1" : address.host;
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
    return Error(ErrorCode::kInvalidArgument, "not an IPv4 address", address.host,
                 "give a numeric address such as 127.0.0.1");
  return sa;
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size())
    return Error(ErrorCode::kInvalidArgument, "expected HOST:PORT", std::string(text));
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535)
    return Error(ErrorCode::kInvalidArgument, "bad port", std::string(text));
  return HostPort{std::string(text.substr(0, colon)), uint16_t(port)};
}

void Socket::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Socket::shutdown() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

Result<Socket> listen_tcp(const HostPort& address, int backlog) {
  auto sa = TRY(resolve(address));
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!s.valid()) return errno_error("socket", address.to_string());
  int one = 1;
  ::setsockopt(s.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(s.fd(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    Error e = errno_error("bind", address.to_string());
    e.set_hint("is the port in use?");
    return Error(ErrorCode::kUnavailable, e.message(), e.object(), e.hint());
  }
  if (::listen(s.fd(), backlog) != 0) return errno_error("listen", address.to_string());
  return s;
}

uint16_t bound_port(const Socket& listener) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  if (::getsockname(listener.fd(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) return 0;
  return ntohs(sa.sin_port);
}

Result<Socket> accept_tcp(const Socket& listener, std::chrono::milliseconds timeout) {
  pollfd p{listener.fd(), POLLIN, 0};
  int n = ::poll(&p, 1, int(timeout.count()));
  if (n == 0 || (n < 0 && errno == EINTR)) return Error(ErrorCode::kUnavailable, "no connection yet");
  if (n < 0) return errno_error("poll", "listener");
  int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
      return Error(ErrorCode::kUnavailable, "no connection yet");
    return errno_error("accept", "listener");
  }
  Socket s(fd);
  set_nodelay(s);
  return s;
}

Result<Socket> connect_tcp(const HostPort& address, std::chrono::milliseconds timeout) {
  auto sa = TRY(resolve(address));
  Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!s.valid()) return errno_error("socket", address.to_string());
  if (::connect(s.fd(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    if (errno != EINPROGRESS) return Error(ErrorCode::kUnavailable, std::string("connect: ") + std::strerror(errno), address.to_string());
    pollfd p{s.fd(), POLLOUT, 0};
    int n = ::poll(&p, 1, int(timeout.count()));
    if (n <= 0) return Error(ErrorCode::kUnavailable, "connect timed out", address.to_string());
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return Error(ErrorCode::kUnavailable, std::string("connect: ") + std::strerror(err), address.to_string());
  }
  int flags = ::fcntl(s.fd(), F_GETFL);
  ::fcntl(s.fd(), F_SETFL, flags & ~O_NONBLOCK);
  set_nodelay(s);
  return s;
}

void set_io_timeout(const Socket& socket, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(socket.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void set_nodelay(const Socket& socket) {
  int one = 1;
  ::setsockopt(socket.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

Status read_full(int fd, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::recv(fd, out.data() + done, out.size() - done, 0);
    if (n > 0) {
      done += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 && done == 0) return Error(ErrorCode::kNotFound, "connection closed by the peer");
    if (n == 0) return Error(ErrorCode::kIo, "connection closed in the middle of a message");
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Error(ErrorCode::kUnavailable, "timed out reading");
    return Error(ErrorCode::kIo, std::string("read: ") + std::strerror(errno));
  }
  return ok_status();
}

Status write_full(int fd, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += size_t(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Error(ErrorCode::kUnavailable, "timed out writing");
    return Error(ErrorCode::kIo, std::string("write: ") + std::strerror(errno));
  }
  return ok_status();
}

Status discard(int fd, uint64_t length) {
  std::vector<uint8_t> buf(std::min<uint64_t>(length, 1 << 20));
  while (length > 0) {
    size_t n = size_t(std::min<uint64_t>(length, buf.size()));
    TRY_STATUS(read_full(fd, std::span<uint8_t>(buf.data(), n)));
    length -= n;
  }
  return ok_status();
}

}  // namespace stowage::blockvol
