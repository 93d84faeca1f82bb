#include "batching/policy.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

Decision FixedPolicy::decide(std::span<const TimeNs> waiting, TimeNs, bool stream_closed) const {
  if (waiting.size() >= n_) return Decision::dispatch(n_);
  if (stream_closed && !waiting.empty()) return Decision::dispatch(waiting.size());
  return Decision::wait_for_arrival();
}
std::string FixedPolicy::spec() const { return fmt::format("fixed:{}", n_); }

Decision GreedyPolicy::decide(std::span<const TimeNs> waiting, TimeNs, bool) const {
  if (waiting.empty()) return Decision::wait_for_arrival();
  return Decision::dispatch(std::min(waiting.size(), cap_));
}
std::string GreedyPolicy::spec() const { return fmt::format("greedy:{}", cap_); }

Decision TimeoutPolicy::decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const {
  if (waiting.size() >= n_) return Decision::dispatch(n_);
  if (waiting.empty()) return Decision::wait_for_arrival();
  const TimeNs deadline = waiting.front() + delay_ns_;
  if (now >= deadline || stream_closed) return Decision::dispatch(waiting.size());
  return Decision::wait_until(deadline);
}
std::string TimeoutPolicy::spec() const { return fmt::format("timeout:{}:{}", n_, duration_spec(delay_ns_)); }

namespace {

constexpr std::string_view kAccepted =
    "fixed:N (dispatch when N wait), greedy or greedy:CAP (all waiting, at most CAP; default 128), "
    "timeout:N:D (N wait or the oldest waited D, e.g. timeout:32:50ms); N and CAP from 1 to 65536";
constexpr long long kMaxBatch = 65536;

[[noreturn]] void bad_policy(std::string_view spec, std::string_view why) {
  throw UserError(fmt::format("--policy '{}': {}; accepted: {}", spec, why, kAccepted));
}

std::size_t parse_batch_size(std::string_view spec, std::string_view text, std::string_view name) {
  long long v = 0;
  try {
    v = parse_integer(text, name);
  } catch (const UserError&) {
    bad_policy(spec, fmt::format("{} '{}' is not a whole number", name, text));
  }
  if (v < 1 || v > kMaxBatch) bad_policy(spec, fmt::format("{} must be from 1 to {}, not {}", name, kMaxBatch, v));
  return static_cast<std::size_t>(v);
}

}  // namespace

std::unique_ptr<BatchPolicy> parse_policy(std::string_view spec) {
  const auto [name, rest] = split_spec(spec);
  if (name == "fixed") {
    if (rest.empty()) bad_policy(spec, "fixed needs its batch size, e.g. fixed:16");
    return std::make_unique<FixedPolicy>(parse_batch_size(spec, rest, "N"));
  }
  if (name == "greedy") {
    if (rest.empty()) return std::make_unique<GreedyPolicy>(128);
    return std::make_unique<GreedyPolicy>(parse_batch_size(spec, rest, "CAP"));
  }
  if (name == "timeout") {
    const auto [n_text, delay_text] = split_spec(rest);
    if (n_text.empty() || delay_text.empty()) {
      bad_policy(spec, "timeout needs a batch size and a delay, e.g. timeout:32:50ms");
    }
    const std::size_t n = parse_batch_size(spec, n_text, "N");
    TimeNs delay = 0;
    try {
      delay = parse_duration_ns(delay_text, "D");
    } catch (const UserError& e) {
      bad_policy(spec, e.what());
    }
    return std::make_unique<TimeoutPolicy>(n, delay);
  }
  bad_policy(spec, fmt::format("unknown policy '{}'", name));
}

}  // namespace greenbatch
