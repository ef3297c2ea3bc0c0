#include "kube/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <regex>

namespace stowage::kube {
namespace {

using nlohmann::json;

constexpr int kMaxDepth = 256;

const std::regex& decimal_int() {
  static const std::regex re("[-+]?[0-9]+");
  return re;
}
const std::regex& octal_int() {
  static const std::regex re("0o[0-7]+");
  return re;
}
const std::regex& hex_int() {
  static const std::regex re("0x[0-9a-fA-F]+");
  return re;
}
const std::regex& decimal_float() {
  static const std::regex re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  return re;
}

json parse_integer(const std::string& digits, int base, bool negative_allowed) {
  errno = 0;
  char* end = nullptr;
  long long value = std::strtoll(digits.c_str(), &end, base);
  if (errno == 0 && *end == 0) return json(static_cast<std::int64_t>(value));
  if (!negative_allowed || digits.front() != '-') {
    errno = 0;
    unsigned long long unsigned_value = std::strtoull(digits.c_str(), &end, base);
    if (errno == 0 && *end == 0) return json(static_cast<std::uint64_t>(unsigned_value));
  }
  // Beyond 64 bits: the nearest float, as YAML libraries do.
  return json(std::strtod(digits.c_str(), nullptr));
}

Error scalar_error(const std::string& what, const YAML::Mark& mark, const std::string& source) {
  return Error(ErrorCode::kInvalidArgument,
               what + " at line " + std::to_string(mark.line + 1) + ", column " + std::to_string(mark.column + 1),
               source, "quote the value to make it a string, or write it as JSON allows");
}

class Converter {
 public:
  Converter(const std::string& source, size_t budget) : source_(source), budget_(budget) {}

  Result<json> convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth) {
      return scalar_error("nesting deeper than " + std::to_string(kMaxDepth) + " levels", node.Mark(), source_);
    }
    if (budget_ == 0) {
      return Error(ErrorCode::kInvalidArgument,
                   "the document expands to too many values (aliases repeated beyond a bound)", source_,
                   "write the values out instead of nesting aliases of aliases");
    }
    budget_--;
    const std::string& tag = node.Tag();
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json(nullptr);
      case YAML::NodeType::Scalar:
        return scalar(node, tag);
      case YAML::NodeType::Sequence: {
        if (!tag.empty() && tag != "?" && tag != "!" && tag != "tag:yaml.org,2002:seq") {
          return scalar_error("unsupported tag " + tag + " on a sequence", node.Mark(), source_);
        }
        json out = json::array();
        for (const YAML::Node& item : node) out.push_back(TRY(convert(item, depth + 1)));
        return out;
      }
      case YAML::NodeType::Map: {
        if (!tag.empty() && tag != "?" && tag != "!" && tag != "tag:yaml.org,2002:map") {
          return scalar_error("unsupported tag " + tag + " on a mapping", node.Mark(), source_);
        }
        json out = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          // Copies: the iterator's -> yields a temporary (Nodes are handles).
          const YAML::Node key = it->first;
          const YAML::Node value = it->second;
          if (!key.IsScalar()) return scalar_error("a mapping key that is not a scalar", key.Mark(), source_);
          const std::string& name = key.Scalar();
          if (name == "<<" && key.Tag() == "?") {
            return scalar_error("a merge key (<<), which is not supported", key.Mark(), source_);
          }
          if (out.contains(name)) return scalar_error("duplicate mapping key \"" + name + "\"", key.Mark(), source_);
          out[name] = TRY(convert(value, depth + 1));
        }
        return out;
      }
    }
    return json(nullptr);
  }

 private:
  Result<json> scalar(const YAML::Node& node, const std::string& tag) {
    const std::string& text = node.Scalar();
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "tag:yaml.org,2002:binary") return json(text);
    if (tag == "?" || tag.empty()) {
      Result<json> resolved = resolve_plain_scalar(text);
      if (!resolved.ok()) return scalar_error(resolved.error().message(), node.Mark(), source_);
      return resolved;
    }
    // An explicit core tag: the text must read as that type.
    Result<json> resolved = resolve_plain_scalar(text);
    if (!resolved.ok()) return scalar_error(resolved.error().message(), node.Mark(), source_);
    const json& value = *resolved;
    bool fits = (tag == "tag:yaml.org,2002:null" && value.is_null()) ||
                (tag == "tag:yaml.org,2002:bool" && value.is_boolean()) ||
                (tag == "tag:yaml.org,2002:int" && value.is_number_integer()) ||
                (tag == "tag:yaml.org,2002:float" && value.is_number());
    if (tag == "tag:yaml.org,2002:float" && value.is_number_integer()) return json(value.get<double>());
    if (fits) return resolved;
    bool known = tag == "tag:yaml.org,2002:null" || tag == "tag:yaml.org,2002:bool" ||
                 tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float";
    return scalar_error(known ? "\"" + text + "\" is not a valid " + tag.substr(tag.rfind(':') + 1)
                              : "unsupported tag " + tag,
                        node.Mark(), source_);
  }

  const std::string& source_;
  size_t budget_;
};

}  // namespace

Result<nlohmann::json> resolve_plain_scalar(const std::string& text) {
  using nlohmann::json;
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return json(nullptr);
  if (text == "true" || text == "True" || text == "TRUE") return json(true);
  if (text == "false" || text == "False" || text == "FALSE") return json(false);
  char first = text.front();
  bool may_be_number = (first >= '0' && first <= '9') || first == '-' || first == '+' || first == '.';
  if (!may_be_number) return json(text);
  if (std::regex_match(text, decimal_int())) return parse_integer(text, 10, true);
  if (std::regex_match(text, octal_int())) return parse_integer(text.substr(2), 8, false);
  if (std::regex_match(text, hex_int())) return parse_integer(text.substr(2), 16, false);
  if (std::regex_match(text, decimal_float())) return json(std::strtod(text.c_str(), nullptr));
  static const char* const kNonFinite[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
                                           "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"};
  for (const char* word : kNonFinite) {
    if (text == word) {
      return Error(ErrorCode::kInvalidArgument, "the float " + text + " has no JSON representation", text,
                   "quote it to make it a string");
    }
  }
  return json(text);
}

Result<std::vector<nlohmann::json>> yaml_to_json_documents(std::string_view yaml_text, const std::string& source) {
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument,
                 "parsing YAML: " + e.msg + " at line " + std::to_string(e.mark.line + 1) + ", column " +
                     std::to_string(e.mark.column + 1),
                 source, "fix the YAML syntax at that position");
  }
  std::vector<nlohmann::json> documents;
  try {
    for (const YAML::Node& node : nodes) {
      if (!node.IsDefined() || node.IsNull()) continue;
      Converter converter(source, 16 * yaml_text.size() + 1024);
      nlohmann::json document = TRY(converter.convert(node, 0));
      if (document.is_null()) continue;
      documents.push_back(std::move(document));
    }
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, "reading YAML: " + e.msg, source, "fix the YAML");
  }
  return documents;
}

Result<nlohmann::json> yaml_to_json(std::string_view yaml_text, const std::string& source) {
  std::vector<nlohmann::json> documents = TRY(yaml_to_json_documents(yaml_text, source));
  if (documents.size() != 1) {
    return Error(ErrorCode::kInvalidArgument,
                 "expected one YAML document, found " + std::to_string(documents.size()), source,
                 documents.empty() ? "the text holds no document" : "split it, or read it with yaml_to_json_documents");
  }
  return std::move(documents.front());
}

}  // namespace stowage::kube
