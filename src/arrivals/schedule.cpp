#include "arrivals/schedule.hpp"

#include <fmt/format.h>

#include <cmath>

#include "arrivals/rng.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

namespace {

constexpr std::string_view kAccepted =
    "constant, jitter:F (0 <= F <= 1), poisson, bursty or bursty:burst=B,on=D (B > 1, D a "
    "duration), trace:FILE";

[[noreturn]] void bad_arrivals(std::string_view spec, std::string_view why) {
  throw UserError(fmt::format("--arrivals '{}': {}; accepted: {}", spec, why, kAccepted));
}

}  // namespace

ArrivalSpec parse_arrivals(std::string_view spec) {
  const auto [name, rest] = split_spec(spec);
  ArrivalSpec a;
  const std::string what = fmt::format("--arrivals '{}'", spec);
  if (name == "constant") {
    if (!rest.empty()) bad_arrivals(spec, "constant takes no parameter");
    a.kind = ArrivalSpec::Kind::kConstant;
    a.text = "constant";
  } else if (name == "jitter") {
    if (rest.empty()) bad_arrivals(spec, "jitter needs its fraction F, e.g. jitter:0.2");
    a.kind = ArrivalSpec::Kind::kJitter;
    a.jitter = parse_double(rest, what);
    if (a.jitter < 0 || a.jitter > 1) bad_arrivals(spec, "F must be between 0 and 1");
    a.text = fmt::format("jitter:{}", a.jitter);
  } else if (name == "poisson") {
    if (!rest.empty()) bad_arrivals(spec, "poisson takes no parameter");
    a.kind = ArrivalSpec::Kind::kPoisson;
    a.text = "poisson";
  } else if (name == "bursty") {
    a.kind = ArrivalSpec::Kind::kBursty;
    const auto kv = parse_key_values(rest, what, "burst,on");
    if (auto it = kv.find("burst"); it != kv.end()) a.burst = parse_double(it->second, what);
    if (auto it = kv.find("on"); it != kv.end()) a.on_ns = parse_duration_ns(it->second, what);
    if (!(a.burst > 1.0)) bad_arrivals(spec, "burst must be greater than 1");
    if (a.on_ns <= 0) bad_arrivals(spec, "on must be longer than 0");
    a.text = fmt::format("bursty:burst={},on={}s", a.burst, format_seconds_exact(a.on_ns));
  } else if (name == "trace") {
    if (rest.empty()) bad_arrivals(spec, "trace needs a file, e.g. trace:arrivals.csv");
    a.kind = ArrivalSpec::Kind::kTrace;
    a.trace_path = rest;
    a.text = fmt::format("trace:{}", rest);
  } else {
    bad_arrivals(spec, fmt::format("unknown arrival process '{}'", name));
  }
  return a;
}

namespace {

[[noreturn]] void past_time_bound(double rate_hz, std::size_t count) {
  throw UserError(fmt::format("--rate {:g} with {} requests: the arrivals would last past 100 years, the longest run "
                              "accepted; raise the rate or ask for fewer requests",
                              rate_hz, count));
}

// An arrival time from its exact value, refused past the bound (no overflow of int64 ns).
TimeNs arrival_ns(long double t, double rate_hz, std::size_t count) {
  if (!(t <= static_cast<long double>(limits::kMaxTimeNs))) past_time_bound(rate_hz, count);
  return static_cast<TimeNs>(std::llround(t));
}

}  // namespace

