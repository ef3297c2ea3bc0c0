// Query: builds the query string of an API request (percent-encoded, in the
// order added), plus the label-selector text of a set of required labels.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace stowage::kube {

// Percent-encodes everything but RFC 3986's unreserved characters.
std::string url_encode(std::string_view text);

class Query {
 public:
  // Adds name=value; an empty value is skipped unless keep_empty.
  Query& add(std::string_view name, std::string_view value, bool keep_empty = false);
  Query& add(std::string_view name, long long value);
  bool empty() const { return text_.empty(); }
  // "a=1&b=x%20y", without the leading '?'.
  const std::string& str() const { return text_; }

 private:
  std::string text_;
};

// {"app": "web", "tier": "db"} -> "app=web,tier=db" (sorted by key).
std::string label_selector(const std::map<std::string, std::string>& required_labels);

}  // namespace stowage::kube
