// yaml_json: YAML text (one or many documents, as in a manifest file or
// kubectl input) to JSON values, with the YAML 1.2 core schema's typing of
// plain scalars — 12 is an integer, 1.5 a float, true a boolean, null and ~
// null — while quoted and block scalars stay strings. (JSON to YAML for
// `-o yaml` is cli/output.h's to_yaml.)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/result.h"

namespace stowage::kube {

// Every document of `yaml_text` in order; empty documents (a lone `---`, only
// comments) and documents that are just null are skipped. Mapping keys
// become strings; a duplicate key, a non-scalar key, a merge key (<<), an
// unknown tag, .inf/.nan (no JSON form) and alias expansion beyond a bound
// (an alias bomb) are errors. `source` names the text in errors ("file
// deploy/rbac.yaml").
Result<std::vector<nlohmann::json>> yaml_to_json_documents(std::string_view yaml_text,
                                                           const std::string& source = "YAML text");

// Exactly one document (kInvalidArgument when there are none or several).
Result<nlohmann::json> yaml_to_json(std::string_view yaml_text, const std::string& source = "YAML text");

// The core schema's reading of one plain (unquoted) scalar: null, boolean,
// integer (decimal, 0o octal, 0x hex; beyond 64 bits a float) or float, else
// the string itself. kInvalidArgument for .inf and .nan.
Result<nlohmann::json> resolve_plain_scalar(const std::string& text);

}  // namespace stowage::kube