void check_schedule(const ArrivalSpec& spec, double rate_hz, std::size_t count) {
  if (count > limits::kMaxRequests) check_requests(count, "--requests");
  if (spec.kind == ArrivalSpec::Kind::kTrace) return;
  check_rate_hz(rate_hz, "--rate");
  // The mean gap, and the widest a jittered one can be.
  const long double period_ns = 1e9L / static_cast<long double>(rate_hz);
  const long double widest = spec.kind == ArrivalSpec::Kind::kJitter ? period_ns * (1.0L + spec.jitter) : period_ns;
  if (count > 1 && static_cast<long double>(count - 1) * widest > static_cast<long double>(limits::kMaxTimeNs)) {
    past_time_bound(rate_hz, count);
  }
  if (spec.kind == ArrivalSpec::Kind::kBursty) {
    const double gap_ns = static_cast<double>(period_ns) / spec.burst;
    const double least_on_ns = gap_ns * kMinBurstyOnShare;
    if (static_cast<double>(spec.on_ns) < least_on_ns) {
      throw UserError(fmt::format(
          "--arrivals '{}' at --rate {:g}: the on period ({}) must be at least {:g} of the mean gap between arrivals "
          "within a burst ({}), that is at least {} (else each request draws over a thousand on and off periods)",
          spec.text, rate_hz, format_duration(spec.on_ns), kMinBurstyOnShare, format_duration_s(gap_ns / 1e9),
          duration_spec(static_cast<TimeNs>(std::ceil(least_on_ns)))));
    }
  }
}

std::vector<TimeNs> generate_schedule(const ArrivalSpec& spec, double rate_hz, std::size_t count,
                                      std::uint64_t seed) {
  check_schedule(spec, rate_hz, count);
  if (spec.kind == ArrivalSpec::Kind::kTrace) {
    std::vector<TimeNs> t = read_trace(spec.trace_path);
    if (count == 0) return t;
    if (t.size() < count) {
      throw UserError(fmt::format("trace {} holds {} arrivals, fewer than the {} requests asked for",
                                  spec.trace_path, t.size(), count));
    }
    t.resize(count);
    return t;
  }
  std::vector<TimeNs> t;
  t.reserve(count);
  if (count == 0) return t;
  Rng rng(seed);
  const long double period_ns = 1e9L / static_cast<long double>(rate_hz);
  switch (spec.kind) {
    case ArrivalSpec::Kind::kConstant:
      // Each time from its index: no accumulated rounding.
      for (std::size_t i = 0; i < count; ++i)
        t.push_back(arrival_ns(static_cast<long double>(i) * period_ns, rate_hz, count));
      break;
    case ArrivalSpec::Kind::kJitter: {
      // Times accumulate in exact double seconds-of-ns, rounded once per arrival.
      long double acc = 0;
      t.push_back(0);
      for (std::size_t i = 1; i < count; ++i) {
        acc += period_ns * (1.0L - spec.jitter + 2.0L * spec.jitter * rng.uniform01());
        t.push_back(arrival_ns(acc, rate_hz, count));
      }
      break;
    }
    case ArrivalSpec::Kind::kPoisson: {
      long double acc = 0;
      t.push_back(0);
      for (std::size_t i = 1; i < count; ++i) {
        acc += rng.exponential(static_cast<double>(period_ns));
        t.push_back(arrival_ns(acc, rate_hz, count));
      }
      break;
    }
    case ArrivalSpec::Kind::kBursty: {
      // Interrupted Poisson process: on periods (mean `on`) with Poisson arrivals at
      // burst x rate, off periods (mean on x (burst - 1)) with none; the mean rate is `rate`.
      const double on_rate_gap_ns = static_cast<double>(period_ns) / spec.burst;
      const double mean_on = static_cast<double>(spec.on_ns);
      const double mean_off = mean_on * (spec.burst - 1.0);
      long double acc = 0;
      double on_left = rng.exponential(mean_on);
      t.push_back(0);
      while (t.size() < count) {
        const double gap = rng.exponential(on_rate_gap_ns);
        if (gap <= on_left) {
          on_left -= gap;
          acc += gap;
          t.push_back(arrival_ns(acc, rate_hz, count));
        } else {
          // The on period ends before the next arrival; memorylessness lets us redraw.
          acc += on_left + rng.exponential(mean_off);
          if (acc > static_cast<long double>(limits::kMaxTimeNs)) past_time_bound(rate_hz, count);
          on_left = rng.exponential(mean_on);
        }
      }
      break;
    }
    case ArrivalSpec::Kind::kTrace:
      break;
  }
  return t;
}

}  // namespace greenbatch
