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

// The binder fills every function it finds and names the first one missing.
TEST(SharedLibraryTest, TheBinderNamesTheFirstMissingFunction) {
  auto opened = open_shared_library("libz.so.1", "zlib, for this test", "install zlib");
  ASSERT_TRUE(opened.ok()) << opened.error().to_string();
  const char* (*version)() = nullptr;
  int (*absent)() = nullptr;
  int (*also_absent)() = nullptr;
  SymbolBinder binder(*opened);
  binder.bind("zlibVersion", version);
  EXPECT_TRUE(binder.status("libz.so.1", "install zlib").ok());
  binder.bind("stowage_absent_function", absent);
  binder.bind("stowage_also_absent", also_absent);
  ASSERT_NE(version, nullptr);
  EXPECT_NE(std::string(version()).find('.'), std::string::npos);
  EXPECT_EQ(absent, nullptr);
  Status status = binder.status("libz.so.1", "install zlib 1.2 or newer");
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code(), ErrorCode::kUnsupported);
  EXPECT_EQ(status.error().message(), "libz.so.1 has no function stowage_absent_function");
  EXPECT_EQ(status.error().hint(), "install zlib 1.2 or newer");
}

}  // namespace
}  // namespace stowage
