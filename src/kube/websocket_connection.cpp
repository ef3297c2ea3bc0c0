#include "kube/websocket_connection.h"

#include <curl/curl.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <map>

#include "util/curl.h"

namespace stowage::kube {
namespace {

using Clock = WebSocketConnection::Clock;

int millis_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return int(std::clamp<int64_t>(left, 0, 1000));
}

// Waits until the socket is ready for `events` or a second (or the deadline) passes.
void wait_socket(CURL* curl, short events, Clock::time_point deadline) {
  curl_socket_t socket = CURL_SOCKET_BAD;
  curl_easy_getinfo(curl, CURLINFO_ACTIVESOCKET, &socket);
  if (socket == CURL_SOCKET_BAD) return;
  pollfd entry{socket, events, 0};
  ::poll(&entry, 1, millis_until(deadline));
}

// Reads what the connection has: data, "" at the end of the stream, nullopt
// when the deadline passes first.
Result<std::optional<std::string>> receive_chunk(CURL* curl, Clock::time_point deadline, const std::string& target) {
  char buffer[16384];
  while (true) {
    size_t received = 0;
    CURLcode code = curl_easy_recv(curl, buffer, sizeof buffer, &received);
    if (code == CURLE_OK) return std::optional<std::string>(std::string(buffer, received));
    if (code != CURLE_AGAIN) {
      return Error(ErrorCode::kUnavailable, "reading the WebSocket of " + target + " failed: " + curl_easy_strerror(code),
                   target, "the connection to the API server broke; retry");
    }
    if (Clock::now() >= deadline) return std::optional<std::string>();
    wait_socket(curl, POLLIN, deadline);
  }
}

std::string lower(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t");
  size_t end = text.find_last_not_of(" \t\r");
  return begin == std::string::npos ? "" : text.substr(begin, end - begin + 1);
}

// "https://host:port/prefix" -> host:port and /prefix.
void split_server(const std::string& server, std::string& host, std::string& prefix) {
  size_t start = server.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t slash = server.find('/', start);
  host = server.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
  prefix = slash == std::string::npos ? "" : server.substr(slash);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
}

}  // namespace

WebSocketConnection::WebSocketConnection(void* curl, std::string target) : curl_(curl), target_(std::move(target)) {}

WebSocketConnection::~WebSocketConnection() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Result<std::unique_ptr<WebSocketConnection>> WebSocketConnection::open(ApiClient& client, const ApiRequest& request,
                                                                       const std::vector<std::string>& protocols,
                                                                       Clock::time_point deadline) {
  const std::string target = request.target.describe();
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Error(ErrorCode::kInternal, "cannot create a curl handle", target);
  std::unique_ptr<WebSocketConnection> connection(new WebSocketConnection(curl, target));

  std::string host, prefix;
  split_server(client.config().server, host, prefix);
  const std::string path = prefix + request.path + (request.query.empty() ? "" : "?" + request.query);
  const std::string url = client.config().server + request.path;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  client.apply_connection_options(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, long(CURL_HTTP_VERSION_1_1));  // ALPN: no HTTP/2, Upgrade needs 1.1
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  auto connect_budget = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  connect_budget = std::clamp(connect_budget, std::chrono::milliseconds(1), client.options().connect_timeout);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(connect_budget.count()));
  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    return client.connection_error(code, error_buffer[0] ? error_buffer : curl_easy_strerror(code), request);
  }

  const std::string key = websocket_key();
  std::string offered;
  for (const std::string& protocol : protocols) offered += (offered.empty() ? "" : ", ") + protocol;
  std::string upgrade = "GET " + path + " HTTP/1.1\r\nHost: " + host +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Protocol: " + offered +
                        "\r\nUser-Agent: " + client.options().user_agent + "\r\n";
  for (const std::string& header : TRY(client.auth_headers())) upgrade += header + "\r\n";
  upgrade += "\r\n";
  TRY_STATUS(connection->send_raw(upgrade, deadline));

  // The answer's head; bytes after it are already WebSocket frames.
  std::string head;
  size_t head_end = std::string::npos;
  while ((head_end = head.find("\r\n\r\n")) == std::string::npos) {
    std::optional<std::string> chunk = TRY(receive_chunk(curl, deadline, target));
    if (!chunk) {
      return Error(ErrorCode::kUnavailable, "the API server did not answer the WebSocket upgrade for " + target + " in time",
                   target, "check the API server's health and load");
    }
    if (chunk->empty()) {
      return Error(ErrorCode::kUnavailable, "the API server closed the connection during the WebSocket upgrade for " + target,
                   target, "check the API server's log");
    }
    head += *chunk;
    if (head.size() > (1u << 20)) return Error(ErrorCode::kCorrupt, "the upgrade answer's headers exceed 1 MiB", target);
  }
  std::string rest = head.substr(head_end + 4);
  head.resize(head_end);

  std::map<std::string, std::string> headers;
  size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  for (size_t start = line_end; start != std::string::npos && start < head.size();) {
    start += 2;
    size_t end = head.find("\r\n", start);
    std::string line = head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t colon = line.find(':');
    if (colon != std::string::npos) headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    start = end;
  }
  long status = 0;
  if (size_t space = status_line.find(' '); space != std::string::npos) status = std::atol(status_line.c_str() + space + 1);
  if (status != 101) {
    // An ordinary answer (403, 404, 400...): read its body for the Status.
    size_t length = headers.count("content-length") ? size_t(std::atol(headers["content-length"].c_str())) : 1u << 16;
    auto body_deadline = std::min(deadline, Clock::now() + std::chrono::seconds(2));
    while (rest.size() < length) {
      Result<std::optional<std::string>> chunk = receive_chunk(curl, body_deadline, target);
      if (!chunk.ok() || !*chunk || (*chunk)->empty()) break;
      rest += **chunk;
    }
    // A chunked body: the Status document is the JSON object inside.
    size_t open_brace = rest.find('{'), close_brace = rest.rfind('}');
    if (open_brace != std::string::npos && close_brace != std::string::npos && close_brace > open_brace) {
      rest = rest.substr(open_brace, close_brace - open_brace + 1);
    }
    return api_error(status, rest, client.context_of(request));
  }
  if (lower(headers["upgrade"]) != "websocket" || headers["sec-websocket-accept"] != websocket_accept(key)) {
    return Error(ErrorCode::kCorrupt, "the API server's WebSocket upgrade answer for " + target + " is not valid",
                 target, "a proxy between stowage and the API server may not support WebSockets");
  }
  connection->protocol_ = headers["sec-websocket-protocol"];
  if (std::find(protocols.begin(), protocols.end(), connection->protocol_) == protocols.end()) {
    return Error(ErrorCode::kUnsupported,
                 "the API server chose WebSocket protocol \"" + connection->protocol_ + "\" for " + target +
                     ", not one of " + offered,
                 target, "the API server is too old for WebSocket exec (Kubernetes 1.29 or later needed)");
  }
  connection->decoder_.append(rest);
  return connection;
}

