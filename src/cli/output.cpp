#include "cli/output.h"

#include <algorithm>
#include <cstdio>

namespace stowage::cli {

using json = nlohmann::ordered_json;

bool parse_output_format(const std::string& text, OutputFormat& out) {
  if (text == "table" || text.empty()) out = OutputFormat::kTable;
  else if (text == "json") out = OutputFormat::kJson;
  else if (text == "yaml") out = OutputFormat::kYaml;
  else return false;
  return true;
}

static bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* special = ":#{}[],&*?|<>=!%@`'\"\\\n\t";
  if (s.find_first_of(special) != std::string::npos) return true;
  if (s.front() == ' ' || s.back() == ' ' || s.front() == '-') return true;
  static const char* words[] = {"true", "false", "null", "yes", "no", "on", "off", "~"};
  for (auto w : words)
    if (s == w) return true;
  return s.find_first_not_of("0123456789.+-eE") == std::string::npos;
}

static std::string scalar(const json& v) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    return needs_quotes(s) ? json(s).dump() : s;
  }
  return v.dump();
}

static void emit(const json& v, int indent, std::string& out) {
  std::string pad(size_t(indent), ' ');
  if (v.is_object()) {
    if (v.empty()) {
      out += "{}\n";
      return;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += pad + (needs_quotes(it.key()) ? json(it.key()).dump() : it.key()) + ":";
      const json& c = it.value();
      if ((c.is_object() || c.is_array()) && !c.empty()) {
        out += "\n";
        emit(c, indent + 2, out);
      } else {
        out += " " + (c.is_object() ? std::string("{}") : c.is_array() ? std::string("[]") : scalar(c)) + "\n";
      }
    }
  } else if (v.is_array()) {
    for (const auto& c : v) {
      if ((c.is_object() || c.is_array()) && !c.empty()) {
        std::string inner;
        emit(c, indent + 2, inner);
        // "- " replaces the first two spaces of the first line.
        out += pad + "- " + inner.substr(size_t(indent) + 2);
      } else {
        out += pad + "- " + (c.is_object() ? std::string("{}") : c.is_array() ? std::string("[]") : scalar(c)) + "\n";
      }
    }
  } else {
    out += pad + scalar(v) + "\n";
  }
}

std::string to_yaml(const json& value) {
  std::string out;
  if ((value.is_array() || value.is_object()) && value.empty()) return value.is_array() ? "[]\n" : "{}\n";
  emit(value, 0, out);
  return out;
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); i++) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); i++) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s;
    for (size_t i = 0; i < cells.size(); i++) {
      s += cells[i];
      if (i + 1 < cells.size()) s += std::string(width[i] - cells[i].size() + 2, ' ');
    }
    printf("%s\n", s.c_str());
  };
  line(header);
  for (const auto& r : rows) line(r);
}

void print_document(const json& value, OutputFormat format) {
  if (format == OutputFormat::kYaml) fputs(to_yaml(value).c_str(), stdout);
  else printf("%s\n", value.dump(2).c_str());
}

}  // namespace stowage::cli
