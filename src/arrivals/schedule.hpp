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
  enum class Kind { kConstant, kJitter, kPoisson, kBursty, kTrace };
  Kind kind = Kind::kConstant;
  double jitter = 0.0;       // kJitter: gaps uniform in [(1-F)/rate, (1+F)/rate]
  double burst = 4.0;        // kBursty: rate while on / mean rate (> 1)
  TimeNs on_ns = 500 * kNsPerMs;  // kBursty: mean length of an on period
  std::string trace_path;    // kTrace
  std::string text;          // the spec as written, normalised (for records)
};

// "constant", "jitter:0.2", "poisson", "bursty", "bursty:burst=4,on=500ms", "trace:FILE".
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

}  // namespace greenbatch
