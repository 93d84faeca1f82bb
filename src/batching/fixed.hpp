#pragma once
// fixed:N: dispatch when N wait; at the end of the stream the partial batch goes too (never
// dropped).
#include <fmt/format.h>

#include "batching/policy.hpp"

namespace greenbatch {

class FixedPolicy final : public BatchPolicy {
 public:
  explicit FixedPolicy(std::size_t n) : n_(n) {}
  Decision decide(std::span<const TimeNs> waiting, TimeNs, bool stream_closed) const override {
    if (waiting.size() >= n_) return Decision::dispatch(n_);
    if (stream_closed && !waiting.empty()) return Decision::dispatch(waiting.size());
    return Decision::wait_for_arrival();
  }
  std::string spec() const override { return fmt::format("fixed:{}", n_); }
  std::string label() const override { return fmt::format("{}", n_); }
  std::size_t max_batch() const override { return n_; }

 private:
  std::size_t n_;
};

inline const PolicyKind kFixedKind{
    "fixed", "fixed:N (dispatch when N wait)", 0,
    [](std::string_view spec, std::string_view args) -> std::unique_ptr<BatchPolicy> {
      if (args.empty()) policy_error(spec, "fixed needs its batch size, e.g. fixed:16");
      return std::make_unique<FixedPolicy>(policy_batch_size(spec, args, "N"));
    },
    [](const TuneSpace& space, std::vector<std::string>& out) {
      for (std::size_t n = 1; n <= space.cap; ++n) out.push_back(fmt::format("fixed:{}", n));
    }};

}  // namespace greenbatch
