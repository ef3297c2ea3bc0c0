#include "kube/websocket.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>

#include "util/bytes.h"

namespace stowage::kube {
namespace {

Error protocol_error(const std::string& what) {
  return Error(ErrorCode::kCorrupt, "WebSocket protocol violation: " + what, "WebSocket stream",
               "the API server (or a proxy in between) sent a malformed frame");
}

bool known_opcode(uint8_t opcode) {
  return opcode <= 0x2 || (opcode >= 0x8 && opcode <= 0xA);
}

}  // namespace

std::string websocket_key() {
  uint8_t nonce[16];
  if (RAND_bytes(nonce, sizeof nonce) != 1) {
    for (uint8_t& byte : nonce) byte = uint8_t(std::rand());  // never expected: OpenSSL's RNG failed
  }
  return base64_encode(ByteView(nonce, sizeof nonce));
}

std::string websocket_accept(std::string_view key) {
  std::string text = std::string(key) + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha1(), nullptr);
  return base64_encode(ByteView(digest, length));
}

std::string encode_websocket_frame(const WebSocketFrame& frame, const std::array<uint8_t, 4>* mask_key) {
  std::string out;
  const uint64_t size = frame.payload.size();
  out.push_back(char((frame.fin ? 0x80 : 0x00) | uint8_t(frame.opcode)));
  const uint8_t mask_bit = mask_key ? 0x80 : 0x00;
  if (size < 126) {
    out.push_back(char(mask_bit | uint8_t(size)));
  } else if (size <= 0xFFFF) {
    out.push_back(char(mask_bit | 126));
    out.push_back(char(size >> 8));
    out.push_back(char(size & 0xFF));
  } else {
    out.push_back(char(mask_bit | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(char((size >> shift) & 0xFF));
  }
  if (mask_key == nullptr) return out + frame.payload;
  out.append(reinterpret_cast<const char*>(mask_key->data()), 4);
  size_t start = out.size();
  out += frame.payload;
  for (size_t i = 0; i < size; i++) out[start + i] = char(uint8_t(out[start + i]) ^ (*mask_key)[i % 4]);
  return out;
}

std::string encode_client_frame(WebSocketOpcode opcode, std::string_view payload, bool fin) {
  std::array<uint8_t, 4> mask{};
  if (RAND_bytes(mask.data(), int(mask.size())) != 1) mask = {0x37, 0xfa, 0x21, 0x3d};
  WebSocketFrame frame{fin, opcode, std::string(payload)};
  return encode_websocket_frame(frame, &mask);
}

std::string close_payload(uint16_t code, std::string_view reason) {
  std::string payload;
  payload.push_back(char(code >> 8));
  payload.push_back(char(code & 0xFF));
  payload += reason.substr(0, 123);  // a control frame's payload is at most 125 bytes
  return payload;
}

Result<std::optional<WebSocketFrame>> WebSocketFrameDecoder::next() {
  const auto* bytes = reinterpret_cast<const uint8_t*>(buffer_.data());
  if (buffer_.size() < 2) return std::optional<WebSocketFrame>();
  const uint8_t first = bytes[0], second = bytes[1];
  if (first & 0x70) return protocol_error("reserved bits set without a negotiated extension");
  const uint8_t opcode = first & 0x0F;
  if (!known_opcode(opcode)) return protocol_error("unknown opcode " + std::to_string(opcode));
  const bool fin = first & 0x80;
  const bool masked = second & 0x80;
  uint64_t length = second & 0x7F;
  size_t header = 2;
  if (length == 126) {
    if (buffer_.size() < 4) return std::optional<WebSocketFrame>();
    length = (uint64_t(bytes[2]) << 8) | bytes[3];
    header = 4;
  } else if (length == 127) {
    if (buffer_.size() < 10) return std::optional<WebSocketFrame>();
    length = 0;
    for (int i = 0; i < 8; i++) length = (length << 8) | bytes[2 + i];
    if (length >> 63) return protocol_error("64-bit length with the top bit set");
    header = 10;
  }
  if (opcode >= 0x8 && (!fin || length > 125)) return protocol_error("fragmented or longer than 125 bytes control frame");
  if (length > max_payload_) {
    return protocol_error("a frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                          std::to_string(max_payload_));
  }
  const size_t mask_offset = header;
  if (masked) header += 4;
  if (buffer_.size() < header + length) return std::optional<WebSocketFrame>();
  WebSocketFrame frame;
  frame.fin = fin;
  frame.opcode = WebSocketOpcode(opcode);
  frame.payload = buffer_.substr(header, size_t(length));
  if (masked) {  // servers do not mask, but unmasking costs nothing
    for (size_t i = 0; i < frame.payload.size(); i++) {
      frame.payload[i] = char(uint8_t(frame.payload[i]) ^ bytes[mask_offset + i % 4]);
    }
  }
  buffer_.erase(0, header + size_t(length));
  return std::optional<WebSocketFrame>(std::move(frame));
}

Result<std::optional<WebSocketFrame>> WebSocketMessageAssembler::add(WebSocketFrame frame) {
  if (uint8_t(frame.opcode) >= 0x8) return std::optional<WebSocketFrame>(std::move(frame));
  if (frame.opcode == WebSocketOpcode::kContinuation) {
    if (!partial_) return protocol_error("a continuation frame without a message to continue");
    if (partial_->payload.size() + frame.payload.size() > max_message_) {
      return protocol_error("a fragmented message exceeds the limit of " + std::to_string(max_message_) + " bytes");
    }
    partial_->payload += frame.payload;
    if (!frame.fin) return std::optional<WebSocketFrame>();
    WebSocketFrame message = std::move(*partial_);
    partial_.reset();
    message.fin = true;
    return std::optional<WebSocketFrame>(std::move(message));
  }
  if (partial_) return protocol_error("a new message began before the fragmented one ended");
  if (frame.fin) return std::optional<WebSocketFrame>(std::move(frame));
  partial_ = std::move(frame);
  return std::optional<WebSocketFrame>();
}

}  // namespace stowage::kube
