#include "control/backup_copy.h"

#include <gtest/gtest.h>

#include "control/resources.h"

namespace stowage::control {
namespace {

using Json = nlohmann::json;

TEST(CopyName, JoinsBackupAndLocation) { EXPECT_EQ(copy_name("nightly-20261126", "offsite"), "nightly-20261126-offsite"); }

TEST(CopyName, LongNamesAreShortenedToALabelValueWithAHash) {
  std::string source(60, 'a');
  std::string name = copy_name(source, "offsite");
  EXPECT_LE(name.size(), 63u);
  EXPECT_NE(name, copy_name(source, "other"));  // the hash keeps copies to different locations apart
  EXPECT_EQ(name, copy_name(source, "offsite"));
  EXPECT_NE(name.back(), '-');
  // A cut that lands on '-' or '.' never leaves it before the hash's separator.
  std::string dashed = std::string(53, 'b') + "-" + std::string(20, 'c');
  std::string shortened = copy_name(dashed, "x");
  EXPECT_EQ(shortened.find("--"), std::string::npos) << shortened;
}

TEST(CopyRequest, NamesTheSourceAndKeepsItsTtlUnlessGiven) {
  Json source = {{"metadata", {{"name", "b1"}}}, {"spec", {{"ttl", "48h"}, {"storageLocation", "main"},
                                                           {"includedNamespaces", {"app"}}}}};
  Json request = copy_request(source, "offsite", "", "", "stowage");
  EXPECT_EQ(request["kind"], "Backup");
  EXPECT_EQ(request["metadata"]["name"], "b1-offsite");
  EXPECT_EQ(request["metadata"]["namespace"], "stowage");
  EXPECT_EQ(request["metadata"]["labels"][resources::kCopyOfLabel], "b1");
  EXPECT_EQ(request["spec"], Json({{"copyOf", "b1"}, {"storageLocation", "offsite"}, {"ttl", "48h"}}));
  Json own = copy_request(source, "offsite", "1h", "b1-short", "stowage");
  EXPECT_EQ(own["metadata"]["name"], "b1-short");
  EXPECT_EQ(own["spec"]["ttl"], "1h");
  source["spec"].erase("ttl");
  EXPECT_FALSE(copy_request(source, "offsite", "", "", "stowage")["spec"].contains("ttl"));
}

}  // namespace
}  // namespace stowage::control
