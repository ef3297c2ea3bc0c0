// WebSocketConnection: a client WebSocket to the API server over a raw libcurl
// connection (CURLOPT_CONNECT_ONLY, curl_easy_send/recv). TLS is set up and
// verified exactly as for every other request of the ApiClient; the HTTP/1.1
// Upgrade carries the same credentials. Answers pings; one thread at a time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kube/api_client.h"
#include "kube/websocket.h"
#include "util/result.h"

namespace stowage::kube {

class WebSocketConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects to request.path?request.query, offers `protocols`
  // (Sec-WebSocket-Protocol) and checks the 101 answer: Sec-WebSocket-Accept
  // and the chosen protocol. A non-101 answer becomes an api_error naming
  // request.target. kUnavailable when `deadline` passes first.
  static Result<std::unique_ptr<WebSocketConnection>> open(ApiClient& client, const ApiRequest& request,
                                                           const std::vector<std::string>& protocols,
                                                           Clock::time_point deadline);
  ~WebSocketConnection();
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // The subprotocol the server chose.
  const std::string& protocol() const { return protocol_; }

  Status send(WebSocketOpcode opcode, std::string_view payload, Clock::time_point deadline);
  // The next message (text, binary or close; pings are answered, pongs
  // dropped); nullopt when `deadline` passes first. A connection that ends
  // without a close frame yields a close frame with code 1006.
  Result<std::optional<WebSocketFrame>> receive(Clock::time_point deadline);
  // Sends a close frame (best effort, at most 1 s) and drops the connection.
  void close(uint16_t code, std::string_view reason = {});

 private:
  WebSocketConnection(void* curl, std::string target);
  Status send_raw(std::string_view bytes, Clock::time_point deadline);

  void* curl_;
  std::string target_;  // for messages
  std::string protocol_;
  WebSocketFrameDecoder decoder_;
  WebSocketMessageAssembler assembler_;
  bool closed_ = false;
  bool peer_gone_ = false;
};

}  // namespace stowage::kube
