#include "kube/query.h"

namespace stowage::kube {

std::string url_encode(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                      c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(char(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

Query& Query::add(std::string_view name, std::string_view value, bool keep_empty) {
  if (value.empty() && !keep_empty) return *this;
  if (!text_.empty()) text_ += '&';
  text_ += url_encode(name);
  text_ += '=';
  text_ += url_encode(value);
  return *this;
}

Query& Query::add(std::string_view name, long long value) { return add(name, std::to_string(value), true); }

std::string label_selector(const std::map<std::string, std::string>& required_labels) {
  std::string out;
  for (const auto& [key, value] : required_labels) {
    if (!out.empty()) out += ',';
    out += key + "=" + value;
  }
  return out;
}

}  // namespace stowage::kube
