#pragma once
// Policies that learn while they run (issue 22), each a deterministic function of what the core
// told it (the waiting arrivals at each decision, the batches that completed):
//
// adaptive:p99=D[,cap=N][,window=D][,budget=F][,profile=FILE]: holds a latency target at the
//   least energy while the load changes. The requests waiting are held as long as the target
//   allows, for fuller batches: with n waiting since o, it waits for one more until o + B - S,
//   S the larger of S(n) and S(n + 1), and then dispatches the n. B is `budget` (default
//   kBudgetShare) of the target at low rates, nearer the whole target above kFullBudgetRateHz
//   (budget_s()). S is a high estimate of the service time: with profile=FILE, a quantile of the profile's measured
//   service for the size, in the regime the batch will start in (back to back, or after the
//   idleness the wait makes: the server's last batch ended when observe() said); the quantile
//   is the one a batch of that size may miss at (kMissShare): the p99 for a batch of one or two,
//   lower for larger batches, whose youngest requests are far from the limit; and never below
//   the profile's median plus what the machine took beyond it of late (kExcessBatches). Without
//   a profile, S is the weighted mean of the batches seen plus kLearnedMargin (it starts with
//   batches of one, to learn). It dispatches at once when n reach its size limit: the largest
//   size b whose batch leaves the next one its time (S(b) plus the service of what arrives
//   meanwhile, at the rate estimated over the last `window`, default 2 s, within B), and no
//   larger than the size of least energy per image (the profile's dynamic energy per size;
//   without a profile, cap). So at a low rate it waits as long as the target allows, and at a
//   high rate it takes smaller batches sooner.
// aimd:p99=D[,cap=N][,step=N][,cut=F]: Clipper's additive-increase, multiplicative-decrease
//   batch size (NSDI 2017): everything waiting up to the current size, dispatched as soon as the
//   server is free; the size grows by `step` (1) after a batch whose oldest request met the
//   target and is cut to `cut` (0.9) times itself, at least 1, after one that missed it.
// The target may also be max=D (every request), the figure the budget is taken of.
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "batching/learning.hpp"
#include "batching/policy.hpp"

namespace greenbatch {

// A profile's figures per batch size, as the adaptive policy reads them (sim/profile.hpp writes
// them): the median service time back to back, the service's distribution per regime (back to
// back, and after each measured idle time: a CPU's caches and threads cool down while it idles),
// and the dynamic energy per image, for sizes 1 to cap.
struct SizeTable {
  struct Regime {
    double idle_s = 0;                             // the idleness before the batch (0: back to back)
    std::vector<std::vector<double>> quantiles_s;  // [b - 1]: the service's percentiles 0 to 100 (101)
  };
  std::vector<double> service_s;                 // [b - 1] median, back to back
  std::vector<Regime> regimes;                   // back to back first, then ascending idle_s
  double back_to_back_idle_s = 0.001;            // idleness up to this is back to back
  std::vector<std::optional<double>> dynamic_j;  // [b - 1] per image; none without energy figures
};

// How `profile=FILE` is read into a table for sizes 1 to cap: installed by the layer that knows
// profiles (sim/profile.cpp installs its reader when it is linked in); with none installed,
// profile= is refused, saying so. The reader throws UserError naming the file.
using SizeTableReader = SizeTable (*)(const std::string& path, std::size_t cap);
void set_size_table_reader(SizeTableReader reader);

class AdaptivePolicy final : public BatchPolicy {
 public:
  // The share of the target a batch's oldest may take at low rates: 10 s windows (the report's)
  // hold few requests there, so a window's p99 is its largest one or two and one slow batch
  // decides it. Above kFullBudgetRateHz (a window of 320 requests and more) the p99 is over many
  // batches, the service quantile covers it, and the margin shrinks as the rate grows.
  static constexpr double kBudgetShare = 0.95;
  static constexpr double kFullBudgetRateHz = 32;
  static constexpr double kLearnedMargin = 0.15;  // learned service times are means: this much above
  // The target is on the requests' p99, and a batch of b puts about its oldest, 1 in b of its
  // requests, near the limit: with a profile, a batch of b plans with the service quantile
  // 1 - b x kMissShare x 1 % (at most the p99, at least the median).
  static constexpr double kMissShare = 0.5;
  // With a profile, the estimate is also never below the profile's median plus the same quantile
  // of what the last kExcessBatches batches took beyond their median (and their dispatch's
  // lateness), once kMinExcessBatches were seen: the machine as it runs, not as it was profiled.
  static constexpr std::size_t kExcessBatches = 64;
  static constexpr std::size_t kMinExcessBatches = 16;
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
  // The time a batch's oldest may take, at a rate (none: unknown, taken as low): `budget` of the
  // target up to kFullBudgetRateHz, then nearer the whole target, B = target x (1 - (1 - budget)
  // x kFullBudgetRateHz / rate).
  double budget_s(std::optional<double> rate_hz) const;

 private:
  // The high estimate of a batch of b starting after `idle_s` of idleness (none: unknown, the
  // highest of the regimes): with a profile, the quantile a batch of b may miss at (kMissShare).
  double service_s(std::size_t b, std::optional<double> idle_s = std::nullopt) const;
  // The server's idleness if a batch started at t (none before the first batch ended).
  std::optional<double> idle_at(TimeNs t) const;
  bool knows_service() const { return table_ || learned_.known(); }

  std::string target_text_;
  double budget_share_;
  TimeNs target_ns_;
  std::size_t cap_;
  std::string profile_path_;
  std::optional<SizeTable> table_;
  std::size_t energy_limit_;  // the size of least energy per image (the cap without energy figures)
  LearnedService learned_;
  std::uint64_t dispatched_ = 0;  // items in the batches observed
  std::optional<TimeNs> last_end_ns_;  // when the last batch observed ended
  std::vector<std::vector<double>> high_s_;  // [regime][b - 1] the service quantile a batch of b may miss at
  std::vector<double> highest_s_;            // [b - 1] the highest of the regimes
  std::vector<double> quantile_;             // [b - 1] the quantile a batch of b may miss at
  // What the machine does beyond the profile: each observed batch's start after its deadline
  // (late_ns) plus its service minus the profile's median for its size and regime, the last
  // kExcessBatches of them, in order of arrival and sorted.
  std::deque<double> excess_s_;
  std::vector<double> excess_sorted_s_;
  std::size_t regime_of(std::optional<double> idle_s, std::size_t& other) const;
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
