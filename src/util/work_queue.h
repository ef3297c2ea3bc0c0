// WorkQueue: a fixed set of threads running Status-returning tasks from a
// bounded queue. submit() blocks while the queue is full, which bounds memory
// (backpressure); wait() returns the first error any task reported. After an
// error failed() turns true: submit() then refuses new tasks (returns false),
// and tasks already queued still run, so they should check failed() first.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "util/result.h"

namespace stowage {

class WorkQueue {
 public:
  WorkQueue(size_t threads, size_t max_queued);
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Returns false (and drops the task) once the queue has failed.
  bool submit(std::function<Status()> task);
  // Queues a copy of task only if there is room and the queue has not failed;
  // never blocks. Tasks that submit more tasks to their own queue use this and
  // run the task themselves when it returns false, so they cannot deadlock.
  bool try_submit(const std::function<Status()>& task);
  // Waits until every submitted task finished; returns the first error.
  Status wait();
  bool failed() const { return failed_.load(); }
  void fail(Error error);

 private:
  void worker();

  std::mutex mu_;
  std::condition_variable has_work_, has_room_, idle_;
  std::deque<std::function<Status()>> queue_;
  size_t max_queued_;
  size_t running_ = 0;
  bool stopping_ = false;
  std::atomic<bool> failed_{false};
  std::optional<Error> first_error_;
  std::vector<std::thread> threads_;
};

// Number of worker threads to use when the user did not say: the cores.
size_t default_workers();

}  // namespace stowage
