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
    "duration), trace:FILE, steps:R1@D1,R2@D2,... (rates per second for durations, repeated), "
    "diurnal:min=R,max=R,period=D (a sine between two rates); steps and diurnal take ,gaps=poisson "
    "(default), constant or jitter:F";

[[noreturn]] void bad_arrivals(std::string_view spec, std::string_view why) {
  throw UserError(fmt::format("--arrivals '{}': {}; accepted: {}", spec, why, kAccepted));
}

// ",gaps=..." of a varying load: its gaps and their text ("" for the default, Poisson).
std::string parse_gaps(std::string_view spec, const std::string& value, ArrivalSpec& a) {
  if (value == "poisson") {
    a.gaps = ArrivalSpec::Kind::kPoisson;
    return "";
  }
  if (value == "constant") {
    a.gaps = ArrivalSpec::Kind::kConstant;
    return ",gaps=constant";
  }
  if (value.starts_with("jitter:")) {
    a.gaps = ArrivalSpec::Kind::kJitter;
    a.jitter = parse_double(value.substr(7), fmt::format("--arrivals '{}': gaps", spec));
    if (a.jitter < 0 || a.jitter > 1) bad_arrivals(spec, "the gaps' jitter F must be between 0 and 1");
    return fmt::format(",gaps=jitter:{}", a.jitter);
  }
  bad_arrivals(spec, fmt::format("gaps '{}' is not poisson, constant or jitter:F", value));
}

// A rate of a varying load: 0 (a pause) or within the rates accepted.
double parse_load_rate(std::string_view spec, const std::string& text) {
  const double r = parse_double(text, fmt::format("--arrivals '{}': rate", spec));
  if (!(r == 0 || (r >= limits::kMinRateHz && r <= limits::kMaxRateHz))) {
    bad_arrivals(spec, fmt::format("a rate must be 0 (a pause) or from {:g} to {:g} per second, not {}", limits::kMinRateHz,
                                   limits::kMaxRateHz, text));
  }
  return r;
}

// Its canonical text from the parts; checks its cycle (not empty, not too long, some arrivals).
void finish_varying(std::string_view spec, ArrivalSpec& a, const std::string& gaps) {
  if (a.kind == ArrivalSpec::Kind::kSteps) {
    std::string t;
    for (const auto& st : a.steps) t += fmt::format("{}{}@{}", t.empty() ? "" : ",", st.rate_hz, duration_spec(st.duration_ns));
    a.text = "steps:" + t + gaps;
  } else {
    a.text = fmt::format("diurnal:min={},max={},period={}{}", a.min_hz, a.max_hz, duration_spec(a.period_ns), gaps);
  }
  if (a.cycle_ns() <= 0 || a.cycle_ns() > limits::kMaxTimeNs) bad_arrivals(spec, "its cycle must last from 1 ns to 100 years");
  if (!(a.cycle_arrivals() >= 0.5)) {
    bad_arrivals(spec, "fewer than one arrival is expected in its cycle; raise a rate or a duration");
  }
}

}  // namespace

TimeNs ArrivalSpec::cycle_ns() const {
  if (kind == Kind::kDiurnal) return period_ns;
  TimeNs t = 0;
  for (const Step& s : steps) t = (t > limits::kMaxTimeNs - s.duration_ns) ? limits::kMaxTimeNs + 1 : t + s.duration_ns;
  return t;
}

double ArrivalSpec::cycle_arrivals() const {
  if (kind == Kind::kDiurnal) return (min_hz + max_hz) / 2 * ns_to_s(period_ns);
  double n = 0;
  for (const Step& s : steps) n += s.rate_hz * ns_to_s(s.duration_ns);
  return n;
}

