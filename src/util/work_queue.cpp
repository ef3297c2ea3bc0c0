#include "util/work_queue.h"

namespace stowage {

size_t default_workers() {
  unsigned n = std::thread::hardware_concurrency();
  return n ? n : 2;
}

WorkQueue::WorkQueue(size_t threads, size_t max_queued) : max_queued_(max_queued ? max_queued : 1) {
  if (threads == 0) threads = 1;
  for (size_t i = 0; i < threads; i++) threads_.emplace_back([this] { worker(); });
}

WorkQueue::~WorkQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  has_work_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WorkQueue::submit(std::function<Status()> task) {
  std::unique_lock lock(mu_);
  has_room_.wait(lock, [&] { return queue_.size() < max_queued_ || failed_; });
  if (failed_) return false;
  queue_.push_back(std::move(task));
  has_work_.notify_one();
  return true;
}

bool WorkQueue::try_submit(const std::function<Status()>& task) {
  std::lock_guard lock(mu_);
  if (failed_ || queue_.size() >= max_queued_) return false;
  queue_.push_back(task);
  has_work_.notify_one();
  return true;
}

void WorkQueue::fail(Error error) {
  std::lock_guard lock(mu_);
  if (!first_error_) first_error_ = std::move(error);
  failed_ = true;
  has_room_.notify_all();
}

void WorkQueue::worker() {
  for (;;) {
    std::function<Status()> task;
    {
      std::unique_lock lock(mu_);
      has_work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      running_++;
      has_room_.notify_one();
    }
    Status s = task();
    if (!s.ok()) fail(std::move(s).error());
    std::lock_guard lock(mu_);
    running_--;
    if (running_ == 0 && queue_.empty()) idle_.notify_all();
  }
}

Status WorkQueue::wait() {
  std::unique_lock lock(mu_);
  idle_.wait(lock, [&] { return running_ == 0 && queue_.empty(); });
  if (first_error_) return *first_error_;
  return ok_status();
}

}  // namespace stowage
