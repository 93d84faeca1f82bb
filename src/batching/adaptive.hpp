#pragma once
// Policies that learn while they run (issue 22), each a deterministic function of what the core
// told it (the waiting arrivals at each decision, the batches that completed):
//
// adaptive:p99=D[,cap=N][,window=D][,profile=FILE]: holds a latency target at the least energy
//   while the load changes. At each decision it estimates the arrival rate over the last
//   `window` (default 2 s) and picks a batch size b and a wait bound: the oldest request may wait
//   budget - S(b), where budget is kBudgetShare of the target and S(b) the service time of b;
//   b is the size that fills within that wait at the estimated rate, keeps the server below
//   kMaxUtilisation, and costs the least energy per image (the profile's dynamic energy per
//   image per size; without a profile, the largest such b). Service times come from the
//   profile when given, else from the batches seen (it starts with batches of one). A request
//   past its wait is served at once with everything waiting, up to cap (a backlog drains).
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
  std::vector<double> service_s;                 // [b - 1]
  std::vector<std::optional<double>> dynamic_j;  // [b - 1] per image; none without energy figures
};
// How `profile=FILE` is read into a table for sizes 1 to cap: installed by the layer that knows
// profiles (sim/profile.cpp installs its reader when it is linked in); with none installed,
// profile= is refused, saying so. The reader throws UserError naming the file.
using SizeTableReader = SizeTable (*)(const std::string& path, std::size_t cap);
void set_size_table_reader(SizeTableReader reader);

class AdaptivePolicy final : public BatchPolicy {
 public:
  static constexpr double kBudgetShare = 0.8;      // of the target: room for the arrivals' noise
  static constexpr double kMaxUtilisation = 0.9;   // the server's share of busy time at most
  static constexpr TimeNs kDefaultWindowNs = 2'000'000'000;

  AdaptivePolicy(std::string target_text, TimeNs target_ns, std::size_t cap, TimeNs window_ns,
                 std::string profile_path, std::optional<SizeTable> table);
  Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const override;
  void observe(const BatchRecord& batch) override;
  std::string spec() const override;
  std::string label() const override { return "A"; }
  std::size_t max_batch() const override { return cap_; }

  // The plan at a rate (arrivals per second, none: unknown): batch size and the oldest's wait.
  struct Plan {
    std::size_t batch = 1;
    TimeNs wait_ns = 0;
  };
  Plan plan(std::optional<double> rate_hz) const;

 private:
  double service_s(std::size_t b) const;

  std::string target_text_;
  TimeNs budget_ns_;
  std::size_t cap_;
  std::string profile_path_;
  std::optional<SizeTable> table_;
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
