#include "batching/adaptive.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.hpp"
#include "core/latency_target.hpp"
#include "core/stats.hpp"
#include "core/units.hpp"

namespace greenbatch {

namespace {

SizeTableReader g_size_table_reader = nullptr;

// p99=D or max=D (the figures a policy can hold), from the policy's keys.
LatencyTarget target_of(std::string_view spec, const std::map<std::string, std::string>& kv) {
  std::string text;
  for (const char* figure : {"p99", "max"}) {
    if (const auto it = kv.find(figure); it != kv.end()) {
      if (!text.empty()) policy_error(spec, "give one target: p99=D or max=D, not both");
      text = fmt::format("{}={}", figure, it->second);
    }
  }
  if (text.empty()) policy_error(spec, "a latency target is needed: p99=D or max=D, e.g. p99=200ms");
  try {
    return parse_latency_target(text, "the policy's target");
  } catch (const UserError& e) {
    policy_error(spec, e.what());
  }
}

std::size_t cap_of(std::string_view spec, const std::map<std::string, std::string>& kv) {
  const auto it = kv.find("cap");
  return it == kv.end() ? 128 : policy_batch_size(spec, it->second, "cap");
}

std::map<std::string, std::string> keys_of(std::string_view spec, std::string_view args, std::string_view allowed) {
  try {
    return parse_key_values(args, fmt::format("--policy '{}'", spec), allowed);
  } catch (const UserError& e) {
    policy_error(spec, e.what());
  }
}

// A number key (fallback when absent), parsed as the units' parser does; errors name the spec.
double number_of(std::string_view spec, const std::map<std::string, std::string>& kv, const char* key, double fallback) {
  const auto it = kv.find(key);
  if (it == kv.end()) return fallback;
  try {
    return parse_double(it->second, key);
  } catch (const UserError& e) {
    policy_error(spec, e.what());
  }
}

}  // namespace

void set_size_table_reader(SizeTableReader reader) { g_size_table_reader = reader; }

// --- adaptive ------------------------------------------------------------------------------------

namespace {

// The size of least dynamic energy per image (within kEnergyTolerance) in the table: no reason to
// go past it. Without energy figures: the cap.
std::size_t least_energy_size(const std::optional<SizeTable>& table, std::size_t cap) {
  if (!table) return cap;
  std::optional<double> least;
  for (std::size_t b = 1; b <= cap; ++b) {
    const auto& e = table->dynamic_j[b - 1];
    if (e && (!least || *e < *least)) least = e;
  }
  if (!least) return cap;
  for (std::size_t b = 1; b <= cap; ++b) {
    const auto& e = table->dynamic_j[b - 1];
    if (e && *e <= *least * (1 + AdaptivePolicy::kEnergyTolerance)) return b;
  }
  return cap;
}

}  // namespace

AdaptivePolicy::AdaptivePolicy(std::string target_text, TimeNs target_ns, std::size_t cap, TimeNs window_ns,
                               std::string profile_path, std::optional<SizeTable> table, double budget_share)
    : target_text_(std::move(target_text)),
      budget_share_(budget_share),
      target_ns_(target_ns),
      cap_(cap),
      profile_path_(std::move(profile_path)),
      table_(std::move(table)),
      energy_limit_(least_energy_size(table_, cap)),
      arrivals_(window_ns) {
  if (!table_) return;
  for (std::size_t b = 1; b <= cap_; ++b) quantile_.push_back(std::clamp(1 - static_cast<double>(b) * kMissShare * 0.01, 0.5, 0.99));
  for (const auto& r : table_->regimes) {
    std::vector<double> high;
    for (std::size_t b = 1; b <= cap_; ++b) {
      // The regime's percentiles are ascending: the quantile between two of them, interpolated.
      high.push_back(std::max(table_->service_s[b - 1], percentile_sorted(r.quantiles_s[b - 1], quantile_[b - 1] * 100)));
    }
    high_s_.push_back(std::move(high));
  }
  for (std::size_t b = 1; b <= cap_; ++b) {
    double h = table_->service_s[b - 1];
    for (const auto& r : high_s_) h = std::max(h, r[b - 1]);
    highest_s_.push_back(h);
  }
}

// The regime a batch starting after `idle_s` is in: back to back, or the measured idle time at or
// above it (the last at the end); `other` the one below it when it lies between two (else the same).
std::size_t AdaptivePolicy::regime_of(std::optional<double> idle_s, std::size_t& other) const {
  const auto& regimes = table_->regimes;
  other = 0;
  if (regimes.size() == 1 || (idle_s && *idle_s <= table_->back_to_back_idle_s)) return 0;
  std::size_t k = idle_s ? 1 : regimes.size() - 1;  // unknown: taken as idle long
  while (idle_s && k + 1 < regimes.size() && regimes[k].idle_s < *idle_s) ++k;
  other = k > 1 && idle_s && *idle_s < regimes[k].idle_s ? k - 1 : k;
  return k;
}

double AdaptivePolicy::service_s(std::size_t b, std::optional<double> idle_s) const {
  if (!table_) return learned_.service_s(b) * (1 + kLearnedMargin);
  if (!idle_s || high_s_.empty()) return highest_s_[b - 1];
  // The higher of the two regimes around the idleness, each the higher of its profile quantile and
  // its median plus the excess seen.
  std::optional<double> excess;
  if (excess_sorted_s_.size() >= kMinExcessBatches) {
    const auto& x = excess_sorted_s_;
    excess = x[static_cast<std::size_t>(quantile_[b - 1] * static_cast<double>(x.size() - 1))];
  }
  const auto at = [&](std::size_t r) {
    const double profiled = high_s_[r][b - 1];
    return excess ? std::max(profiled, table_->regimes[r].quantiles_s[b - 1][50] + *excess) : profiled;
  };
  std::size_t other = 0;
  const std::size_t k = regime_of(idle_s, other);
  return std::max(at(k), at(other));
}

std::optional<double> AdaptivePolicy::idle_at(TimeNs t) const {
  if (!last_end_ns_) return std::nullopt;
  return ns_to_s(std::max<TimeNs>(0, t - *last_end_ns_));
}

double AdaptivePolicy::budget_s(std::optional<double> rate_hz) const {
  const double low = rate_hz && *rate_hz > kFullBudgetRateHz ? kFullBudgetRateHz / *rate_hz : 1.0;
  return ns_to_s(target_ns_) * (1 - (1 - budget_share_) * low);
}

AdaptivePolicy::Plan AdaptivePolicy::plan(std::optional<double> rate_hz) const {
  if (!knows_service()) return {1, 0};  // nothing known yet: one at a time, at once
  const double budget_s = this->budget_s(rate_hz);
  const double rate = rate_hz.value_or(0);
  // The largest size whose batch leaves the next one (what arrives while it runs) its time.
  for (std::size_t b = energy_limit_; b >= 1; --b) {
    const double s = service_s(b);
    const auto next = static_cast<std::size_t>(std::min<double>(static_cast<double>(cap_), 1 + std::ceil(rate * s)));
    if (s + service_s(next) <= budget_s || b == 1) {
      return {b, static_cast<TimeNs>(std::max(0.0, budget_s - s) * 1e9)};
    }
  }
  return {1, 0};
}

Decision AdaptivePolicy::decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const {
  arrivals_.see(waiting, dispatched_);
  if (waiting.empty()) return Decision::wait_for_arrival();
  const std::size_t n = waiting.size();
  if (stream_closed) return Decision::dispatch(std::min(n, cap_));
  if (!knows_service()) return Decision::dispatch(1);  // learn S(1) first
  const auto rate = arrivals_.rate_hz(now);
  const Plan p = plan(rate);
  if (n >= p.batch) return Decision::dispatch(p.batch);
  // Wait for one more while a batch of n + 1 would still meet the budget; else go with n. The
  // batch starts at that deadline, in the regime the wait puts the server in, which
  // depends on the deadline: taken at the deadline the highest estimate gives, then at the one
  // that gives, and the higher of the two estimates (a regime's service grows with idleness).
  // The budget's rate: the estimate over the window lags a step down, the waiting requests' own
  // spacing does not: the lower of the two (one waiting: no spacing, taken as low).
  std::optional<double> budget_rate;
  if (n >= 2 && rate && waiting.back() > waiting.front()) {
    budget_rate = std::min(*rate, static_cast<double>(n - 1) / ns_to_s(waiting.back() - waiting.front()));
  }
  const double budget_s = this->budget_s(budget_rate);
  const auto deadline_for = [&](double s) { return waiting.front() + static_cast<TimeNs>((budget_s - s) * 1e9); };
  // At the deadline the n go, or the n + 1 if one more came just before it: both must meet the
  // budget (a profile's smaller size may have the longer tail in a regime).
  const auto high = [&](std::optional<double> idle) { return std::max(service_s(n, idle), service_s(n + 1, idle)); };
  const double s1 = high(idle_at(std::max(now, deadline_for(std::max(service_s(n), service_s(n + 1))))));
  const double s2 = high(idle_at(std::max(now, deadline_for(s1))));
  const TimeNs deadline = deadline_for(std::max(s1, s2));
  if (now >= deadline) return Decision::dispatch(n);
  return Decision::wait_until(deadline);
}

void AdaptivePolicy::observe(const BatchRecord& batch) {
  dispatched_ += batch.size;
  if (table_ && batch.size >= 1 && batch.size <= cap_) {
    std::size_t other = 0;
    const std::size_t k = regime_of(idle_at(batch.start_ns), other);
    const double x = ns_to_s(batch.late_ns + (batch.end_ns - batch.start_ns)) - table_->regimes[k].quantiles_s[batch.size - 1][50];
    excess_s_.push_back(x);
    excess_sorted_s_.insert(std::upper_bound(excess_sorted_s_.begin(), excess_sorted_s_.end(), x), x);
    if (excess_s_.size() > kExcessBatches) {
      excess_sorted_s_.erase(std::lower_bound(excess_sorted_s_.begin(), excess_sorted_s_.end(), excess_s_.front()));
      excess_s_.pop_front();
    }
  }
  last_end_ns_ = batch.end_ns;
  if (!table_) learned_.observe(batch.size, batch.end_ns - batch.start_ns);
}

std::string AdaptivePolicy::spec() const {
  std::string s = fmt::format("adaptive:{}", target_text_);
  if (cap_ != 128) s += fmt::format(",cap={}", cap_);
  if (arrivals_.window_ns() != kDefaultWindowNs) s += fmt::format(",window={}", duration_spec(arrivals_.window_ns()));
  if (budget_share_ != kBudgetShare) s += fmt::format(",budget={}", format_bound(budget_share_));
  if (!profile_path_.empty()) s += fmt::format(",profile={}", profile_path_);
  return s;
}

const PolicyKind kAdaptiveKind{
    "adaptive",
    "adaptive:p99=D[,cap=N,window=D,budget=F,profile=FILE] (holds a p99 (or max=D) target at the least energy as the load "
    "changes, e.g. adaptive:p99=200ms)",
    3,
    [](std::string_view spec, std::string_view args) -> std::unique_ptr<BatchPolicy> {
      const auto kv = keys_of(spec, args, "p99,max,cap,window,budget,profile");
      const LatencyTarget target = target_of(spec, kv);
      const std::size_t cap = cap_of(spec, kv);
      TimeNs window = AdaptivePolicy::kDefaultWindowNs;
      if (const auto it = kv.find("window"); it != kv.end()) {
        window = policy_duration(spec, it->second, "window");
        if (window <= 0) policy_error(spec, "window must be above 0s");
      }
      std::string path;
      std::optional<SizeTable> table;
      if (const auto it = kv.find("profile"); it != kv.end()) {
        path = it->second;
        if (!g_size_table_reader) policy_error(spec, "profile= cannot be read here (no profile reader in this program)");
        try {
          table = g_size_table_reader(path, cap);
        } catch (const UserError& e) {
          policy_error(spec, e.what());
        }
      }
      const double budget = number_of(spec, kv, "budget", AdaptivePolicy::kBudgetShare);
      if (!(budget > 0 && budget <= 1)) {
        policy_error(spec, fmt::format("budget must be above 0 and at most 1 (a share of the target), not {}",
                                       kv.at("budget")));
      }
      return std::make_unique<AdaptivePolicy>(target.text, target.limit_ns, cap, window, path, std::move(table), budget);
    },
    [](const TuneSpace& space, std::vector<std::string>& out) {
      if (!space.target.empty()) out.push_back(fmt::format("adaptive:{},cap={}", space.target, space.cap));
    }};

// --- aimd ----------------------------------------------------------------------------------------

AimdPolicy::AimdPolicy(std::string target_text, TimeNs target_ns, std::size_t cap, std::size_t step, double cut)
    : target_text_(std::move(target_text)), target_ns_(target_ns), cap_(cap), step_(step), cut_(cut) {}

Decision AimdPolicy::decide(std::span<const TimeNs> waiting, TimeNs, bool) const {
  if (waiting.empty()) return Decision::wait_for_arrival();
  oldest_ns_ = waiting.front();
  return Decision::dispatch(std::min(waiting.size(), size_));
}

void AimdPolicy::observe(const BatchRecord& batch) {
  if (batch.end_ns - oldest_ns_ <= target_ns_) {
    size_ = std::min(cap_, size_ + step_);
  } else {
    size_ = std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(static_cast<double>(size_) * cut_)));
  }
}

