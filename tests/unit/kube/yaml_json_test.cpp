// yaml_json: multi-document YAML to JSON with the YAML 1.2 core schema's
// scalar typing, the errors it reports, and the round trip through the CLI's
// JSON-to-YAML writer (cli/output.h).
#include <gtest/gtest.h>

#include "cli/output.h"
#include "kube/yaml_json.h"

namespace stowage::kube {
namespace {

using nlohmann::json;

json one(const std::string& text) {
  Result<json> parsed = yaml_to_json(text);
  EXPECT_TRUE(parsed.ok()) << text << ": " << parsed.error().to_string();
  return parsed.ok() ? *parsed : json();
}

TEST(YamlJson, CoreSchemaScalars) {
  json value = one(
      "int: 12\n"
      "negative: -3\n"
      "plus: +4\n"
      "leading_zero: 012\n"
      "octal: 0o17\n"
      "hex: 0x1F\n"
      "big: 18446744073709551615\n"
      "huge: 123456789012345678901234567890\n"
      "float: 1.5\n"
      "exp: 1e3\n"
      "dot: .5\n"
      "yes: true\n"
      "Upper: TRUE\n"
      "off: false\n"
      "nothing: null\n"
      "tilde: ~\n"
      "empty:\n"
      "word: hello world\n"
      "version: 1.2.3\n"
      "yaml11_bool: yes\n"
      "quoted_int: \"12\"\n"
      "single: 'true'\n"
      "block: |\n  two\n  lines\n"
      "folded: >-\n  one\n  line\n"
      "tagged_str: !!str 7\n"
      "tagged_float: !!float 7\n"
      "colon_time: 12:30\n");
  EXPECT_EQ(value["int"], 12);
  EXPECT_TRUE(value["int"].is_number_integer());
  EXPECT_EQ(value["negative"], -3);
  EXPECT_EQ(value["plus"], 4);
  EXPECT_EQ(value["leading_zero"], 12);
  EXPECT_EQ(value["octal"], 15);
  EXPECT_EQ(value["hex"], 31);
  EXPECT_TRUE(value["big"].is_number_unsigned());
  EXPECT_EQ(value["big"].get<std::uint64_t>(), 18446744073709551615ull);
  EXPECT_TRUE(value["huge"].is_number_float());
  EXPECT_DOUBLE_EQ(value["float"].get<double>(), 1.5);
  EXPECT_TRUE(value["float"].is_number_float());
  EXPECT_DOUBLE_EQ(value["exp"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(value["dot"].get<double>(), 0.5);
  EXPECT_EQ(value["yes"], true);  // the key "yes" is a string; its value the boolean
  EXPECT_EQ(value["Upper"], true);
  EXPECT_EQ(value["off"], false);
  EXPECT_TRUE(value["nothing"].is_null());
  EXPECT_TRUE(value["tilde"].is_null());
  EXPECT_TRUE(value["empty"].is_null());
  EXPECT_EQ(value["word"], "hello world");
  EXPECT_EQ(value["version"], "1.2.3");
  EXPECT_EQ(value["yaml11_bool"], "yes");  // YAML 1.2: only true/false are booleans
  EXPECT_EQ(value["quoted_int"], "12");
  EXPECT_EQ(value["single"], "true");
  EXPECT_EQ(value["block"], "two\nlines\n");
  EXPECT_EQ(value["folded"], "one line");
  EXPECT_EQ(value["tagged_str"], "7");
  EXPECT_TRUE(value["tagged_float"].is_number_float());
  EXPECT_EQ(value["colon_time"], "12:30");  // sexagesimal numbers are YAML 1.1 only
}

TEST(YamlJson, CollectionsAnchorsAndFlowStyle) {
  json value = one(
      "base: &base {a: 1, b: [x, 2, null]}\n"
      "copy: *base\n"
      "list:\n- one\n- {k: v}\n- [1, 2]\n- []\n- {}\n"
      "1: numeric key\n");
  EXPECT_EQ(value["base"], (json{{"a", 1}, {"b", json::array({"x", 2, nullptr})}}));
  EXPECT_EQ(value["copy"], value["base"]);
  EXPECT_EQ(value["list"], json::parse(R"(["one", {"k": "v"}, [1, 2], [], {}])"));
  EXPECT_EQ(value["1"], "numeric key");
}

TEST(YamlJson, MultipleDocumentsSkippingEmptyOnes) {
  Result<std::vector<json>> documents = yaml_to_json_documents(
      "# a comment only\n---\napiVersion: v1\nkind: Namespace\n---\n---\n# nothing\n---\nkind: B\n...\n---\nnull\n");
  ASSERT_TRUE(documents.ok()) << documents.error().to_string();
  ASSERT_EQ(documents->size(), 2u);
  EXPECT_EQ((*documents)[0]["kind"], "Namespace");
  EXPECT_EQ((*documents)[1]["kind"], "B");
  Result<std::vector<json>> none = yaml_to_json_documents("");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  Result<json> two = yaml_to_json("a: 1\n---\nb: 2\n");
  ASSERT_FALSE(two.ok());
  EXPECT_NE(two.error().message().find("found 2"), std::string::npos);
}

TEST(YamlJson, ErrorsSayWhereAndWhat) {
  Result<std::vector<json>> syntax = yaml_to_json_documents("a: 1\nb: [unclosed\n", "file deploy/x.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(syntax.error().object(), "file deploy/x.yaml");
  EXPECT_NE(syntax.error().message().find("line "), std::string::npos) << syntax.error().to_string();

  Result<json> duplicate = yaml_to_json("a: 1\nb: 2\na: 3\n");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_NE(duplicate.error().message().find("duplicate mapping key \"a\" at line 3"), std::string::npos)
      << duplicate.error().to_string();

  Result<json> infinite = yaml_to_json("x: .inf\n");
  ASSERT_FALSE(infinite.ok());
  EXPECT_NE(infinite.error().message().find("no JSON representation"), std::string::npos);
  EXPECT_EQ(one("x: '.inf'\n")["x"], ".inf");

  Result<json> complex_key = yaml_to_json("? [a, b]\n: 1\n");
  ASSERT_FALSE(complex_key.ok());
  EXPECT_NE(complex_key.error().message().find("not a scalar"), std::string::npos);

  Result<json> merge = yaml_to_json("a: &a {x: 1}\nb:\n  <<: *a\n");
  ASSERT_FALSE(merge.ok());
  EXPECT_NE(merge.error().message().find("merge key"), std::string::npos);

  Result<json> bad_tag = yaml_to_json("x: !!int twelve\n");
  ASSERT_FALSE(bad_tag.ok());
  EXPECT_NE(bad_tag.error().message().find("not a valid int"), std::string::npos);
  Result<json> custom_tag = yaml_to_json("x: !Ref thing\n");
  ASSERT_FALSE(custom_tag.ok());
  EXPECT_NE(custom_tag.error().message().find("unsupported tag"), std::string::npos);
}

TEST(YamlJson, AliasBombIsBounded) {
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; i++) {
    std::string previous = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + previous;
    for (int j = 0; j < 9; j++) text += ", " + previous;
    text += "]\n";
  }
  Result<json> bomb = yaml_to_json(text);  // 10^9 values if expanded
  ASSERT_FALSE(bomb.ok());
  EXPECT_NE(bomb.error().message().find("too many values"), std::string::npos) << bomb.error().to_string();
}

TEST(YamlJson, PlainScalarResolution) {
  EXPECT_EQ(*resolve_plain_scalar("-0"), 0);
  EXPECT_EQ(*resolve_plain_scalar("0x"), "0x");
  EXPECT_EQ(*resolve_plain_scalar("-0x10"), "-0x10");  // the core schema has no signed hex
  EXPECT_EQ(*resolve_plain_scalar("1."), 1.0);
  EXPECT_EQ(*resolve_plain_scalar("+"), "+");
  EXPECT_EQ(*resolve_plain_scalar("NULL"), nullptr);
  EXPECT_EQ(*resolve_plain_scalar("nULL"), "nULL");
  EXPECT_EQ(*resolve_plain_scalar("-.5e-2"), -0.005);
  EXPECT_FALSE(resolve_plain_scalar("-.Inf").ok());
  EXPECT_FALSE(resolve_plain_scalar(".NaN").ok());
}

// What the CLI prints with -o yaml reads back as the same JSON.
TEST(YamlJson, RoundTripThroughTheCliWriter) {
  nlohmann::ordered_json original = nlohmann::ordered_json::parse(R"({
    "apiVersion": "stowage.io/v1", "kind": "Backup",
    "metadata": {"name": "nightly", "labels": {"app": "web", "tier": "true", "n": "12", "empty": ""}},
    "spec": {"ttl": "720h0m0s", "includedNamespaces": ["shop", "*"], "snapshotVolumes": null,
             "hooks": {"resources": [{"name": "db", "pre": [{"exec": {"command": ["sh", "-c", "sync; echo 'ok: done'"]}}]}]},
             "nested": [[1, 2], [], {}], "text": "two\nlines", "number": 1.25, "count": 3, "flag": false,
             "dash": "-x", "colon": "a: b", "null_word": "null", "version": "1.2.3", "yes": "yes"}
  })");
  std::string yaml = cli::to_yaml(original);
  Result<json> back = yaml_to_json(yaml, "to_yaml output");
  ASSERT_TRUE(back.ok()) << back.error().to_string() << "\n" << yaml;
  EXPECT_EQ(*back, json::parse(original.dump())) << yaml;
}

}  // namespace
}  // namespace stowage::kube
