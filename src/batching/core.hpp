#pragma once
// The batching core: owns the queue of waiting requests and asks the policy what to do. Whoever
// owns time drives it (LoadGen's split): the replay harness (engine/engine.hpp) from a
// precomputed schedule on a clock, a server from its sockets. Three calls:
//   submit(request)      a request has arrived (arrival order);
//   next_wakeup(now)     what to do now: a batch to run, or when to ask again;
//   on_batch_done(batch) the batch handed out has completed (the policy observes it).
// One batch is out at a time (one inference thread). The queue costs O(1) amortised per request
// however long it grows.
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "batching/policy.hpp"

namespace greenbatch {

struct Wakeup {
  enum class Kind {
    kDispatch,        // run `batch` now
    kAt,              // nothing to run; ask again at `at`, or when a request is submitted, if sooner
    kOnSubmit,        // nothing to run until a request is submitted
    kDrained,         // closed and nothing waiting: the stream is done
  };
  Kind kind = Kind::kOnSubmit;
  std::span<const Request> batch;  // kDispatch: the oldest waiting requests, valid until the next next_wakeup
  TimeNs at = 0;                   // kAt
};

class BatchingCore {
 public:
  explicit BatchingCore(BatchPolicy& policy) : policy_(policy) {}
  // A request arrived. Arrival times must not decrease (std::logic_error otherwise).
  void submit(const Request& r);
  // No request will be submitted any more.
  void close() { closed_ = true; }
  bool closed() const { return closed_; }
  std::size_t waiting() const { return arrivals_.size() - head_; }
  // The policy's decision on the waiting requests at `now`. A dispatch takes the batch out of the
  // queue; the caller runs it and reports it with on_batch_done before asking again. A policy
  // that breaks its contract (dispatches none or more than wait, waits for a time already past,
  // or waits for an arrival after the stream closed) raises std::logic_error instead of hanging.
  Wakeup next_wakeup(TimeNs now);
  // The batch handed out last has completed: `batch` holds its dispatch and completion times.
  void on_batch_done(const BatchRecord& batch);

 private:
  void compact();
  BatchPolicy& policy_;
  // Waiting requests are [head_, end): their arrival times apart, contiguous, for the policy.
  std::vector<TimeNs> arrivals_;
  std::vector<Request> requests_;
  std::size_t head_ = 0;
  std::vector<Request> batch_;  // the batch out
  TimeNs last_arrival_ns_ = std::numeric_limits<TimeNs>::min();
  bool closed_ = false;
  bool in_flight_ = false;
};

}  // namespace greenbatch
