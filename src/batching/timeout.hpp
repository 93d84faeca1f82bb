#pragma once
// timeout:N:D: dispatch when N wait, or when the oldest has waited D (Triton's
// max_queue_delay, TorchServe's max_batch_delay); once the stream has ended, at once.
#include <fmt/format.h>

#include "batching/policy.hpp"
#include "core/units.hpp"

namespace greenbatch {

class TimeoutPolicy final : public BatchPolicy {
 public:
  TimeoutPolicy(std::size_t n, TimeNs delay_ns) : n_(n), delay_ns_(delay_ns) {}
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override {
    if (waiting.size() >= n_) return Decision::dispatch(n_);
    if (waiting.empty()) return Decision::wait_for_arrival();
    const TimeNs deadline = waiting.front() + delay_ns_;
    if (now >= deadline || stream_closed) return Decision::dispatch(waiting.size());
    return Decision::wait_until(deadline);
  }
  std::string spec() const override { return fmt::format("timeout:{}:{}", n_, duration_spec(delay_ns_)); }
  std::string label() const override { return fmt::format("T{}/{}", n_, duration_spec(delay_ns_)); }
  std::size_t max_batch() const override { return n_; }

 private:
  std::size_t n_;
  TimeNs delay_ns_;
};

inline const PolicyKind kTimeoutKind{
    "timeout", "timeout:N:D (N wait or the oldest waited D, e.g. timeout:32:50ms)", 2,
    [](std::string_view spec, std::string_view args) -> std::unique_ptr<BatchPolicy> {
      const auto [n_text, delay_text] = split_spec(args);
      if (n_text.empty() || delay_text.empty()) {
        policy_error(spec, "timeout needs a batch size and a delay, e.g. timeout:32:50ms");
      }
      const std::size_t n = policy_batch_size(spec, n_text, "N");
      return std::make_unique<TimeoutPolicy>(n, policy_duration(spec, delay_text, "D"));
    },
    [](const TuneSpace& space, std::vector<std::string>& out) {
      for (std::size_t n = 2; n <= space.cap; ++n)
        for (TimeNs d : space.delays_ns) out.push_back(fmt::format("timeout:{}:{}", n, duration_spec(d)));
    }};

}  // namespace greenbatch
