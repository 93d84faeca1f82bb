#include "backends/synthetic/synthetic.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

void SyntheticBackend::run(std::span<const Request> batch) {
  const std::size_t count = batch.size();
  if (params_.max_batch > 0 && count > params_.max_batch) {
    throw std::runtime_error(fmt::format("out of memory at batch size {} (synthetic model: max_batch={})", count,
                                         params_.max_batch));
  }
  TimeNs service = params_.service_ns(count);
  if (params_.drift_per_s > 0) {
    // (a test seam; clamped so that a long drifting run cannot overflow the clock)
    const double drifted = static_cast<double>(service) * (1 + params_.drift_per_s * ns_to_s(clock_.now()));
    service = static_cast<TimeNs>(std::llround(std::min(drifted, static_cast<double>(limits::kMaxTimeNs))));
  }
  const TimeNs start = clock_.now();
  if (first_batch_ns_ < 0) first_batch_ns_ = start;
  if (params_.stall_ns > 0 && !stalled_ && start - first_batch_ns_ >= params_.stall_at_ns) {
    stalled_ = true;
    service += params_.stall_ns;
  }
  if (service > 0) clock_.sleep_until(start + service);
}

void check_synthetic_run(const SyntheticParams& p, std::size_t requests) {
  const long double per_request = static_cast<long double>(p.base_ns) +
                                  static_cast<long double>(std::max(p.per_item_ns, p.per_item_from_ns));
  // The stall comes once, after its start; both count (a run could stall only after stall_at).
  const long double stall = static_cast<long double>(p.stall_ns) + static_cast<long double>(p.stall_at_ns);
  if (static_cast<long double>(requests) * per_request + stall > static_cast<long double>(limits::kMaxTimeNs)) {
    throw UserError(fmt::format("--model '{}' with {} requests: the service alone could last past 100 years, the "
                                "longest run accepted; shorten base, per_item or stall or ask for fewer requests",
                                synthetic_spec(p), requests));
  }
}

std::string SyntheticBackend::model() const { return synthetic_spec(params_); }

std::string synthetic_spec(const SyntheticParams& p) {
  return fmt::format("synthetic:base={},per_item={}{}{}{}{}", duration_spec(p.base_ns), duration_spec(p.per_item_ns),
                     p.max_batch ? fmt::format(",max_batch={}", p.max_batch) : "",
                     p.drift_per_s > 0 ? fmt::format(",drift={:g}", p.drift_per_s) : "",
                     p.switch_at ? fmt::format(",switch_at={},per_item_from={}", p.switch_at, duration_spec(p.per_item_from_ns))
                                 : "",
                     p.stall_ns > 0 ? fmt::format(",stall={}@{}", duration_spec(p.stall_ns), duration_spec(p.stall_at_ns))
                                    : "");
}

bool is_synthetic_spec(std::string_view spec) { return split_spec(spec).first == "synthetic"; }

SyntheticParams parse_synthetic(std::string_view spec) {
  const auto [name, rest] = split_spec(spec);
  const std::string what = fmt::format("--model '{}'", spec);
  if (name != "synthetic") throw UserError(fmt::format("{}: not a synthetic model", what));
  SyntheticParams p;
  const auto kv = parse_key_values(rest, what, "base,per_item,max_batch,drift,switch_at,per_item_from,stall");
  if (auto it = kv.find("base"); it != kv.end()) p.base_ns = parse_duration_ns(it->second, what);
  if (auto it = kv.find("per_item"); it != kv.end()) p.per_item_ns = parse_duration_ns(it->second, what);
  if (auto it = kv.find("max_batch"); it != kv.end()) {
    const std::uint64_t m = parse_whole(it->second, what, 0, limits::kMaxRequests);
    if (m < 1) throw UserError(fmt::format("{}: max_batch must be at least 1", what));
    p.max_batch = static_cast<std::size_t>(m);
  }
  if (auto it = kv.find("drift"); it != kv.end()) {
    p.drift_per_s = parse_double(it->second, what);
    if (!(p.drift_per_s >= 0 && p.drift_per_s <= 1)) {
      throw UserError(fmt::format("{}: drift is the fraction service time grows per second, from 0 to 1", what));
    }
  }
  const bool at = kv.count("switch_at") > 0, from = kv.count("per_item_from") > 0;
  if (at != from) throw UserError(fmt::format("{}: switch_at and per_item_from go together", what));
  if (at) {
    const std::uint64_t n = parse_whole(kv.at("switch_at"), what, 0, limits::kMaxRequests);
    if (n < 2) throw UserError(fmt::format("{}: switch_at must be at least 2", what));
    p.switch_at = static_cast<std::size_t>(n);
    p.per_item_from_ns = parse_duration_ns(kv.at("per_item_from"), what);
  }
  if (auto it = kv.find("stall"); it != kv.end()) {
    // "1s@2s": the first batch at or after 2 s from the first batch takes 1 s longer, once.
    const std::string& v = it->second;
    const std::size_t at = v.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == v.size() || v.find('@', at + 1) != std::string::npos) {
      throw UserError(fmt::format("{}: stall is DURATION@DURATION (e.g. stall=1s@2s: the first batch that starts 2 s "
                                  "or more after the first batch takes 1 s longer, once); got '{}'",
                                  what, v));
    }
    p.stall_ns = parse_duration_ns(std::string_view(v).substr(0, at), fmt::format("{}: stall", what));
    p.stall_at_ns = parse_duration_ns(std::string_view(v).substr(at + 1), fmt::format("{}: stall's start", what));
    if (p.stall_ns == 0) throw UserError(fmt::format("{}: stall must last longer than 0 (e.g. stall=1s@2s)", what));
  }
  return p;
}

}  // namespace greenbatch
