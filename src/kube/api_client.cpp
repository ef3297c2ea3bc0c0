#include "kube/api_client.h"
#include "util/http_headers.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "util/bytes.h"
#include "util/curl.h"

namespace stowage::kube {
namespace {

using std::chrono::milliseconds;

size_t append_body(char* data, size_t size, size_t count, void* user_data) {
  static_cast<std::string*>(user_data)->append(data, size * count);
  return size * count;
}

std::string verb_of_method(const std::string& method) {
  if (method == "GET") return "get";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return method;
}

std::string trim_line_end(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}

void set_blob(CURL* curl, CURLoption option, const std::string& data) {
  struct curl_blob blob;
  blob.data = const_cast<char*>(data.data());
  blob.len = data.size();
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(curl, option, &blob);
}

// Everything both send and stream set on a handle before performing.
struct PreparedRequest {
  std::string url;
  curl_slist* headers = nullptr;
  ~PreparedRequest() { curl_slist_free_all(headers); }
};

Error after_attempts(const Error& error, int attempts) {
  return Error(error.code(), error.message() + " (after " + std::to_string(attempts) + " attempts)", error.object(),
               error.hint());
}

}  // namespace

std::string ApiResponse::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

Result<std::unique_ptr<ApiClient>> ApiClient::create(ClusterConfig config, ClientOptions options) {
  if (config.server.empty()) {
    return Error(ErrorCode::kInvalidArgument, "no API server URL in " + config.source, config.source,
                 "set the cluster's server in the kubeconfig");
  }
  if (options.max_attempts < 1) options.max_attempts = 1;
  TRY_STATUS(load_curl());
  return std::unique_ptr<ApiClient>(new ApiClient(std::move(config), std::move(options)));
}

ApiClient::ApiClient(ClusterConfig config, ClientOptions options)
    : config_(std::move(config)), options_(std::move(options)), handles_(std::make_unique<CurlHandlePool>()) {
  token_ = config_.token;
  token_read_ = std::chrono::steady_clock::now();
}

ApiClient::~ApiClient() = default;

std::string ApiClient::identity() const {
  std::string who = config_.user.empty() ? "an anonymous user" : "user " + config_.user;
  if (!config_.impersonate_user.empty()) who = config_.impersonate_user + " (impersonated by " + who + ")";
  return who + " (" + config_.source + ")";
}

RequestContext ApiClient::context_of(const ApiRequest& request) const {
  RequestContext context;
  context.verb = request.verb.empty() ? verb_of_method(request.method) : request.verb;
  context.target = request.target;
  context.identity = identity();
  context.server = config_.server;
  return context;
}

milliseconds ApiClient::backoff_delay(int retry) const {
  int64_t cap = options_.base_delay.count() << std::min(retry, 20);
  cap = std::min<int64_t>(cap, options_.max_delay.count());
  thread_local std::mt19937_64 random(std::random_device{}());
  // "Equal jitter": at least half the cap, so retries never bunch at zero.
  std::uniform_int_distribution<int64_t> jitter(cap / 2, std::max<int64_t>(cap / 2, cap));
  return milliseconds(jitter(random));
}

Result<std::vector<std::string>> ApiClient::auth_headers() {
  std::vector<std::string> headers;
  if (!config_.token_file.empty()) {
    std::lock_guard lock(token_mutex_);
    auto now = std::chrono::steady_clock::now();
    if (token_.empty() || now - token_read_ > std::chrono::minutes(1)) {
      std::ifstream in(config_.token_file);
      std::ostringstream text;
      if (in) text << in.rdbuf();
      std::string token = trim_line_end(text.str());
      if (!token.empty()) {
        token_ = token;
        token_read_ = now;
      } else if (token_.empty()) {
        return Error(ErrorCode::kPermissionDenied, "cannot read the token file " + config_.token_file,
                     config_.token_file, "check that the file exists and is readable (" + config_.source + ")");
      }
    }
    headers.push_back("Authorization: Bearer " + token_);
  } else if (!config_.token.empty()) {
    headers.push_back("Authorization: Bearer " + config_.token);
  } else if (!config_.username.empty()) {
    std::string pair = config_.username + ":" + config_.password;
    headers.push_back("Authorization: Basic " + base64_encode(as_bytes(pair)));
  }
  if (!config_.impersonate_user.empty()) {
    headers.push_back("Impersonate-User: " + config_.impersonate_user);
    for (const auto& group : config_.impersonate_groups) headers.push_back("Impersonate-Group: " + group);
  }
  return headers;
}

void ApiClient::apply_connection_options(void* curl_handle) const {
  CURL* curl = static_cast<CURL*>(curl_handle);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(options_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  if (!config_.ca_pem.empty()) {
    // Trust exactly the kubeconfig's CA, as kubectl does, not the system store.
    set_blob(curl, CURLOPT_CAINFO_BLOB, config_.ca_pem);
    curl_easy_setopt(curl, CURLOPT_CAINFO, nullptr);
    curl_easy_setopt(curl, CURLOPT_CAPATH, nullptr);
  }
  if (config_.insecure_skip_tls_verify) {
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!config_.client_cert_pem.empty()) {
    set_blob(curl, CURLOPT_SSLCERT_BLOB, config_.client_cert_pem);
    curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
    set_blob(curl, CURLOPT_SSLKEY_BLOB, config_.client_key_pem);
    curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
  }
  if (!config_.proxy_url.empty()) curl_easy_setopt(curl, CURLOPT_PROXY, config_.proxy_url.c_str());
}

Error ApiClient::connection_error(int curl_code, const std::string& detail, const ApiRequest& request) const {
  RequestContext context = context_of(request);
  std::string object = context.target.describe();
  std::string message = context.verb + " " + object + " failed: API server " + config_.server + ": " + detail;
  switch (CURLcode(curl_code)) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
      return Error(ErrorCode::kPermissionDenied, message, object,
                   "the server's TLS certificate is not signed by the certificate authority of " + config_.source +
                       "; fix certificate-authority(-data) of the cluster");
    case CURLE_SSL_CERTPROBLEM:
      return Error(ErrorCode::kPermissionDenied, message, object,
                   "the client certificate or key of " + identity() + " cannot be used; check client-certificate-data "
                   "and client-key-data");
    case CURLE_SSL_CONNECT_ERROR:
      return Error(ErrorCode::kPermissionDenied, message, object,
                   "the TLS handshake with " + config_.server + " failed; check the server URL and the certificates in " +
                       config_.source);
    case CURLE_OPERATION_TIMEDOUT:
      return Error(ErrorCode::kUnavailable, message, object,
                   "the API server did not answer in time; check its health and load, or raise the timeout");
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      return Error(ErrorCode::kInvalidArgument, message, object, "check the server URL in " + config_.source);
    default:
      return Error(ErrorCode::kUnavailable, message, object,
                   "check that the API server " + config_.server + " is running and reachable (" + config_.source + ")");
  }
}

Result<ApiResponse> ApiClient::perform(const ApiRequest& request, bool& retryable_failure) {
  retryable_failure = false;
  CurlHandlePool::Lease lease(*handles_);
  CURL* curl = lease.get();
  if (curl == nullptr) return Error(ErrorCode::kInternal, "cannot create a curl handle", config_.server);

  std::vector<std::string> header_lines = TRY(auth_headers());
  PreparedRequest prepared;
  prepared.url = config_.server + (request.path.empty() ? request.target.path() : request.path);
  if (!request.query.empty()) prepared.url += "?" + request.query;
  header_lines.push_back("Accept: " + request.accept);
  if (!request.body.empty()) header_lines.push_back("Content-Type: " + request.content_type);
  header_lines.push_back("Expect:");  // no "100 Continue" round trip
  for (const std::string& line : header_lines) prepared.headers = curl_slist_append(prepared.headers, line.c_str());

  ApiResponse response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  apply_connection_options(curl);
  curl_easy_setopt(curl, CURLOPT_URL, prepared.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, prepared.headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  milliseconds timeout = request.timeout.count() > 0 ? request.timeout : options_.request_timeout;
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // gzip if the server offers it
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, collect_http_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.headers);
  if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());  // never null: curl would read stdin
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.size()));
  }

  CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) {
    bool idempotent = request.method == "GET";
    retryable_failure = code == CURLE_COULDNT_CONNECT ||
                        (idempotent && (code == CURLE_OPERATION_TIMEDOUT || code == CURLE_RECV_ERROR ||
                                        code == CURLE_SEND_ERROR || code == CURLE_GOT_NOTHING ||
                                        code == CURLE_PARTIAL_FILE || code == CURLE_HTTP2 ||
                                        code == CURLE_HTTP2_STREAM));
    return connection_error(code, error_buffer[0] ? error_buffer : curl_easy_strerror(code), request);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<ApiResponse> ApiClient::send_once(const ApiRequest& request) {
  bool retryable = false;
  return perform(request, retryable);
}

Result<ApiResponse> ApiClient::send(const ApiRequest& request) {
  for (int attempt = 1;; attempt++) {
    bool retryable_failure = false;
    Result<ApiResponse> response = perform(request, retryable_failure);
    milliseconds delay = backoff_delay(attempt - 1);
    long retry_after = 0;
    if (response.ok()) {
      long status = response->status;
      if (status >= 200 && status < 300) return response;
      retry_after = std::atol(response->header("retry-after").c_str());
      bool retryable = status == 429 || status == 503 || status == 504 ||
                       ((status == 500 || status == 502) && request.method == "GET");
      if (!retryable || attempt >= options_.max_attempts) {
        Error error = api_error(status, response->body, context_of(request), retry_after);
        return attempt > 1 ? after_attempts(error, attempt) : error;
      }
      if (retry_after > 0) delay = std::max(delay, milliseconds(std::min<long>(retry_after, 30) * 1000));
    } else if (!retryable_failure || attempt >= options_.max_attempts) {
      Error error = std::move(response).error();
      return attempt > 1 ? after_attempts(error, attempt) : error;
    }
    if (options_.sleep) {
      options_.sleep(delay);
    } else {
      std::this_thread::sleep_for(delay);
    }
  }
}

Result<nlohmann::json> ApiClient::send_json(const ApiRequest& request) {
  ApiResponse response = TRY(send(request));
  nlohmann::json document = nlohmann::json::parse(response.body, nullptr, false);
  if (document.is_discarded()) {
    RequestContext context = context_of(request);
    return Error(ErrorCode::kCorrupt,
                 "the answer to " + context.verb + " " + context.target.describe() + " is not JSON (" +
                     std::to_string(response.body.size()) + " bytes)",
                 context.target.describe(), "is " + config_.server + " a Kubernetes API server?");
  }
  return document;
}

namespace {

// State of one streamed response, shared with curl's callbacks.
struct StreamState {
  CURL* curl = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  std::stop_token stop;
  long status = 0;
  std::string error_body;  // the body of a non-2xx answer
  bool stopped_by_consumer = false;
};

size_t stream_body(char* data, size_t size, size_t count, void* user_data) {
  auto* state = static_cast<StreamState*>(user_data);
  if (state->status == 0) curl_easy_getinfo(state->curl, CURLINFO_RESPONSE_CODE, &state->status);
  if (state->status < 200 || state->status >= 300) {
    if (state->error_body.size() < 64 * 1024) state->error_body.append(data, size * count);
    return size * count;
  }
  if (!(*state->on_data)(std::string_view(data, size * count))) {
    state->stopped_by_consumer = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  return size * count;
}

// curl calls this about once a second even when no data flows.
int stream_progress(void* user_data, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<StreamState*>(user_data)->stop.stop_requested() ? 1 : 0;
}

}  // namespace

Result<long> ApiClient::stream(const ApiRequest& request, const std::function<bool(std::string_view)>& on_data,
                               std::stop_token stop) {
  CurlHandlePool::Lease lease(*handles_);
  CURL* curl = lease.get();
  if (curl == nullptr) return Error(ErrorCode::kInternal, "cannot create a curl handle", config_.server);
  std::vector<std::string> header_lines = TRY(auth_headers());
  PreparedRequest prepared;
  prepared.url = config_.server + (request.path.empty() ? request.target.path() : request.path);
  if (!request.query.empty()) prepared.url += "?" + request.query;
  header_lines.push_back("Accept: " + request.accept);
  for (const std::string& line : header_lines) prepared.headers = curl_slist_append(prepared.headers, line.c_str());

  StreamState state;
  state.curl = curl;
  state.on_data = &on_data;
  state.stop = stop;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  apply_connection_options(curl);
  curl_easy_setopt(curl, CURLOPT_URL, prepared.url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, prepared.headers);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  if (request.timeout.count() > 0) curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(request.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, stream_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &state);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, stream_progress);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &state);

  CURLcode code = curl_easy_perform(curl);
  if (state.status == 0) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &state.status);
  RequestContext context = context_of(request);
  if (code == CURLE_ABORTED_BY_CALLBACK || state.stopped_by_consumer || stop.stop_requested()) {
    return Error(ErrorCode::kCancelled, context.verb + " " + context.target.describe() + " was stopped",
                 context.target.describe());
  }
  if (state.status != 0 && (state.status < 200 || state.status >= 300)) {
    return api_error(state.status, state.error_body, context);
  }
  if (code != CURLE_OK) return connection_error(code, error_buffer[0] ? error_buffer : curl_easy_strerror(code), request);
  return state.status;
}

}  // namespace stowage::kube
