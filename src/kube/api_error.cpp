#include "kube/api_error.h"

#include <nlohmann/json.hpp>

namespace stowage::kube {
namespace {

const char* kGoneMarker = "(HTTP 410 Gone";

std::string json_string(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// The start of a non-Status body, printable characters only.
std::string quote_body(std::string_view body) {
  std::string text;
  for (unsigned char c : body.substr(0, 200)) text.push_back(c >= 0x20 && c < 0x7f ? char(c) : ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

std::string rbac_rule(const RequestContext& context) {
  const ObjectRef& target = context.target;
  std::string resource = target.resource + (target.subresource.empty() ? "" : "/" + target.subresource);
  std::string rule = "apiGroups: [\"" + target.group + "\"], resources: [\"" + resource + "\"], verbs: [\"" +
                     context.verb + "\"]";
  if (target.namespace_.empty()) return "a ClusterRole with the rule " + rule + " bound by a ClusterRoleBinding";
  return "a Role in namespace " + target.namespace_ + " (or a ClusterRole) with the rule " + rule +
         " bound by a RoleBinding in that namespace";
}

}  // namespace

std::optional<ApiStatus> parse_api_status(std::string_view body) {
  nlohmann::json document = nlohmann::json::parse(body, nullptr, false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  // Exec's error channel sends a Status without kind and apiVersion.
  const std::string kind = json_string(document, "kind");
  if (kind != "Status" && !(kind.empty() && document.contains("status") && document["status"].is_string())) {
    return std::nullopt;
  }
  ApiStatus status;
  status.status = json_string(document, "status");
  status.message = json_string(document, "message");
  status.reason = json_string(document, "reason");
  if (auto code = document.find("code"); code != document.end() && code->is_number_integer()) {
    status.code = code->get<long>();
  }
  auto details = document.find("details");
  if (details != document.end() && details->is_object()) {
    if (auto retry = details->find("retryAfterSeconds"); retry != details->end() && retry->is_number_integer()) {
      status.retry_after_seconds = retry->get<long>();
    }
    auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array()) {
      for (const auto& cause : *causes) {
        if (!cause.is_object()) continue;
        status.causes.push_back(
            StatusCause{json_string(cause, "reason"), json_string(cause, "message"), json_string(cause, "field")});
      }
    }
  }
  return status;
}

Error api_error(long http_status, std::string_view body, const RequestContext& context, long retry_after_seconds) {
  std::optional<ApiStatus> status = parse_api_status(body);
  std::string reason = status ? status->reason : "";
  std::string detail = status ? status->message : quote_body(body);
  const ObjectRef& target = context.target;
  const std::string object = target.describe();

  std::string message = context.verb + " " + object + " failed";
  if (!detail.empty()) message += ": " + detail;
  message += " (HTTP " + std::to_string(http_status);
  if (http_status == 410) {
    message += " Gone";
    if (!reason.empty() && reason != "Gone") message += ", " + reason;
  } else if (!reason.empty()) {
    message += " " + reason;
  }
  message += ")";
  if (status && !status->causes.empty() && (http_status == 422 || http_status == 400)) {
    message += "; causes:";
    for (const StatusCause& cause : status->causes) {
      message += " [" + (cause.field.empty() ? std::string() : cause.field + ": ") + cause.message + "]";
    }
  }
  if (retry_after_seconds == 0 && status) retry_after_seconds = status->retry_after_seconds;

  switch (http_status) {
    case 400:
      return Error(ErrorCode::kInvalidArgument, message, object, "the request was malformed; check the object's fields");
    case 401:
      return Error(ErrorCode::kPermissionDenied, message, object,
                   "the API server " + context.server + " rejected the credentials of " + context.identity +
                       ": the token or client certificate is invalid or expired; refresh the kubeconfig");
    case 403:
      return Error(ErrorCode::kPermissionDenied, message, object,
                   "grant " + context.identity + " the permission to " + context.verb + " " +
                       target.qualified_resource() + (target.subresource.empty() ? "" : "/" + target.subresource) +
                       ": " + rbac_rule(context));
    case 404: {
      std::string hint;
      if (detail == "the server could not find the requested resource" || target.name.empty()) {
        hint = "the API server does not serve " + target.qualified_resource() + " in version " +
               (target.group.empty() ? "" : target.group + "/") + target.version +
               ": check the resource name, or install its CRD and wait until it is Established, then discover again";
      } else if (detail.rfind("namespaces \"", 0) == 0 && target.resource != "namespaces") {
        hint = "the namespace " + target.namespace_ + " does not exist; create it first";
      } else {
        hint = "check the name and the namespace (it may have been deleted)";
      }
      return Error(ErrorCode::kNotFound, message, object, hint);
    }
    case 405:
      return Error(ErrorCode::kUnsupported, message, object,
                   "the API server does not allow " + context.verb + " on " + target.qualified_resource());
    case 409:
      if (reason == "AlreadyExists") {
        return Error(ErrorCode::kAlreadyExists, message, object,
                     "choose another name, or get the existing object and update it");
      }
      return Error(ErrorCode::kConflict, message, object,
                   "the object changed since it was read (resourceVersion mismatch); get it again and reapply the "
                   "change");
    case 410:
      return Error(ErrorCode::kConflict, message, object,
                   "the resourceVersion is older than the API server keeps (etcd compaction); list again and continue "
                   "from the new list's resourceVersion");
    case 413:
      return Error(ErrorCode::kInvalidArgument, message, object, "the object is too large for the API server (limit ~1.5 MiB in etcd)");
    case 415:
      return Error(ErrorCode::kUnsupported, message, object,
                   "the API server does not accept this patch type here; strategic merge patches work only on built-in "
                   "kinds, use a merge or JSON patch for custom resources");
    case 422:
      return Error(ErrorCode::kInvalidArgument, message, object, "fix the fields named in the causes and try again");
    case 429:
      return Error(ErrorCode::kUnavailable, message, object,
                   "the API server is throttling requests (API priority and fairness); retry after " +
                       std::to_string(retry_after_seconds > 0 ? retry_after_seconds : 1) + " s");
    case 501:
      return Error(ErrorCode::kUnsupported, message, object, "the API server does not implement this request");
    default:
      break;
  }
  if (http_status >= 500) {
    return Error(ErrorCode::kUnavailable, message, object,
                 "the API server " + context.server + " is failing or overloaded; retry later and check its health "
                 "(`kubectl get --raw /readyz`)");
  }
  return Error(ErrorCode::kIo, message, object, "unexpected answer from the API server " + context.server);
}

bool is_gone(const Error& error) {
  return error.code() == ErrorCode::kConflict && error.message().find(kGoneMarker) != std::string::npos;
}

}  // namespace stowage::kube
