#pragma once
// Batching policies: pure functions of what a real server could know at time `now`: the
// arrival times of the requests waiting (oldest first) and whether the stream has ended.
// A policy never sees future arrivals, so the same object could drive a real server.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace greenbatch {

struct Decision {
  enum class Kind { kDispatch, kWaitUntil, kWaitForArrival };
  Kind kind = Kind::kWaitForArrival;
  std::size_t count = 0;  // kDispatch: the oldest `count` waiting requests
  TimeNs until = 0;       // kWaitUntil: wake at this time (or at the next arrival, if sooner)

  static Decision dispatch(std::size_t n) { return {Kind::kDispatch, n, 0}; }
  static Decision wait_until(TimeNs t) { return {Kind::kWaitUntil, 0, t}; }
  static Decision wait_for_arrival() { return {Kind::kWaitForArrival, 0, 0}; }
};

class BatchPolicy {
 public:
  virtual ~BatchPolicy() = default;
  // `waiting`: arrival times of the waiting requests, oldest first. `stream_closed`: no
  // request will arrive any more. With stream_closed and requests waiting, a policy must
  // dispatch (nothing else could ever happen).
  virtual Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const = 0;
  // Canonical spec, e.g. "fixed:16", "greedy:128", "timeout:32:50ms".
  virtual std::string spec() const = 0;
  // The largest batch this policy forms.
  virtual std::size_t max_batch() const = 0;
};

// Dispatch when N wait; at the end of the stream the partial batch goes too (never dropped).
class FixedPolicy final : public BatchPolicy {
 public:
  explicit FixedPolicy(std::size_t n) : n_(n) {}
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override;
  std::string spec() const override;
  std::size_t max_batch() const override { return n_; }

 private:
  std::size_t n_;
};

// Take everything waiting, up to CAP; with nothing waiting, wait for the next arrival.
class GreedyPolicy final : public BatchPolicy {
 public:
  explicit GreedyPolicy(std::size_t cap) : cap_(cap) {}
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override;
  std::string spec() const override;
  std::size_t max_batch() const override { return cap_; }

 private:
  std::size_t cap_;
};

// Dispatch when N wait, or when the oldest has waited `delay` (Triton's max_queue_delay).
class TimeoutPolicy final : public BatchPolicy {
 public:
  TimeoutPolicy(std::size_t n, TimeNs delay_ns) : n_(n), delay_ns_(delay_ns) {}
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override;
  std::string spec() const override;
  std::size_t max_batch() const override { return n_; }

 private:
  std::size_t n_;
  TimeNs delay_ns_;
};

// "fixed:N", "greedy" (CAP 128), "greedy:CAP", "timeout:N:D". Throws UserError saying what is
// accepted.
std::unique_ptr<BatchPolicy> parse_policy(std::string_view spec);

}  // namespace greenbatch
