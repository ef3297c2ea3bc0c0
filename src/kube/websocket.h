// The WebSocket protocol (RFC 6455) as pure functions: the opening handshake's
// key and accept values, and frames — encoding (clients mask every frame),
// incremental decoding, and reassembly of fragmented messages with control
// frames (ping, pong, close) passed through between fragments.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.h"

namespace stowage::kube {

enum class WebSocketOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

struct WebSocketFrame {
  bool fin = true;
  WebSocketOpcode opcode = WebSocketOpcode::kBinary;
  std::string payload;  // unmasked
};

// A random Sec-WebSocket-Key: base64 of 16 random bytes.
std::string websocket_key();
// The Sec-WebSocket-Accept a server must answer for `key`:
// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string websocket_accept(std::string_view key);

// Encodes a frame; with a mask key the payload is masked (client to server).
std::string encode_websocket_frame(const WebSocketFrame& frame, const std::array<uint8_t, 4>* mask_key);
// A client frame masked with a fresh random key.
std::string encode_client_frame(WebSocketOpcode opcode, std::string_view payload, bool fin = true);
// The payload of a close frame: the status code, big-endian, then the reason.
std::string close_payload(uint16_t code, std::string_view reason = {});

// Cuts frames out of a byte stream that arrives in arbitrary pieces.
class WebSocketFrameDecoder {
 public:
  explicit WebSocketFrameDecoder(size_t max_payload = 64u << 20) : max_payload_(max_payload) {}
  void append(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete frame (unmasked), nullopt when more bytes are needed;
  // kCorrupt on a protocol violation (reserved bits, unknown opcode, a
  // fragmented or over-long control frame, a payload over max_payload).
  Result<std::optional<WebSocketFrame>> next();

 private:
  std::string buffer_;
  size_t max_payload_;
};

// Reassembles fragmented messages: data frames are held until the final
// fragment; control frames come out at once, even between fragments.
class WebSocketMessageAssembler {
 public:
  explicit WebSocketMessageAssembler(size_t max_message = 64u << 20) : max_message_(max_message) {}
  // A complete message (text or binary, fin set) or control frame, or
  // nullopt while a fragmented message is incomplete.
  Result<std::optional<WebSocketFrame>> add(WebSocketFrame frame);

 private:
  std::optional<WebSocketFrame> partial_;
  size_t max_message_;
};

}  // namespace stowage::kube
