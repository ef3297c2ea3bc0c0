// open_shared_library: the run-time loading behind util/curl.h and
// archive/libarchive.h, and the error a missing library gives.
#include "util/shared_library.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

namespace stowage {
namespace {

TEST(SharedLibraryTest, OpensALibraryWithItsSymbolsLocal) {
  auto opened = open_shared_library("libz.so.1", "zlib, for this test", "install zlib");
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  EXPECT_NE(dlsym(*opened, "inflate"), nullptr);
}

TEST(SharedLibraryTest, AMissingLibraryNamesItselfWhatItIsForAndTheFix) {
  auto opened = open_shared_library("libstowage-absent.so.7", "libabsent, which the absent layer uses",
                                    "install libabsent (apt-get install libabsent7)");
  ASSERT_FALSE(opened.ok());
  EXPECT_EQ(opened.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(opened.error().object(), "libstowage-absent.so.7");
  EXPECT_NE(opened.error().message().find("libabsent, which the absent layer uses, cannot be loaded ("),
            std::string::npos)
      << opened.error().message();
  EXPECT_NE(opened.error().message().find("libstowage-absent.so.7"), std::string::npos) << opened.error().message();
  EXPECT_EQ(opened.error().hint(), "install libabsent (apt-get install libabsent7)");
}

}  // namespace
}  // namespace stowage
