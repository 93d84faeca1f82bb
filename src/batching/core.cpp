#include "batching/core.hpp"

#include <fmt/format.h>

#include <stdexcept>

namespace greenbatch {

void BatchingCore::submit(const Request& r) {
  if (closed_) throw std::logic_error("BatchingCore::submit after close()");
  if (r.arrival_ns < last_arrival_ns_) {
    throw std::logic_error(fmt::format("BatchingCore::submit: request {} arrives at {} ns, before the last ({} ns)", r.id,
                                       r.arrival_ns, last_arrival_ns_));
  }
  last_arrival_ns_ = r.arrival_ns;
  arrivals_.push_back(r.arrival_ns);
  requests_.push_back(r);
}

void BatchingCore::compact() {
  // Drop the requests handed out once they are at least half the vectors: each request is
  // moved at most a constant number of times on average.
  if (head_ == 0 || head_ < arrivals_.size() / 2) return;
  arrivals_.erase(arrivals_.begin(), arrivals_.begin() + static_cast<std::ptrdiff_t>(head_));
  requests_.erase(requests_.begin(), requests_.begin() + static_cast<std::ptrdiff_t>(head_));
  head_ = 0;
}

Wakeup BatchingCore::next_wakeup(TimeNs now) {
  if (in_flight_) throw std::logic_error("BatchingCore::next_wakeup while a batch is out (call on_batch_done first)");
  compact();
  const std::span<const TimeNs> waiting(arrivals_.data() + head_, arrivals_.size() - head_);
  if (closed_ && waiting.empty()) return {Wakeup::Kind::kDrained, {}, 0};
  const Decision d = policy_.decide(waiting, now, closed_);
  switch (d.kind) {
    case Decision::Kind::kDispatch: {
      if (d.count == 0 || d.count > waiting.size()) {
        throw std::logic_error(fmt::format("policy {} asked to dispatch {} of {} waiting requests", policy_.spec(),
                                           d.count, waiting.size()));
      }
      // A copy: requests submitted while the batch runs may move the queue.
      const auto first = requests_.begin() + static_cast<std::ptrdiff_t>(head_);
      batch_.assign(first, first + static_cast<std::ptrdiff_t>(d.count));
      head_ += d.count;
      in_flight_ = true;
      return {Wakeup::Kind::kDispatch, batch_, 0};
    }
    case Decision::Kind::kWaitUntil:
      if (d.until <= now) {
        throw std::logic_error(
            fmt::format("policy {} asked to wait until {} ns, not after now ({} ns)", policy_.spec(), d.until, now));
      }
      return {Wakeup::Kind::kAt, {}, d.until};
    case Decision::Kind::kWaitForArrival:
      if (closed_) {
        throw std::logic_error(fmt::format("policy {} waits for an arrival after the stream closed, with {} waiting",
                                           policy_.spec(), waiting.size()));
      }
      return {Wakeup::Kind::kOnSubmit, {}, 0};
  }
  throw std::logic_error("BatchingCore: unknown decision");
}

void BatchingCore::on_batch_done(const BatchRecord& batch) {
  if (!in_flight_) throw std::logic_error("BatchingCore::on_batch_done without a batch out");
  in_flight_ = false;
  policy_.observe(batch);
}

}  // namespace greenbatch
