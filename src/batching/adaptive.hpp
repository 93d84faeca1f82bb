#pragma once
// Policies that learn while they run (issue 22), each a deterministic function of what the core
// told it (the waiting arrivals at each decision, the batches that completed):
//
// adaptive:p99=D[,cap=N][,window=D][,budget=F][,profile=FILE]: holds a latency target at the
//   least energy while the load changes. The requests waiting are held as long as the target
//   allows, for fuller batches: with n waiting since o, it waits for one more until
//   o + B - S(n + 1) and then dispatches the n. B is `budget` (default kBudgetShare) of the
//   target; S a high estimate of the service time: with profile=FILE, the profile's p99 per
//   size, back to back or after idling, whichever is higher; without, the weighted mean of the
//   batches seen plus kLearnedMargin (it starts with batches of one, to learn). It dispatches at
//   once when n reach its size limit: the largest size b whose batch leaves the next one its
//   time (S(b) plus the service of what arrives meanwhile, at the rate estimated over the last
//   `window`, default 2 s, within B), and no larger than the size of least energy per image
//   (the profile's dynamic energy per size; without a profile, cap). So at a low rate it waits
//   as long as the target allows, and at a high rate it takes smaller batches sooner.
// aimd:p99=D[,cap=N][,step=N][,cut=F]: Clipper's additive-increase, multiplicative-decrease
//   batch size (NSDI 2017): everything waiting up to the current size, dispatched as soon as the
//   server is free; the size grows by `step` (1) after a batch whose oldest request met the
//   target and is cut to `cut` (0.9) times itself, at least 1, after one that missed it.
// The target may also be max=D (every request), the figure the budget is taken of.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batching/learning.hpp"
#include "batching/policy.hpp"

namespace greenbatch {

// A profile's figures per batch size, as the adaptive policy reads them (sim/profile.hpp writes
// them): service time (median, back to back) and dynamic energy per image, for sizes 1 to cap.
struct SizeTable {
  std::vector<double> service_s;                 // [b - 1] median
  std::vector<double> service_hi_s;              // [b - 1] p90 (the median where none is known)
  std::vector<std::optional<double>> dynamic_j;  // [b - 1] per image; none without energy figures
};
// How `profile=FILE` is read into a table for sizes 1 to cap: installed by the layer that knows
// profiles (sim/profile.cpp installs its reader when it is linked in); with none installed,
// profile= is refused, saying so. The reader throws UserError naming the file.
using SizeTableReader = SizeTable (*)(const std::string& path, std::size_t cap);
void set_size_table_reader(SizeTableReader reader);

class AdaptivePolicy final : public BatchPolicy {
 public:
  static constexpr double kBudgetShare = 0.95;    // of the target: room for the arrivals' noise
  static constexpr double kLearnedMargin = 0.15;  // learned service times are means: this much above
  static constexpr double kEnergyTolerance = 0.01;  // a size within 1 % of the least energy is as good
  static constexpr TimeNs kDefaultWindowNs = 2'000'000'000;

  AdaptivePolicy(std::string target_text, TimeNs target_ns, std::size_t cap, TimeNs window_ns,
                 std::string profile_path, std::optional<SizeTable> table, double budget_share = kBudgetShare);
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override;
  void observe(const BatchRecord& batch) override;
  std::string spec() const override;
  std::string label() const override { return "A"; }
  std::size_t max_batch() const override { return cap_; }

  // The size limit at a rate (arrivals per second; none: unknown), and the wait a full batch of
  // it allows the oldest (B - S(limit)).
  struct Plan {
    std::size_t batch = 1;
    TimeNs wait_ns = 0;
  };
  Plan plan(std::optional<double> rate_hz) const;

 private:
  double service_s(std::size_t b) const;  // the high estimate
  bool knows_service() const { return table_ || learned_.known(); }

  std::string target_text_;
  double budget_share_;
  TimeNs budget_ns_;
  std::size_t cap_;
  std::string profile_path_;
  std::optional<SizeTable> table_;
  std::size_t energy_limit_;  // the size of least energy per image (the cap without energy figures)
  LearnedService learned_;
  std::uint64_t dispatched_ = 0;  // items in the batches observed
  // What decide() was shown: the policy's memory of the arrivals (it changes no decision twice:
  // the same calls give the same state).
  mutable RecentArrivals arrivals_;
};

class AimdPolicy final : public BatchPolicy {
 public:
  AimdPolicy(std::string target_text, TimeNs target_ns, std::size_t cap, std::size_t step, double cut);
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override;
  void observe(const BatchRecord& batch) override;
  std::string spec() const override;
  std::string label() const override { return "AIMD"; }
  std::size_t max_batch() const override { return cap_; }
  std::size_t size() const { return size_; }

 private:
  std::string target_text_;
  TimeNs target_ns_;
  std::size_t cap_, step_;
  double cut_;
  std::size_t size_ = 1;
  mutable TimeNs oldest_ns_ = 0;  // the oldest arrival of the batch dispatched last
};

extern const PolicyKind kAdaptiveKind;
extern const PolicyKind kAimdKind;

}  // namespace greenbatch
