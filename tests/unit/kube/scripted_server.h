// ScriptedServer: an HTTP server on loopback that answers each connection with
// the next scripted response and records what was asked (request line,
// headers, body) — for answers and requests a real apiserver cannot be made
// to give or show on demand. Shared by the kube unit tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stowage::kube {

// One request as received.
struct ScriptedRequest {
  std::string line;  // "PATCH /apis/... HTTP/1.1"
  std::string head;  // the request line and headers, as sent
  std::string body;
};

// Answers each connection with the next scripted response, then closes it.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::deque<std::string> responses) : responses_(std::move(responses)) {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    listen(listener_, 16);
    thread_ = std::thread([this] { serve(); });
  }
  ~ScriptedServer() {
    shutdown(listener_, SHUT_RDWR);
    close(listener_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> request_lines() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> lines;
    for (const ScriptedRequest& request : requests_) lines.push_back(request.line);
    return lines;
  }
  std::vector<ScriptedRequest> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    while (true) {
      int connection = accept(listener_, nullptr, nullptr);
      if (connection < 0) return;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = read(connection, buffer, sizeof buffer);
        if (n <= 0) break;
        request.append(buffer, size_t(n));
      }
      ScriptedRequest received;
      size_t head_end = request.find("\r\n\r\n");
      received.head = request.substr(0, head_end);
      received.line = request.substr(0, request.find("\r\n"));
      if (head_end != std::string::npos) {
        received.body = request.substr(head_end + 4);
        size_t length = content_length(received.head);
        while (received.body.size() < length) {
          ssize_t n = read(connection, buffer, sizeof buffer);
          if (n <= 0) break;
          received.body.append(buffer, size_t(n));
        }
      }
      std::string response;
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(received);
        if (!responses_.empty()) {
          response = responses_.front();
          responses_.pop_front();
        }
      }
      if (response == "HOLD") {  // keep the connection open, silent, until the client leaves
        while (read(connection, buffer, sizeof buffer) > 0) {
        }
      } else {
        (void)!write(connection, response.data(), response.size());
      }
      close(connection);
    }
  }

  static size_t content_length(const std::string& head) {
    for (const char* name : {"\r\nContent-Length:", "\r\ncontent-length:"}) {
      size_t at = head.find(name);
      if (at != std::string::npos) return std::strtoul(head.c_str() + at + std::string(name).size(), nullptr, 10);
    }
    return 0;
  }

  int listener_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::deque<std::string> responses_;
  std::vector<ScriptedRequest> requests_;
};

// A complete HTTP response with a JSON body.
inline std::string answer(int status, const std::string& reason, const std::string& body,
                          const std::string& extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra_headers + "\r\n" + body;
}

// A metav1.Status body of a failure.
inline std::string status_json(int code, const std::string& reason) {
  return R"({"kind":"Status","apiVersion":"v1","status":"Failure","message":"scripted )" + reason +
         R"(","reason":")" + reason + R"(","code":)" + std::to_string(code) + "}";
}

}  // namespace stowage::kube
