#pragma once
// Arrival schedules, computed in full before a run from a seeded generator (as MLPerf
// LoadGen does): nothing draws random numbers while a run is measured.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/time.hpp"

namespace greenbatch {

struct ArrivalSpec {
  // kSteps and kDiurnal: loads that change with time (their own rates; --rate is ignored).
  enum class Kind { kConstant, kJitter, kPoisson, kBursty, kTrace, kSteps, kDiurnal };
  Kind kind = Kind::kConstant;
  // kSteps: piecewise constant rates, each for its duration, the sequence repeated.
  struct Step {
    double rate_hz = 0;
    TimeNs duration_ns = 0;
  };
  std::vector<Step> steps;
  // kDiurnal: rate(t) = min + (max - min) (1 - cos(2 pi t / period)) / 2: min at 0, max at half
  // the period.
  double min_hz = 0, max_hz = 0;
  TimeNs period_ns = 0;
  // kSteps and kDiurnal: the gaps between arrivals in the load's own time (where the rate is 1):
  // Poisson (exponential gaps: a Poisson process whose rate varies with time), jittered
  // (uniform in [1-F, 1+F], `jitter` F) or constant; mapped to real time through the inverse of
  // the cumulative rate (time rescaling), so the process is exact and seeded.
  Kind gaps = Kind::kPoisson;
  double jitter = 0.0;       // kJitter: gaps uniform in [(1-F)/rate, (1+F)/rate]
  double burst = 4.0;        // kBursty: rate while on / mean rate (> 1)
  TimeNs on_ns = 500 * kNsPerMs;  // kBursty: mean length of an on period
  std::string trace_path;    // kTrace
  std::string text;          // the spec as written, normalised (for records)

  // A load whose rates change with time (steps, diurnal).
  bool varies() const { return kind == Kind::kSteps || kind == Kind::kDiurnal; }
  // Takes its whole length when no request count is given (a trace: the file; steps and
  // diurnal: one cycle).
  bool whole_by_default() const { return kind == Kind::kTrace || varies(); }
  // steps and diurnal: one cycle's length, its expected arrivals and mean rate.
  TimeNs cycle_ns() const;
  double cycle_arrivals() const;
  double mean_rate_hz() const { return cycle_arrivals() / ns_to_s(cycle_ns()); }
  // steps and diurnal: the rate at `t` (in the cycle, repeated).
  double rate_at(TimeNs t) const;
};

// "constant", "jitter:0.2", "poisson", "bursty", "bursty:burst=4,on=500ms", "trace:FILE",
// "steps:16@60s,128@60s[,gaps=poisson|constant|jitter:F]",
// "diurnal:min=8,max=128,period=10m[,gaps=...]".
// Throws UserError with the accepted forms.
ArrivalSpec parse_arrivals(std::string_view spec);

// The bursty process draws on and off periods until the next arrival falls in an on period: an
// on period much shorter than the gap between arrivals within a burst costs that many draws per
// request. Its mean must be at least this share of that gap (at most about a thousand draws).
inline constexpr double kMinBurstyOnShare = 1e-3;

// Checks, before anything is drawn, that a schedule stays within the bounds (core/units.hpp):
// the rate (not for a trace), `count` at most limits::kMaxRequests (0 is a whole trace), the last
// arrival expected within limits::kMaxTimeNs, and a bursty on period not under
// kMinBurstyOnShare of the gap within a burst. Throws UserError with the bound.
void check_schedule(const ArrivalSpec& spec, double rate_hz, std::size_t count);

// Arrival times in ns, ascending, the first at 0; check_schedule first, and a drawn arrival past
// limits::kMaxTimeNs is refused as well. For a trace, `rate_hz` is ignored and the
// first `count` arrivals of the file are used (an error if it holds fewer; 0 takes them all).
std::vector<TimeNs> generate_schedule(const ArrivalSpec& spec, double rate_hz, std::size_t count,
                                      std::uint64_t seed);

// A trace file: one time in seconds per line, or a CSV with a `timestamp` column. Times are
// returned relative to the first. Errors name the file and the line.
std::vector<TimeNs> read_trace(const std::string& path);

// The requests of a run: `requests` when given, else a trace's whole length or one cycle of a
// steps or diurnal load (its expected arrivals, rounded; at least 1).
std::size_t schedule_count(const ArrivalSpec& spec, std::size_t requests, bool requests_given);

}  // namespace greenbatch
