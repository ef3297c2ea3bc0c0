// How a pod volume is classified: the method and source the agent gets for
// each kind of persistent volume (control/pod_volumes.h).
#include <gtest/gtest.h>

#include "control/pod_volumes.h"

namespace stowage::control {
namespace {

using Json = nlohmann::json;

struct Claimed {
  Json volume = {{"name", "data"}, {"persistentVolumeClaim", {{"claimName", "data"}}}};
  Json pvc = {{"metadata", {{"name", "data"}, {"uid", "u-1"}}}, {"spec", {{"volumeName", "pv-1"}}}};
  Json pv;
  Result<PodVolume> classify() const { return classify_volume(volume, &pvc, &pv); }
};

TEST(ClassifyVolume, ReplicatedVolumeNamesItsTargetAndReplicas) {
  Claimed c;
  c.pv = {{"metadata", {{"name", "pv-1"}}},
          {"spec",
           {{"volumeMode", "Block"},
            {"csi",
             {{"driver", kReplicatedDriver},
              {"volumeHandle", "vol-1"},
              {"volumeAttributes",
               {{kReplicatedTargetAttribute, "127.0.0.1:7100"},
                {kReplicatedReplicasAttribute, "127.0.0.1:7101,127.0.0.1:7102"}}}}}}}};
  auto v = c.classify();
  ASSERT_TRUE(v.ok()) << v.error().to_string();
  EXPECT_EQ(v->method, "Replicated");
  EXPECT_EQ(v->source, "target=127.0.0.1:7100;replicas=127.0.0.1:7101,127.0.0.1:7102");
  EXPECT_EQ(v->pv, "pv-1");
  EXPECT_EQ(v->pvc_uid, "u-1");
}

TEST(ClassifyVolume, ReplicatedVolumeWithoutReplicasIsRefusedNamingTheAttribute) {
  Claimed c;
  c.pv = {{"metadata", {{"name", "pv-1"}}},
          {"spec",
           {{"volumeMode", "Block"},
            {"csi", {{"driver", kReplicatedDriver}, {"volumeAttributes", {{kReplicatedTargetAttribute, "h:1"}}}}}}}};
  auto v = c.classify();
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(v.error().to_string().find(kReplicatedReplicasAttribute), std::string::npos) << v.error().to_string();
}

TEST(ClassifyVolume, OtherKindsKeepTheirMethods) {
  Claimed block;
  block.pv = {{"spec", {{"volumeMode", "Block"}, {"local", {{"path", "/dev/loop7"}}}}}};
  auto b = block.classify();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->method, "Block");
  EXPECT_EQ(b->source, "/dev/loop7");

  Claimed zfs;
  zfs.pv = {{"spec",
             {{"csi",
               {{"driver", kZfsDriver},
                {"volumeHandle", "pvc-9"},
                {"volumeAttributes", {{"openebs.io/poolname", "tank"}}}}}}}};
  auto z = zfs.classify();
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->method, "ZFS");
  EXPECT_EQ(z->source, "tank/pvc-9");

  Claimed raw;  // a raw block volume of an unknown driver
  raw.pv = {{"spec", {{"volumeMode", "Block"}, {"csi", {{"driver", "other.example.com"}}}}}};
  auto r = raw.classify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnsupported);

  Json empty_dir = {{"name", "scratch"}, {"emptyDir", Json::object()}};
  auto e = classify_volume(empty_dir, nullptr, nullptr);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->method, "FileSystem");
  EXPECT_EQ(e->source, "");
}

}  // namespace
}  // namespace stowage::control
