// WebSocket frames: the handshake values of RFC 6455, encoding with masking
// and the three length forms, incremental decoding, fragmentation with
// interleaved control frames, and protocol violations.
#include <gtest/gtest.h>

#include "kube/websocket.h"

namespace stowage::kube {
namespace {

TEST(WebSocket, HandshakeAcceptOfRfc6455Example) {
  EXPECT_EQ(websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  std::string key = websocket_key();
  EXPECT_EQ(key.size(), 24u);  // base64 of 16 bytes
  EXPECT_NE(key, websocket_key());
}

TEST(WebSocket, EncodeMaskedMatchesRfcExample) {
  // RFC 6455 5.7: a masked "Hello" with key 37 fa 21 3d.
  std::array<uint8_t, 4> mask{0x37, 0xfa, 0x21, 0x3d};
  std::string frame = encode_websocket_frame(WebSocketFrame{true, WebSocketOpcode::kText, "Hello"}, &mask);
  const std::string expected("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  EXPECT_EQ(frame, expected);
  std::string unmasked = encode_websocket_frame(WebSocketFrame{true, WebSocketOpcode::kText, "Hello"}, nullptr);
  EXPECT_EQ(unmasked, std::string("\x81\x05Hello", 7));
}

TEST(WebSocket, LengthFormsRoundTrip) {
  for (size_t size : {size_t(0), size_t(125), size_t(126), size_t(65535), size_t(65536), size_t(200000)}) {
    std::string payload(size, 'x');
    for (size_t i = 0; i < size; i++) payload[i] = char(i * 7);
    std::string bytes = encode_client_frame(WebSocketOpcode::kBinary, payload);
    size_t header = size < 126 ? 2 : size <= 65535 ? 4 : 10;
    EXPECT_EQ(bytes.size(), header + 4 + size) << size;
    EXPECT_TRUE(uint8_t(bytes[1]) & 0x80) << "client frames are masked";
    WebSocketFrameDecoder decoder;
    decoder.append(bytes);
    auto frame = decoder.next();
    ASSERT_TRUE(frame.ok());
    ASSERT_TRUE(frame->has_value()) << size;
    EXPECT_EQ((*frame)->payload, payload);
    EXPECT_EQ((*frame)->opcode, WebSocketOpcode::kBinary);
    EXPECT_TRUE((*frame)->fin);
  }
}

TEST(WebSocket, DecodesByteByByte) {
  std::string stream = encode_websocket_frame(WebSocketFrame{true, WebSocketOpcode::kBinary, "\x01out\n"}, nullptr) +
                       encode_websocket_frame(WebSocketFrame{true, WebSocketOpcode::kBinary, "\x02err\n"}, nullptr);
  WebSocketFrameDecoder decoder;
  std::vector<std::string> payloads;
  for (char byte : stream) {
    decoder.append(std::string_view(&byte, 1));
    while (true) {
      auto frame = decoder.next();
      ASSERT_TRUE(frame.ok());
      if (!frame->has_value()) break;
      payloads.push_back((*frame)->payload);
    }
  }
  EXPECT_EQ(payloads, (std::vector<std::string>{"\x01out\n", "\x02err\n"}));
}

TEST(WebSocket, FragmentedMessageWithPingInBetween) {
  WebSocketMessageAssembler assembler;
  auto first = assembler.add(WebSocketFrame{false, WebSocketOpcode::kBinary, "\x01hel"});
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->has_value());
  auto ping = assembler.add(WebSocketFrame{true, WebSocketOpcode::kPing, "p"});
  ASSERT_TRUE(ping.ok());
  ASSERT_TRUE(ping->has_value());
  EXPECT_EQ((*ping)->opcode, WebSocketOpcode::kPing);
  auto middle = assembler.add(WebSocketFrame{false, WebSocketOpcode::kContinuation, "lo "});
  ASSERT_TRUE(middle.ok());
  EXPECT_FALSE(middle->has_value());
  auto last = assembler.add(WebSocketFrame{true, WebSocketOpcode::kContinuation, "world"});
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(last->has_value());
  EXPECT_EQ((*last)->opcode, WebSocketOpcode::kBinary);
  EXPECT_EQ((*last)->payload, "\x01hello world");
}

TEST(WebSocket, ProtocolViolations) {
  auto decode = [](const std::string& bytes) {
    WebSocketFrameDecoder decoder(1000);
    decoder.append(bytes);
    return decoder.next();
  };
  EXPECT_FALSE(decode(std::string("\xC1\x00", 2)).ok());  // RSV1 without an extension
  EXPECT_FALSE(decode(std::string("\x83\x00", 2)).ok());  // opcode 3 is reserved
  EXPECT_FALSE(decode(std::string("\x09\x00", 2)).ok());  // fragmented ping
  EXPECT_FALSE(decode(std::string("\x89\x7e\x00\x7e", 4)).ok());  // a 126-byte ping
  EXPECT_FALSE(decode(std::string("\x82\x7e\x04\x00", 4)).ok());  // 1024 bytes over the limit of 1000
  auto partial = decode(std::string("\x82\x7e\x00", 3));
  ASSERT_TRUE(partial.ok());
  EXPECT_FALSE(partial->has_value());  // needs more bytes

  WebSocketMessageAssembler assembler;
  EXPECT_FALSE(assembler.add(WebSocketFrame{true, WebSocketOpcode::kContinuation, "x"}).ok());
  ASSERT_TRUE(assembler.add(WebSocketFrame{false, WebSocketOpcode::kText, "a"}).ok());
  EXPECT_FALSE(assembler.add(WebSocketFrame{true, WebSocketOpcode::kText, "b"}).ok());
}

TEST(WebSocket, ClosePayload) {
  EXPECT_EQ(close_payload(1000, "bye"), std::string("\x03\xe8" "bye", 5));
  EXPECT_EQ(close_payload(1006).size(), 2u);
  EXPECT_EQ(close_payload(1000, std::string(300, 'x')).size(), 125u);
}

}  // namespace
}  // namespace stowage::kube
