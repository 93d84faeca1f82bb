#pragma once
// greedy:CAP: take everything waiting, up to CAP (the study's baseline, CAP 128); with nothing
// waiting, wait for the next arrival.
#include <fmt/format.h>

#include <algorithm>

#include "batching/policy.hpp"

namespace greenbatch {

class GreedyPolicy final : public BatchPolicy {
 public:
  explicit GreedyPolicy(std::size_t cap) : cap_(cap) {}
  Decision decide(std::span<const TimeNs> waiting, TimeNs, bool) const override {
    if (waiting.empty()) return Decision::wait_for_arrival();
    return Decision::dispatch(std::min(waiting.size(), cap_));
  }
  std::string spec() const override { return fmt::format("greedy:{}", cap_); }
  std::string label() const override { return "G"; }
  std::size_t max_batch() const override { return cap_; }

 private:
  std::size_t cap_;
};

inline const PolicyKind kGreedyKind{
    "greedy", "greedy or greedy:CAP (all waiting, at most CAP; default 128)", 1,
    [](std::string_view spec, std::string_view args) -> std::unique_ptr<BatchPolicy> {
      if (args.empty()) return std::make_unique<GreedyPolicy>(128);
      return std::make_unique<GreedyPolicy>(policy_batch_size(spec, args, "CAP"));
    },
    [](const TuneSpace& space, std::vector<std::string>& out) {
      for (std::size_t n = 1; n <= space.cap; ++n) out.push_back(fmt::format("greedy:{}", n));
    }};

}  // namespace greenbatch
