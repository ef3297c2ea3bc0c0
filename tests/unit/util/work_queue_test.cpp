#include "util/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>

namespace stowage {
namespace {

TEST(WorkQueueTest, TrySubmitRefusesWhenFullAndNeverBlocks) {
  WorkQueue q(1, 1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  auto blocker = [&, gate]() -> Status {
    gate.wait();
    ran++;
    return ok_status();
  };
  ASSERT_TRUE(q.submit(blocker));
  // The single worker may or may not have taken the first task yet; fill the
  // one queue slot either way (at most one more fits), then the next try must
  // be refused while the worker is held.
  int submitted = 1;
  while (q.try_submit(blocker)) submitted++;
  EXPECT_LE(submitted, 2);
  EXPECT_FALSE(q.try_submit(blocker));
  release.set_value();
  EXPECT_TRUE(q.wait().ok());
  EXPECT_EQ(ran.load(), submitted);
  EXPECT_TRUE(q.try_submit([&]() -> Status {
    ran++;
    return ok_status();
  }));
  EXPECT_TRUE(q.wait().ok());
}

TEST(WorkQueueTest, TrySubmitRefusesAfterFailure) {
  WorkQueue q(1, 8);
  ASSERT_TRUE(q.submit([]() -> Status { return Error(ErrorCode::kIo, "boom"); }));
  Status s = q.wait();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kIo);
  EXPECT_FALSE(q.try_submit([]() -> Status { return ok_status(); }));
}

// Tasks that spawn tasks into their own queue through try_submit, running
// them inline when refused, finish even with a tiny queue and one thread.
TEST(WorkQueueTest, RecursiveTasksWithTrySubmitDoNotDeadlock) {
  WorkQueue q(1, 1);
  std::atomic<int> leaves{0};
  std::function<Status(int)> node = [&](int depth) -> Status {
    if (depth == 0) {
      leaves++;
      return ok_status();
    }
    for (int i = 0; i < 3; i++) {
      std::function<Status()> child = [&, depth] { return node(depth - 1); };
      if (!q.try_submit(child)) {
        Status s = child();
        if (!s.ok()) return s;
      }
    }
    return ok_status();
  };
  ASSERT_TRUE(q.submit([&] { return node(6); }));
  EXPECT_TRUE(q.wait().ok());
  EXPECT_EQ(leaves.load(), 729);
}

}  // namespace
}  // namespace stowage