Status WebSocketConnection::send_raw(std::string_view bytes, Clock::time_point deadline) {
  CURL* curl = static_cast<CURL*>(curl_);
  while (!bytes.empty()) {
    size_t sent = 0;
    CURLcode code = curl_easy_send(curl, bytes.data(), bytes.size(), &sent);
    if (code == CURLE_OK) {
      bytes.remove_prefix(sent);
      continue;
    }
    if (code != CURLE_AGAIN) {
      return Error(ErrorCode::kUnavailable, "writing to the WebSocket of " + target_ + " failed: " + curl_easy_strerror(code),
                   target_, "the connection to the API server broke; retry");
    }
    if (Clock::now() >= deadline) {
      return Error(ErrorCode::kUnavailable, "writing to the WebSocket of " + target_ + " timed out", target_,
                   "the API server does not read; check its health");
    }
    wait_socket(curl, POLLOUT, deadline);
  }
  return ok_status();
}

Status WebSocketConnection::send(WebSocketOpcode opcode, std::string_view payload, Clock::time_point deadline) {
  return send_raw(encode_client_frame(opcode, payload), deadline);
}

Result<std::optional<WebSocketFrame>> WebSocketConnection::receive(Clock::time_point deadline) {
  while (true) {
    std::optional<WebSocketFrame> frame = TRY(decoder_.next());
    if (frame) {
      std::optional<WebSocketFrame> message = TRY(assembler_.add(std::move(*frame)));
      if (!message) continue;
      if (message->opcode == WebSocketOpcode::kPing) {
        TRY_STATUS(send(WebSocketOpcode::kPong, message->payload, deadline));
        continue;
      }
      if (message->opcode == WebSocketOpcode::kPong) continue;
      if (message->opcode == WebSocketOpcode::kClose && !closed_) {
        // Echo the close, as RFC 6455 asks; the server then ends the connection.
        std::string code = message->payload.substr(0, 2);
        (void)send_raw(encode_client_frame(WebSocketOpcode::kClose, code), Clock::now() + std::chrono::seconds(1));
        closed_ = true;
      }
      return message;
    }
    if (peer_gone_) return std::optional<WebSocketFrame>(WebSocketFrame{true, WebSocketOpcode::kClose, close_payload(1006)});
    std::optional<std::string> chunk = TRY(receive_chunk(static_cast<CURL*>(curl_), deadline, target_));
    if (!chunk) return std::optional<WebSocketFrame>();
    if (chunk->empty()) {
      peer_gone_ = true;
      continue;
    }
    decoder_.append(*chunk);
  }
}

void WebSocketConnection::close(uint16_t code, std::string_view reason) {
  if (closed_ || peer_gone_) return;
  closed_ = true;
  (void)send_raw(encode_client_frame(WebSocketOpcode::kClose, close_payload(code, reason)),
                 Clock::now() + std::chrono::seconds(1));
}

}  // namespace stowage::kube
