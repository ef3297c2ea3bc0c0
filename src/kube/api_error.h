// Turns an API server answer that is not 2xx into a stowage Error: the
// metav1.Status it carries is parsed, and the Error names the object, the
// verb, the identity, and the fix (which RBAC rule, which field, when to retry).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kube/object_ref.h"
#include "util/result.h"

namespace stowage::kube {

// One entry of a Status's details.causes.
struct StatusCause {
  std::string reason;   // "FieldValueInvalid", "ExitCode"
  std::string message;
  std::string field;    // "metadata.name"
};

// The fields of a metav1.Status that stowage uses.
struct ApiStatus {
  std::string status;   // "Success" or "Failure"
  std::string message;
  std::string reason;   // "NotFound", "AlreadyExists", "Conflict", "Expired", "Invalid", ...
  long code = 0;
  std::vector<StatusCause> causes;
  long retry_after_seconds = 0;  // details.retryAfterSeconds
};

// Parses a metav1.Status document; nullopt when `body` is not one.
std::optional<ApiStatus> parse_api_status(std::string_view body);

// What was being done when the server answered: the RBAC verb ("get",
// "list", "watch", "create", "update", "patch", "delete", ...), the target,
// and who asked (the kubeconfig user and source) for 401/403 messages.
struct RequestContext {
  std::string verb;
  ObjectRef target;
  std::string identity;  // "user admin (kubeconfig /x, context y)"
  std::string server;    // "https://127.0.0.1:6443"
};

// The Error for HTTP `http_status` with response body `body`. Codes:
// 400/422 kInvalidArgument, 401/403 kPermissionDenied, 404 kNotFound,
// 409 kAlreadyExists or kConflict, 410 kConflict ("Gone": the resourceVersion
// expired; list again), 429/5xx kUnavailable, 405/415/501 kUnsupported.
Error api_error(long http_status, std::string_view body, const RequestContext& context, long retry_after_seconds = 0);

// True for an Error made by api_error from a 410 Gone answer.
bool is_gone(const Error& error);

}  // namespace stowage::kube
