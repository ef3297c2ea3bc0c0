// Output formatting for the CLI: -o table|json|yaml for every listing, and
// JSON-to-YAML for machine-readable output.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace stowage::cli {

enum class OutputFormat { kTable, kJson, kYaml };

bool parse_output_format(const std::string& text, OutputFormat& out);
std::string to_yaml(const nlohmann::ordered_json& value);
// Prints rows as aligned columns with a header.
void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows);
// Prints value in the chosen machine format (json or yaml).
void print_document(const nlohmann::ordered_json& value, OutputFormat format);

}  // namespace stowage::cli
