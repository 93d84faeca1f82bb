#include "backends/prepare_pool.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace greenbatch {

PreparePool::PreparePool(Prepare prepare, std::size_t item_bytes, int threads, std::size_t capacity)
    : prepare_(std::move(prepare)), item_bytes_(item_bytes), capacity_(std::max<std::size_t>(1, capacity)) {
  if (threads < 0) throw std::invalid_argument("PreparePool: threads must be 0 or more");
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { worker(); });
}

PreparePool::~PreparePool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  work_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void PreparePool::reset() {
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return running_ == 0; });
  for (auto& [id, item] : items_) {
    if (!item.bytes.empty()) spare_.push_back(std::move(item.bytes));
  }
  items_.clear();
  queue_.clear();
  ahead_ = 0;
  durations_.clear();
}

std::vector<std::uint8_t> PreparePool::buffer_locked() {
  if (spare_.empty()) return std::vector<std::uint8_t>(item_bytes_);
  std::vector<std::uint8_t> b = std::move(spare_.back());
  spare_.pop_back();
  return b;
}

PreparePool::Item& PreparePool::announce_locked(const Request& request) {
  auto [it, fresh] = items_.try_emplace(request.id);
  if (fresh) {
    it->second.request = request;
    if (!workers_.empty()) queue_.push_back(request.id);
  }
  return it->second;
}

void PreparePool::arrived(const Request& request) {
  {
    std::lock_guard lock(mutex_);
    announce_locked(request);
  }
  work_.notify_one();
}

void PreparePool::prepare_locked(std::unique_lock<std::mutex>& lock, Item& item) {
  item.state = State::kRunning;
  ++running_;
  if (item.bytes.empty()) item.bytes = buffer_locked();
  const Request request = item.request;
  std::uint8_t* out = item.bytes.data();
  lock.unlock();
  std::exception_ptr error;
  const auto start = std::chrono::steady_clock::now();
  try {
    prepare_(request, out);
  } catch (...) {
    error = std::current_exception();
  }
  const TimeNs took = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
  lock.lock();
  // `item` stays valid: only collect() erases an item, and only once it is done or failed.
  item.state = error ? State::kFailed : State::kDone;
  item.error = error;
  --running_;
  if (request.id >= durations_.size()) durations_.resize(request.id + 1, 0);
  durations_[request.id] = std::max<TimeNs>(took, 1);
  done_.notify_all();
}

void PreparePool::worker() {
  std::unique_lock lock(mutex_);
  while (true) {
    work_.wait(lock, [&] { return stop_ || (!queue_.empty() && ahead_ < capacity_); });
    if (stop_) return;
    const std::uint64_t id = queue_.front();
    queue_.pop_front();
    auto it = items_.find(id);
    if (it == items_.end() || it->second.state != State::kQueued) continue;  // collected or taken already
    it->second.by_worker = true;
    ++ahead_;
    prepare_locked(lock, it->second);
  }
}

void PreparePool::collect(std::span<const Request> batch, const Use& use) {
  std::unique_lock lock(mutex_);
  for (const Request& r : batch) announce_locked(r);
  lock.unlock();
  work_.notify_all();
  lock.lock();
  std::exception_ptr first_error;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    Item& item = items_.at(batch[i].id);
    if (item.state == State::kQueued) prepare_locked(lock, item);
    done_.wait(lock, [&] { return item.state == State::kDone || item.state == State::kFailed; });
    if (item.state == State::kFailed) {
      if (!first_error) first_error = item.error;
    } else if (!first_error) {
      lock.unlock();
      try {
        use(i, item.bytes.data());  // the item is done: nobody else touches it
      } catch (...) {
        first_error = std::current_exception();
      }
      lock.lock();
    }
    if (item.by_worker) --ahead_;
    spare_.push_back(std::move(item.bytes));
    items_.erase(batch[i].id);
    work_.notify_one();
  }
  if (first_error) std::rethrow_exception(first_error);
}

std::vector<TimeNs> PreparePool::durations() const {
  std::lock_guard lock(mutex_);
  return durations_;
}

}  // namespace greenbatch
