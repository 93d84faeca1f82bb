#pragma once
// Per-request input preparation off the batch's critical path, as a server does it: each
// request is prepared (a JPEG decoded, resized and cropped) by a small pool of worker threads
// when it arrives, and its batch, when it runs, only collects the prepared bytes. A request no
// worker has started by then is prepared on the batch's own thread, so nothing waits on a
// worker that has not begun. The number of requests prepared ahead and not yet collected is
// bounded (`capacity`), so an overloaded run's memory stays bounded too. No LibTorch here.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "core/records.hpp"
#include "core/time.hpp"

namespace greenbatch {

class PreparePool {
 public:
  // Writes the request's `item_bytes` prepared bytes to `out`; may throw (the batch that
  // collects the request gets the exception).
  using Prepare = std::function<void(const Request& request, std::uint8_t* out)>;
  // Receives the index in the batch and the prepared bytes of each request, in order.
  using Use = std::function<void(std::size_t index, const std::uint8_t* bytes)>;

  // `threads` workers (0: every request is prepared by its batch, on the critical path);
  // `capacity` requests at most prepared ahead of their batch (at least 1).
  PreparePool(Prepare prepare, std::size_t item_bytes, int threads, std::size_t capacity);
  ~PreparePool();  // stops the workers (after the request each is preparing)
  PreparePool(const PreparePool&) = delete;
  PreparePool& operator=(const PreparePool&) = delete;

  int threads() const { return static_cast<int>(workers_.size()); }
  std::size_t capacity() const { return capacity_; }

  // A new run: waits for the requests being prepared, then forgets every request and timing.
  // Request ids may start again.
  void reset();
  // A request arrived (ids increasing within a run): a worker prepares it when one is free.
  void arrived(const Request& request);
  // Collects the batch's prepared requests in order: waits for those being prepared, prepares
  // on this thread those no worker has started (unannounced ones are announced first, so the
  // workers help), and hands each to `use`. Rethrows the first failure after the whole batch
  // has been collected (nothing of it is left behind).
  void collect(std::span<const Request> batch, const Use& use);

  // Time spent preparing each request of this run collected so far, indexed by id (ns; 0 for a
  // request not prepared yet).
  std::vector<TimeNs> durations() const;

 private:
  enum class State { kQueued, kRunning, kDone, kFailed };
  struct Item {
    Request request;
    State state = State::kQueued;
    bool by_worker = false;  // counts against the capacity
    std::vector<std::uint8_t> bytes;
    std::exception_ptr error;
  };

  void worker();
  // Prepares `item` (unlocked), then records it done or failed. Called with the lock held.
  void prepare_locked(std::unique_lock<std::mutex>& lock, Item& item);
  Item& announce_locked(const Request& request);
  std::vector<std::uint8_t> buffer_locked();

  const Prepare prepare_;
  const std::size_t item_bytes_;
  const std::size_t capacity_;

  mutable std::mutex mutex_;
  std::condition_variable work_;  // workers: a request queued, room freed, or stop
  std::condition_variable done_;  // collectors and reset: a request prepared
  std::map<std::uint64_t, Item> items_;
  std::deque<std::uint64_t> queue_;  // announced ids in order (stale entries are skipped)
  std::size_t ahead_ = 0;            // requests taken by workers and not collected yet
  std::size_t running_ = 0;          // requests being prepared, by anyone
  std::vector<std::vector<std::uint8_t>> spare_;  // buffers to reuse
  std::vector<TimeNs> durations_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace greenbatch
