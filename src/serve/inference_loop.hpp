#pragma once
// The server's inference thread: requests from every connection enter one BatchingCore, the
// policy decides on the real clock exactly as in a replay, and one thread runs the batches
// through the backend, one at a time. A request of N items is N requests in the core; its
// completion is called (on the inference thread) once all N are done. Admission is bounded:
// a request that would take the queue past `max_queue` items is refused at once (load
// shedding, 503), never queued. close() stops admission, serves everything already admitted
// (a partial batch included: the policy sees the stream closed) and joins the thread.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "backends/backend.hpp"
#include "batching/core.hpp"
#include "core/records.hpp"

namespace greenbatch::serve {

// What a request gets back: its items' output rows (width values each), or why it failed.
struct Completion {
  std::string error;           // empty: done
  std::size_t width = 0;       // values per item (0: the backend gives none)
  std::vector<float> outputs;  // items x width
  TimeNs arrival_ns = 0;       // when it was admitted (ns since the loop started)
  TimeNs done_ns = 0;          // when its last item's batch completed
};

class InferenceLoop {
 public:
  using Done = std::function<void(Completion&&)>;
  enum class Admit { kAccepted, kQueueFull, kClosed };

  // Called on the inference thread after each batch (outside the loop's lock) with the batch and
  // each of its items' wait in the queue (dispatch minus arrival, ns): the server's metrics.
  using BatchObserver = std::function<void(const BatchRecord& batch, std::span<const TimeNs> waits)>;
  // `on_batch` runs before the batch's answers are handed to their connections, so that a client
  // that has its answer finds the batch counted; it must be quick. `after_answers` runs once they
  // are handed over, for what may take time (a meter's read: NVML's energy counter takes about
  // 4 ms on an H100), so that it delays no answer; it still runs before the next batch.
  struct Observers {
    BatchObserver on_batch;
    BatchObserver after_answers;
  };

  // The backend and policy outlive the loop; `max_queue` items may wait at most. `prelude`, when
  // given, runs first on the inference thread (the backend's warm-up: LibTorch keeps state per
  // thread, such as OpenMP's team and malloc's arena, so a model warms up where it will run);
  // requests admitted meanwhile wait for it. wait_prelude() waits for it and rethrows its error.
  InferenceLoop(Backend& backend, BatchPolicy& policy, std::size_t max_queue, Observers observers = {},
                std::function<void()> prelude = {}, std::size_t record_limit = kRecordLimit);

  // The loop records every item's arrival and every batch (for the server's lifetime record) until
  // its batches cover `record_limit` items, then only counts: a server's memory stays bounded
  // (2^24 items: 128 MiB of arrivals, at most 512 MiB of batches) however long it runs.
  static constexpr std::size_t kRecordLimit = std::size_t{1} << 24;
  ~InferenceLoop();  // close()
  InferenceLoop(const InferenceLoop&) = delete;
  InferenceLoop& operator=(const InferenceLoop&) = delete;

  // Admits a request of items.size() items (at least 1); each payload must stay valid until
  // `done` has been called. `done` runs on the inference thread: it must not block.
  Admit submit(std::span<const Payload* const> items, Done done);
  // Waits for the prelude to end; rethrows what it threw. Call it at most once.
  void wait_prelude();
  // Stops admission, serves what was admitted, joins the inference thread. Idempotent, and callable from several threads at once.
  void close();

  std::size_t waiting() const;  // items admitted and not dispatched yet
  // The batches recorded (all of them, up to the record limit; dispatch and completion in ns since
  // the loop started).
  std::vector<BatchRecord> batches() const;
  // The arrivals of the items recorded, in admission order (ns since the loop started): every
  // admitted item's, or once the record limit is reached, exactly those of the recorded batches.
  std::vector<TimeNs> arrivals() const;
  // True once the record limit was reached: arrivals() and batches() cover the first items only.
  bool record_truncated() const;
  // Now, in ns since the loop started (the clock of arrivals and batches).
  TimeNs now() const;
  // What the backend has done so far: an energy model's inputs and the metrics' divisor.
  struct Activity {
    TimeNs now = 0;               // when this was read
    TimeNs busy_ns = 0;           // time batches have run, the one running now included
    bool busy = false;            // a batch runs now
    std::uint64_t items_done = 0; // items of completed batches
    std::uint64_t batches = 0;    // completed batches
    std::uint64_t admitted = 0;   // items admitted
  };
  Activity activity() const;

 private:
  struct Pending {
    std::size_t items = 0;
    std::size_t remaining = 0;
    Completion result;
    Done done;
  };
  void loop();
  void run_loop(std::unique_lock<std::mutex>& lock);

  Backend& backend_;
  const Observers observers_;
  const std::size_t max_queue_;
  const std::chrono::steady_clock::time_point origin_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  BatchingCore core_;
  bool closed_ = false;
  std::uint64_t next_id_ = 0;
  // Item id -> its request and its index in it.
  std::unordered_map<std::uint64_t, std::pair<std::shared_ptr<Pending>, std::size_t>> items_;
  std::vector<TimeNs> arrivals_;
  std::vector<BatchRecord> batches_;
  const std::size_t record_limit_;
  bool recording_ = true;
  std::uint64_t batches_done_ = 0;
  TimeNs busy_done_ns_ = 0;       // completed batches' time
  TimeNs running_since_ = -1;     // the running batch's dispatch (-1: none runs)
  std::uint64_t items_done_ = 0;
  std::promise<void> prelude_done_;
  std::mutex join_mutex_;  // close() from several threads: one joins
  std::thread thread_;
};

}  // namespace greenbatch::serve