double ArrivalSpec::rate_at(TimeNs t) const {
  const TimeNs cycle = cycle_ns();
  const TimeNs in = cycle > 0 ? t % cycle : 0;
  if (kind == Kind::kDiurnal) {
    return min_hz + (max_hz - min_hz) * (1 - std::cos(2 * M_PI * static_cast<double>(in) / static_cast<double>(period_ns))) / 2;
  }
  TimeNs start = 0;
  for (const Step& s : steps) {
    if (in < start + s.duration_ns) return s.rate_hz;
    start += s.duration_ns;
  }
  return steps.empty() ? 0 : steps.back().rate_hz;
}

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
  } else if (name == "steps") {
    a.kind = ArrivalSpec::Kind::kSteps;
    if (rest.empty()) bad_arrivals(spec, "steps needs rates and durations, e.g. steps:16@60s,128@60s");
    std::string gaps;
    for (std::size_t start = 0; start <= rest.size();) {
      std::size_t comma = rest.find(',', start);
      if (comma == std::string::npos) comma = rest.size();
      const std::string item = rest.substr(start, comma - start);
      start = comma + 1;
      if (item.starts_with("gaps=")) {
        gaps = parse_gaps(spec, item.substr(5), a);
        continue;
      }
      const std::size_t at = item.find('@');
      if (at == std::string::npos) bad_arrivals(spec, fmt::format("'{}' is not RATE@DURATION (e.g. 16@60s)", item));
      ArrivalSpec::Step st;
      st.rate_hz = parse_load_rate(spec, item.substr(0, at));
      st.duration_ns = parse_duration_ns(item.substr(at + 1), what);
      if (st.duration_ns <= 0) bad_arrivals(spec, fmt::format("'{}': a step must last longer than 0", item));
      if (a.steps.size() == 1000) bad_arrivals(spec, "at most 1000 steps");
      a.steps.push_back(st);
    }
    if (a.steps.empty()) bad_arrivals(spec, "steps needs at least one RATE@DURATION");
    finish_varying(spec, a, gaps);
  } else if (name == "diurnal") {
    a.kind = ArrivalSpec::Kind::kDiurnal;
    const auto kv = parse_key_values(rest, what, "min,max,period,gaps");
    for (const char* key : {"min", "max", "period"}) {
      if (!kv.contains(key)) bad_arrivals(spec, fmt::format("diurnal needs min, max and period (missing {})", key));
    }
    a.min_hz = parse_load_rate(spec, kv.at("min"));
    a.max_hz = parse_load_rate(spec, kv.at("max"));
    if (a.max_hz < a.min_hz) bad_arrivals(spec, "max must be at least min");
    a.period_ns = parse_duration_ns(kv.at("period"), what);
    if (a.period_ns <= 0) bad_arrivals(spec, "period must be longer than 0");
    finish_varying(spec, a, kv.contains("gaps") ? parse_gaps(spec, kv.at("gaps"), a) : "");
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

namespace {

// The cumulative rate (expected arrivals) from 0 to `t` seconds into a cycle, and its inverse.
class LoadClock {
 public:
  explicit LoadClock(const ArrivalSpec& s) : s_(s), cycle_s_(ns_to_s(s.cycle_ns())), per_cycle_(s.cycle_arrivals()) {
    long double at = 0, n = 0;
    for (const ArrivalSpec::Step& st : s.steps) {
      starts_.push_back({at, n});
      at += ns_to_s(st.duration_ns);
      n += static_cast<long double>(st.rate_hz) * ns_to_s(st.duration_ns);
    }
  }

  // The real time (s) at which `n` arrivals are expected.
  long double time_of(long double n) const {
    const long double cycles = std::floor(n / per_cycle_);
    const long double in = n - cycles * per_cycle_;
    return cycles * cycle_s_ + in_cycle(in);
  }

 private:
  long double in_cycle(long double n) const {
    if (s_.kind == ArrivalSpec::Kind::kSteps) {
      // The last step whose start is at or before n expected arrivals (pauses have none).
      std::size_t i = 0;
      for (std::size_t j = 0; j < starts_.size(); ++j) {
        if (starts_[j].second <= n && s_.steps[j].rate_hz > 0) i = j;
      }
      return starts_[i].first + (n - starts_[i].second) / s_.steps[i].rate_hz;
    }
    // Diurnal: cumulative(t) = a t - b sin(w t), increasing; bisection to the nanosecond.
    const long double a = (s_.min_hz + s_.max_hz) / 2.0L, w = 2 * M_PIl / cycle_s_;
    const long double b = (s_.max_hz - s_.min_hz) / 2.0L / w;
    long double lo = 0, hi = cycle_s_;
    for (int k = 0; k < 64 && hi - lo > 1e-10L; ++k) {
      const long double mid = (lo + hi) / 2;
      (a * mid - b * std::sin(w * mid) < n ? lo : hi) = mid;
    }
    return (lo + hi) / 2;
  }

  const ArrivalSpec& s_;
  long double cycle_s_, per_cycle_;
  std::vector<std::pair<long double, long double>> starts_;  // each step's start: (time s, expected arrivals)
};

// A varying load's arrivals: gaps drawn in the load's own time (rate 1), mapped to real time by
// the inverse of the cumulative rate; the first at 0.
std::vector<TimeNs> varying_schedule(const ArrivalSpec& spec, std::size_t count, std::uint64_t seed) {
  const LoadClock clock(spec);
  Rng rng(seed);
  std::vector<TimeNs> t;
  t.reserve(count);
  long double n = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) {
      switch (spec.gaps) {
        case ArrivalSpec::Kind::kJitter: n += 1.0L - spec.jitter + 2.0L * spec.jitter * rng.uniform01(); break;
        case ArrivalSpec::Kind::kConstant: n += 1; break;
        default: n += rng.exponential(1.0); break;
      }
    }
    const long double at_ns = clock.time_of(n) * 1e9L;
    if (!(at_ns <= static_cast<long double>(limits::kMaxTimeNs))) {
      throw UserError(fmt::format("--arrivals '{}': the arrivals would last past 100 years", spec.text));
    }
    // Ascending, even where rounding meets a pause's edge.
    t.push_back(std::max(t.empty() ? TimeNs{0} : t.back(), static_cast<TimeNs>(std::llround(at_ns))));
  }
  // The first at 0 (a load that starts with a pause starts when the pause ends).
  const TimeNs first = t.empty() ? 0 : t.front();
  for (TimeNs& x : t) x -= first;
  return t;
}

}  // namespace

