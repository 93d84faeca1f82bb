#pragma once
// Parsing of the small value languages used on the command line and in files:
// durations ("50ms"), powers ("150W"), numbers, and "name:key=value,key=value" specs.
#include <cstdint>
#include <map>
#include <string>
#include <vector>
#include <string_view>

#include "core/time.hpp"

namespace greenbatch {

// The bounds of every numeric input: what no experiment needs is refused, with the bound in the
// message, where the value is parsed or the run is prepared (CLI flags, experiment files,
// simulate and tune alike).
namespace limits {
// Rates, requests per second: below one a million seconds (11.6 days) the schedule's times leave
// any experiment; above one per nanosecond the clock cannot tell arrivals apart.
inline constexpr double kMinRateHz = 1e-6;
inline constexpr double kMaxRateHz = 1e9;
// Times on a run's clock (arrivals, durations): at most 100 years (int64 ns overflow at 292).
inline constexpr TimeNs kMaxTimeNs = 36525LL * 24 * 3600 * kNsPerS;  // 100 Julian years of 365.25 days
// Requests of one run: 100 million (the schedule, the batches and the latencies then take up to
// about 6 GB).
inline constexpr std::uint64_t kMaxRequests = 100'000'000;
// CPU threads of a backend (0: all), and warm-up batches before a run.
inline constexpr std::uint64_t kMaxThreads = 4096;
inline constexpr std::uint64_t kMaxWarmupBatches = 1'000'000;
}  // namespace limits

// "500ns", "100us", "2ms", "1.5s"; a unit is required except for 0. At most
// limits::kMaxTimeNs. Throws UserError naming `what`.
TimeNs parse_duration_ns(std::string_view text, std::string_view what);
// "150W", "150" or "0.5kW" -> watts, from 0 to 1 MW. Throws UserError naming `what`.
double parse_power_w(std::string_view text, std::string_view what);
// A finite decimal number. Throws UserError naming `what`.
double parse_double(std::string_view text, std::string_view what);
// A whole number (digits, optionally a sign). Throws UserError naming `what`.
long long parse_integer(std::string_view text, std::string_view what);
// A whole number from `min` to `max` (digits only, no sign, no blank). Throws UserError naming
// `what` and the bounds, also for a number too long for any integer type.
std::uint64_t parse_whole(std::string_view text, std::string_view what, std::uint64_t min, std::uint64_t max);
// A seed: a whole number from 0 to 2^64 - 1 (nothing wraps: -1 and 2^64 are refused).
std::uint64_t parse_seed(std::string_view text, std::string_view what);

// A rate in requests per second from limits::kMinRateHz to kMaxRateHz (finite). Returns it.
double check_rate_hz(double rate_hz, std::string_view what);
// The same, from text ("64", "0.5").
double parse_rate_hz(std::string_view text, std::string_view what);
// A count of requests from 1 to limits::kMaxRequests. Returns it.
std::uint64_t check_requests(std::uint64_t n, std::string_view what);
// A number readable in a message: "1e+06", "100000000", "0.5" (at most 6 significant digits).
std::string format_bound(double v);

// "key=value,key=value" -> map; keys must be in `allowed` (comma-separated list, for the
// message). Throws UserError on a malformed pair, a repeated or an unknown key.
std::map<std::string, std::string> parse_key_values(std::string_view text, std::string_view what,
                                                    std::string_view allowed);

// Splits "name:rest" at the first ':' (rest is empty when there is none).
std::pair<std::string, std::string> split_spec(std::string_view spec);

// Canonical spec form, in the largest unit that keeps it whole: "50ms", "100us", "0s".
std::string duration_spec(TimeNs ns);

// Human-readable duration: "15.6 ms", "5 us", "1.25 s".
std::string format_duration(TimeNs ns);
// The same for a duration in seconds (rounded to the nanosecond).
std::string format_duration_s(double seconds);

// Untrusted text for a message: quoted, at most `max_chars` characters, anything but printable
// ASCII escaped (\xNN), and the length said when cut: 'abc\x00d' or 'aaaa...' (5000000 bytes).
std::string quote_text(std::string_view text, std::size_t max_chars = 60);

// A comma-separated list of a flag's values; empty items dropped ("a,,b," gives a and b).
std::vector<std::string> split_list(const std::string& s);

}  // namespace greenbatch
