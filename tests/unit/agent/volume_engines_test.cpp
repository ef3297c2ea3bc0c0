// The agent's local-snapshot entry points send each kind of reference to its
// own engine: ZFS ("pool/ds@snap") and replicated ("replicated:...@snap").
// Only paths that end before any engine runs a program or needs a volume.
#include "agent/volume_engines.h"

#include <gtest/gtest.h>

namespace stowage::agent {
namespace {

TEST(LocalSnapshotDispatch, KeepTakesReplicatedVolumesAndRefusesOtherMethods) {
  auto file = keep_local_snapshot("FileSystem", "/data", "stowage-b1");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code(), ErrorCode::kUnsupported);
  auto malformed = keep_local_snapshot("Replicated", "not-a-volume", "stowage-b1");
  ASSERT_FALSE(malformed.ok());
  EXPECT_EQ(malformed.error().code(), ErrorCode::kInvalidArgument);
  // A well-formed volume whose target does not answer: the target is asked.
  auto unreachable = keep_local_snapshot("Replicated", "target=127.0.0.1:1;replicas=127.0.0.1:2", "stowage-b1");
  ASSERT_FALSE(unreachable.ok());
  EXPECT_NE(unreachable.error().to_string().find("127.0.0.1:1"), std::string::npos) << unreachable.error().to_string();
}

TEST(LocalSnapshotDispatch, CloneRefusesAReferenceOfTheOtherKind) {
  auto zfs_into_replicated = clone_local_snapshot("Replicated", "pool/ds@s", "target=127.0.0.1:1;replicas=127.0.0.1:2");
  ASSERT_FALSE(zfs_into_replicated.ok());
  EXPECT_EQ(zfs_into_replicated.error().code(), ErrorCode::kUnsupported);
  auto replicated_into_zfs = clone_local_snapshot("ZFS", "replicated:127.0.0.1:2@s", "pool/restored");
  ASSERT_FALSE(replicated_into_zfs.ok());
  EXPECT_EQ(replicated_into_zfs.error().code(), ErrorCode::kUnsupported);
  // A destination replica that is a source replica: refused before any is touched.
  auto overlapping =
      clone_local_snapshot("Replicated", "replicated:127.0.0.1:2@s", "target=127.0.0.1:3;replicas=127.0.0.1:2");
  ASSERT_FALSE(overlapping.ok());
  EXPECT_EQ(overlapping.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(overlapping.error().to_string().find("127.0.0.1:2"), std::string::npos);
}

TEST(LocalSnapshotDispatch, DestroyOfAReplicatedSnapshotWithAnUnreachableReplicaIsRetried) {
  auto destroyed = destroy_local_snapshot("replicated:127.0.0.1:2@s");
  ASSERT_FALSE(destroyed.ok());
  // Not kNotFound: the agent would take that as "already gone" and drop it.
  EXPECT_NE(destroyed.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(destroyed.error().to_string().find("127.0.0.1:2"), std::string::npos) << destroyed.error().to_string();
}

}  // namespace
}  // namespace stowage::agent