std::size_t schedule_count(const ArrivalSpec& spec, std::size_t requests, bool requests_given) {
  if (requests_given || !spec.whole_by_default()) return requests;
  if (spec.kind == ArrivalSpec::Kind::kTrace) return read_trace(spec.trace_path).size();
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(spec.cycle_arrivals())));
}

void check_schedule(const ArrivalSpec& spec, double rate_hz, std::size_t count) {
  if (count > limits::kMaxRequests) check_requests(count, "--requests");
  if (spec.kind == ArrivalSpec::Kind::kTrace) return;
  if (spec.varies()) {
    // The cycles the requests take, each of the cycle's length.
    const long double cycles = static_cast<long double>(count) / static_cast<long double>(spec.cycle_arrivals());
    if (cycles * static_cast<long double>(spec.cycle_ns()) > static_cast<long double>(limits::kMaxTimeNs)) {
      throw UserError(fmt::format("--arrivals '{}' with {} requests: the arrivals would last past 100 years, the "
                                  "longest run accepted; ask for fewer requests",
                                  spec.text, count));
    }
    return;
  }
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
  if (spec.varies()) return varying_schedule(spec, count == 0 ? schedule_count(spec, 0, false) : count, seed);
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
    case ArrivalSpec::Kind::kSteps:
    case ArrivalSpec::Kind::kDiurnal:
      break;  // returned above
  }
  return t;
}

}  // namespace greenbatch