std::string AimdPolicy::spec() const {
  std::string s = fmt::format("aimd:{}", target_text_);
  if (cap_ != 128) s += fmt::format(",cap={}", cap_);
  if (step_ != 1) s += fmt::format(",step={}", step_);
  if (cut_ != 0.9) s += fmt::format(",cut={}", format_bound(cut_));
  return s;
}

const PolicyKind kAimdKind{
    "aimd",
    "aimd:p99=D[,cap=N,step=N,cut=F] (Clipper's AIMD batch size: +step while the target holds, x cut (0.9) on a "
    "miss)",
    4,
    [](std::string_view spec, std::string_view args) -> std::unique_ptr<BatchPolicy> {
      const auto kv = keys_of(spec, args, "p99,max,cap,step,cut");
      const LatencyTarget target = target_of(spec, kv);
      const std::size_t cap = cap_of(spec, kv);
      std::size_t step = 1;
      if (const auto it = kv.find("step"); it != kv.end()) step = policy_batch_size(spec, it->second, "step");
      const double cut = number_of(spec, kv, "cut", 0.9);
      if (!(cut > 0 && cut < 1)) policy_error(spec, fmt::format("cut must be above 0 and below 1, not {}", kv.at("cut")));
      return std::make_unique<AimdPolicy>(target.text, target.limit_ns, cap, step, cut);
    },
    [](const TuneSpace& space, std::vector<std::string>& out) {
      if (!space.target.empty()) out.push_back(fmt::format("aimd:{},cap={}", space.target, space.cap));
    }};

}  // namespace greenbatch
