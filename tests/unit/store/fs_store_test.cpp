// FsStore specifics beyond the shared contract: crash leftovers, key checks,
// atomic visibility, error texts naming key and path.
#include "store/fs_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "store_test_support.h"

namespace stowage::store_test {
namespace {

class FsStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = (std::filesystem::temp_directory_path() / ("stowage-fs-test-" + unique_suffix())).string();
    store_ = std::make_unique<FsStore>(root_);
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::permissions(root_, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(root_, ignored);
  }
  std::string root_;
  std::unique_ptr<FsStore> store_;
};

TEST_F(FsStoreTest, KeysMapToNestedPaths) {
  STOWAGE_ASSERT_OK(store_->put("data/ab/abcdef", to_bytes("x")));
  EXPECT_TRUE(std::filesystem::is_regular_file(root_ + "/data/ab/abcdef"));
  EXPECT_EQ(store_->describe(), "file://" + root_);
}

TEST_F(FsStoreTest, LeavesNoTemporaryFilesBehind) {
  STOWAGE_ASSERT_OK(store_->put("data/k1", to_bytes("one")));
  STOWAGE_EXPECT_CODE(store_->put("data/k1", to_bytes("two")), ErrorCode::kAlreadyExists);
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST_F(FsStoreTest, ListSkipsTemporaryFilesOfInterruptedPuts) {
  STOWAGE_ASSERT_OK(store_->put("data/k1", to_bytes("one")));
  // What a crash between write and link() leaves behind.
  std::ofstream(root_ + "/data/" + FsStore::kTempPrefix + "deadbeef") << "partial";
  std::vector<std::string> keys;
  STOWAGE_ASSERT_OK(store_->list("", [&](const ObjectInfo& info) { keys.push_back(info.key); }));
  EXPECT_EQ(keys, std::vector<std::string>{"data/k1"});
}

TEST_F(FsStoreTest, StreamedWriterPublishesOnlyAtCommitAndIsCreateOnly) {
  // More than the writeback step, in uneven pieces.
  Bytes whole((9 << 20) + 12345);
  for (size_t i = 0; i < whole.size(); i++) whole[i] = uint8_t(i * 131 + (i >> 12));
  auto writer = store_->open_writer();
  STOWAGE_ASSERT_OK(writer);
  ASSERT_NE(writer->get(), nullptr);
  size_t at = 0;
  for (size_t piece : {size_t(1), size_t(5 << 20), size_t(3 << 20)}) {
    STOWAGE_ASSERT_OK((*writer)->append(ByteView(whole.data() + at, piece)));
    at += piece;
  }
  STOWAGE_ASSERT_OK((*writer)->append(ByteView(whole.data() + at, whole.size() - at)));
  int listed = 0;
  STOWAGE_ASSERT_OK(store_->list("", [&](const ObjectInfo&) { listed++; }));
  EXPECT_EQ(listed, 0) << "an uncommitted object is visible";
  STOWAGE_ASSERT_OK((*writer)->commit("data/ab/streamed"));
  auto got = store_->get("data/ab/streamed");
  STOWAGE_ASSERT_OK(got);
  EXPECT_TRUE(*got == whole);
  STOWAGE_EXPECT_CODE((*writer)->append(to_bytes("late")), ErrorCode::kInvalidArgument);

  auto second = store_->open_writer();
  STOWAGE_ASSERT_OK(second);
  STOWAGE_ASSERT_OK((*second)->append(to_bytes("other")));
  STOWAGE_EXPECT_CODE((*second)->commit("data/ab/streamed"), ErrorCode::kAlreadyExists);
  EXPECT_TRUE(*store_->get("data/ab/streamed") == whole);
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
}

// Where the filesystem takes O_DIRECT, a streamed object's aligned part goes
// around the page cache and its unaligned rest through it: pieces of every
// alignment must still come back whole, and only the last page may be cached.
TEST_F(FsStoreTest, StreamedObjectsOfAnyAlignmentReadBackWholeAndMostlyUncached) {
  STOWAGE_ASSERT_OK(store_->put("probe", to_bytes("x")));
  int probe = ::open((root_ + "/probe").c_str(), O_RDONLY | O_DIRECT);
  if (probe < 0) GTEST_SKIP() << "the test directory's filesystem does not take O_DIRECT";
  ::close(probe);
  const std::vector<size_t> pieces = {1, 4095, 1, (3 << 20) + 3, 2 << 20, 4096, 7, (1 << 20) - 1, 4097};
  Bytes whole;
  for (size_t piece : pieces) whole.resize(whole.size() + piece);
  for (size_t i = 0; i < whole.size(); i++) whole[i] = uint8_t(i * 197 + (i >> 11));
  auto writer = store_->open_writer();
  STOWAGE_ASSERT_OK(writer);
  size_t at = 0;
  for (size_t piece : pieces) {
    STOWAGE_ASSERT_OK((*writer)->append(ByteView(whole.data() + at, piece)));
    at += piece;
  }
  STOWAGE_ASSERT_OK((*writer)->commit("data/cd/direct"));

  int fd = ::open((root_ + "/data/cd/direct").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  void* map = ::mmap(nullptr, whole.size(), PROT_READ, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  size_t pages = (whole.size() + 4095) / 4096;
  std::vector<unsigned char> resident(pages);
  ASSERT_EQ(::mincore(map, whole.size(), resident.data()), 0);
  size_t cached = 0;
  for (unsigned char r : resident) cached += r & 1;
  ::munmap(map, whole.size());
  ::close(fd);
  EXPECT_LE(cached, 1u) << "of " << pages << " pages";

  auto got = store_->get("data/cd/direct");
  STOWAGE_ASSERT_OK(got);
  EXPECT_EQ(got->size(), whole.size());
  EXPECT_TRUE(*got == whole);

  // An object smaller than one aligned block never reaches O_DIRECT.
  auto small = store_->open_writer();
  STOWAGE_ASSERT_OK(small);
  STOWAGE_ASSERT_OK((*small)->append(to_bytes("tiny")));
  STOWAGE_ASSERT_OK((*small)->commit("data/cd/tiny"));
  EXPECT_EQ(as_string(*store_->get("data/cd/tiny")), "tiny");
}

// Slices are written behind, several per object at once, by threads the
// writers share: objects streamed side by side from several threads, in
// pieces of every size, must each come back exactly.
TEST_F(FsStoreTest, ObjectsStreamedSideBySideComeBackWhole) {
  constexpr int kWriters = 4;
  std::vector<Bytes> wholes(kWriters);
  std::vector<Status> results(kWriters, ok_status());
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; w++) {
    wholes[w].resize((11 << 20) + 777 * size_t(w));
    for (size_t i = 0; i < wholes[w].size(); i++) wholes[w][i] = uint8_t(i * 37 + (i >> 13) + w);
    threads.emplace_back([&, w] {
      results[w] = [&]() -> Status {
        auto writer = TRY(store_->open_writer());
        const Bytes& whole = wholes[w];
        size_t at = 0;
        for (size_t piece = 4093 * size_t(w + 1); at < whole.size(); piece = piece * 3 % (3 << 20) + 1) {
          size_t take = std::min(piece, whole.size() - at);
          TRY_STATUS(writer->append(ByteView(whole.data() + at, take)));
          at += take;
        }
        return writer->commit("data/ef/side-" + std::to_string(w));
      }();
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < kWriters; w++) {
    STOWAGE_ASSERT_OK(results[w]);
    auto got = store_->get("data/ef/side-" + std::to_string(w));
    STOWAGE_ASSERT_OK(got);
    EXPECT_EQ(got->size(), wholes[w].size());
    EXPECT_TRUE(*got == wholes[w]) << "object " << w;
  }
}

// A write that fails behind the writer (here: past the file size limit,
// as a full disk would) is reported by a later append or by the commit,
// naming the temporary file, and leaves nothing behind.
TEST_F(FsStoreTest, AFailedWriteBehindIsReportedAndLeavesNothing) {
  struct rlimit saved;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = saved;
  limit.rlim_cur = 3 << 20;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  Bytes piece(1 << 20, 0x5a);
  Status failed = ok_status();
  {
    auto writer = store_->open_writer();
    STOWAGE_ASSERT_OK(writer);
    for (int i = 0; i < 12 && failed.ok(); i++) failed = (*writer)->append(piece);
    if (failed.ok()) failed = (*writer)->commit("data/ef/too-big");
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(failed.ok()) << "12 MiB were written under a 3 MiB file size limit";
  EXPECT_EQ(failed.error().code(), ErrorCode::kIo) << failed.error().to_string();
  EXPECT_NE(failed.error().message().find("cannot write " + root_ + "/" + FsStore::kTempPrefix), std::string::npos)
      << failed.error().message();
  EXPECT_NE(failed.error().message().find(std::strerror(EFBIG)), std::string::npos) << failed.error().message();
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 0) << "the temporary file was left behind";
  EXPECT_FALSE(store_->stat("data/ef/too-big").ok());
}

// A transient object (a lock) skips the fsyncs but keeps put()'s other
// guarantees: create-only, whole or absent, removed idempotently.
TEST_F(FsStoreTest, TransientObjectsKeepCreateOnlyAndRemoval) {
  STOWAGE_ASSERT_OK(store_->put_transient("locks/l1", to_bytes("held")));
  EXPECT_EQ(as_string(*store_->get("locks/l1")), "held");
  STOWAGE_EXPECT_CODE(store_->put_transient("locks/l1", to_bytes("other")), ErrorCode::kAlreadyExists);
  EXPECT_EQ(as_string(*store_->get("locks/l1")), "held");
  STOWAGE_ASSERT_OK(store_->remove_transient("locks/l1"));
  STOWAGE_EXPECT_CODE(store_->stat("locks/l1"), ErrorCode::kNotFound);
  STOWAGE_ASSERT_OK(store_->remove_transient("locks/l1"));
  int files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root_)) files += entry.is_regular_file();
  EXPECT_EQ(files, 0);
}

TEST_F(FsStoreTest, ADroppedWriterLeavesNothingBehind) {
  {
    auto writer = store_->open_writer();  // also creates the missing root
    STOWAGE_ASSERT_OK(writer);
    STOWAGE_ASSERT_OK((*writer)->append(to_bytes("never committed")));
  }
  ASSERT_TRUE(std::filesystem::is_directory(root_));
  EXPECT_TRUE(std::filesystem::is_empty(root_));
}

TEST_F(FsStoreTest, RejectsKeysThatEscapeOrAreMalformed) {
  for (const std::string& key : {std::string(""), std::string("/abs"), std::string("../up"), std::string("a/../../b"),
                                 std::string("a//b"), std::string("a/./b"), std::string("trailing/"),
                                 std::string("x/") + FsStore::kTempPrefix + "1"}) {
    auto result = store_->put(key, to_bytes("x"));
    ASSERT_FALSE(result.ok()) << "key \"" << key << "\" was accepted";
    EXPECT_EQ(result.error().code(), ErrorCode::kInvalidArgument) << result.error().to_string();
    EXPECT_FALSE(result.error().hint().empty());
  }
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(root_).parent_path() / "up"));
}

TEST_F(FsStoreTest, ErrorsNameTheKeyAndTheFullPath) {
  auto missing = store_->get("data/missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().object(), "data/missing");
  EXPECT_NE(missing.error().message().find(root_ + "/data/missing"), std::string::npos) << missing.error().message();
  EXPECT_FALSE(missing.error().hint().empty());
}

TEST_F(FsStoreTest, ADirectoryIsNotAnObject) {
  STOWAGE_ASSERT_OK(store_->put("dir/inner", to_bytes("x")));
  STOWAGE_EXPECT_CODE(store_->get("dir"), ErrorCode::kNotFound);
  STOWAGE_EXPECT_CODE(store_->stat("dir"), ErrorCode::kNotFound);
  STOWAGE_EXPECT_CODE(store_->get_range("dir", 0, 1), ErrorCode::kNotFound);
}

TEST_F(FsStoreTest, PermissionProblemsAreReportedWithAHint) {
  STOWAGE_ASSERT_OK(store_->ensure_root());
  ASSERT_EQ(chmod(root_.c_str(), 0555), 0);
  // Root ignores directory permissions: as root, try the put from a child
  // process that has dropped to an unprivileged user.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(90);
    auto denied = store_->put("data/x", to_bytes("x"));
    if (denied.ok()) _exit(91);
    if (denied.error().hint().find(root_) == std::string::npos) _exit(92);
    if (denied.error().message().find(root_ + "/data") == std::string::npos) _exit(93);
    _exit(denied.error().code() == ErrorCode::kPermissionDenied ? 0 : 94);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "90: cannot drop privileges, 91: put succeeded, 92: hint lacks the root, "
                                       "93: message lacks the path, 94: wrong error code";
}

TEST_F(FsStoreTest, ReadersSeeTheWholeObjectOrNothing) {
  const Bytes big = random_bytes(8 << 20, 42);
  std::atomic<bool> done{false};
  std::atomic<int> partial_reads{0}, full_reads{0};
  std::thread reader([&] {
    while (!done) {
      auto got = store_->get("packs/big");
      if (got.ok()) {
        if (got.value() == big) full_reads++;
        else partial_reads++;
      }
    }
  });
  STOWAGE_ASSERT_OK(store_->put("packs/big", big));
  auto final_read = store_->get("packs/big");
  done = true;
  reader.join();
  STOWAGE_ASSERT_OK(final_read);
  EXPECT_EQ(final_read.value(), big);
  EXPECT_EQ(partial_reads.load(), 0);
}

TEST_F(FsStoreTest, EnsureRootCreatesNestedDirectoriesAndRefusesAFile) {
  FsStore nested(root_ + "/a/b/c");
  STOWAGE_ASSERT_OK(nested.ensure_root());
  EXPECT_TRUE(std::filesystem::is_directory(root_ + "/a/b/c"));
  std::ofstream(root_ + "/plain-file") << "x";
  FsStore on_file(root_ + "/plain-file");
  STOWAGE_EXPECT_CODE(on_file.ensure_root(), ErrorCode::kInvalidArgument);
}

TEST_F(FsStoreTest, ListOfAMissingRootIsEmpty) {
  std::vector<std::string> keys;
  STOWAGE_ASSERT_OK(store_->list("", [&](const ObjectInfo& info) { keys.push_back(info.key); }));
  EXPECT_TRUE(keys.empty());
}

}  // namespace
}  // namespace stowage::store_test
