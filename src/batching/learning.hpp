#pragma once
// What a policy that learns can know, from what the batching core tells it and nothing else:
// the arrival rate of late (from the arrival times it has been shown) and the service time of
// each batch size (from the batches it has seen complete). Both are deterministic functions of
// what they were told, so a run and its simulation decide alike.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "core/time.hpp"

namespace greenbatch {

// The arrival rate over the last `window`: every arrival is shown to the policy at least once,
// in `waiting` at the decision that dispatches it; `see` keeps each one once, by its place in
// the stream (the items dispatched before the oldest waiting, plus its place in the queue).
class RecentArrivals {
 public:
  explicit RecentArrivals(TimeNs window_ns) : window_ns_(window_ns) {}
  // `waiting` as decide() sees it; `dispatched`: the items dispatched before it (all observed:
  // one batch is out at a time, and it completes before the next decision).
  void see(std::span<const TimeNs> waiting, std::uint64_t dispatched);
  // Arrivals per second in (now - window, now]; over the time since the first arrival while that
  // is shorter than the window. None before two arrivals.
  std::optional<double> rate_hz(TimeNs now);
  TimeNs window_ns() const { return window_ns_; }

 private:
  TimeNs window_ns_;
  std::deque<TimeNs> times_;  // the arrivals of the last window, oldest first
  std::uint64_t seen_ = 0;    // arrivals kept so far (the stream's first `seen_`)
  TimeNs first_ns_ = 0;       // the first arrival ever seen
};

// Service time per batch size, learned from completed batches: an exponentially weighted mean
// per size seen (weight kWeight for the newest); between two sizes seen, the line through them;
// above the largest, proportional to the size (pessimistic: no economy of scale assumed until
// seen); below the smallest, the smallest's.
class LearnedService {
 public:
  static constexpr double kWeight = 0.25;
  void observe(std::size_t size, TimeNs service_ns);
  bool known() const { return !sizes_.empty(); }
  // Seconds; 0 when nothing was observed yet.
  double service_s(std::size_t size) const;

 private:
  std::vector<std::size_t> sizes_;  // ascending, those seen
  std::vector<double> seconds_;     // their weighted means
};

}  // namespace greenbatch
