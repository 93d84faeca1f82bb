#pragma once
// switch:P1@T1+P2@T2+...: policy P1 from T1 (0s), P2 from T2, ... on the run's clock (its first
// arrival at 0; a server's start). What `tune --oracle` builds: the best static policy of each
// segment of a load that changes, switched at the true change points. A wait that would pass the
// next switch ends at it, so the next policy decides from then on.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "batching/policy.hpp"
#include "core/units.hpp"

namespace greenbatch {

class SwitchPolicy final : public BatchPolicy {
 public:
  struct Part {
    TimeNs from_ns = 0;
    std::unique_ptr<BatchPolicy> policy;
  };
  explicit SwitchPolicy(std::vector<Part> parts) : parts_(std::move(parts)) {}

  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override {
    const std::size_t k = at(now);
    Decision d = parts_[k].policy->decide(waiting, now, stream_closed);
    if (k + 1 < parts_.size() && !waiting.empty()) {
      const TimeNs next = parts_[k + 1].from_ns;
      if (d.kind == Decision::Kind::kWaitForArrival || (d.kind == Decision::Kind::kWaitUntil && d.until > next)) {
        d = Decision::wait_until(next);
      }
    }
    return d;
  }
  void observe(const BatchRecord& batch) override {
    for (auto& p : parts_) p.policy->observe(batch);
  }
  std::string spec() const override {
    std::string s = "switch:";
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      s += fmt::format("{}{}@{}", i ? "+" : "", parts_[i].policy->spec(), duration_spec(parts_[i].from_ns));
    }
    return s;
  }
  std::string label() const override { return "S"; }
  std::size_t max_batch() const override {
    std::size_t m = 0;
    for (const auto& p : parts_) m = std::max(m, p.policy->max_batch());
    return m;
  }

 private:
  std::size_t at(TimeNs now) const {
    std::size_t k = 0;
    while (k + 1 < parts_.size() && parts_[k + 1].from_ns <= now) ++k;
    return k;
  }
  std::vector<Part> parts_;
};

inline const PolicyKind kSwitchKind{
    "switch", "switch:P1@0s+P2@T2+... (P1 from the start, P2 from T2, ...; what tune --oracle builds)", 5,
    [](std::string_view spec, std::string_view args) -> std::unique_ptr<BatchPolicy> {
      std::vector<SwitchPolicy::Part> parts;
      std::size_t start = 0;
      while (start <= args.size()) {
        std::size_t plus = args.find('+', start);
        if (plus == std::string_view::npos) plus = args.size();
        const std::string_view item = args.substr(start, plus - start);
        const std::size_t at = item.rfind('@');
        if (at == std::string_view::npos || at == 0) {
          policy_error(spec, fmt::format("'{}' is not POLICY@TIME", item));
        }
        const std::string_view inner = item.substr(0, at);
        if (inner.starts_with("switch")) policy_error(spec, "a switch cannot hold another switch");
        const TimeNs from = policy_duration(spec, item.substr(at + 1), "TIME");
        if (parts.empty() && from != 0) policy_error(spec, "the first policy starts at 0s");
        if (!parts.empty() && from <= parts.back().from_ns) policy_error(spec, "the times must increase");
        parts.push_back({from, parse_policy(inner)});
        start = plus + 1;
      }
      return std::make_unique<SwitchPolicy>(std::move(parts));
    },
    [](const TuneSpace&, std::vector<std::string>&) {}};

}  // namespace greenbatch
