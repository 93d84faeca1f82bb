#include "core/units.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "core/error.hpp"

namespace greenbatch {

std::string format_seconds_exact(TimeNs ns) {
  const char* sign = ns < 0 ? "-" : "";
  const unsigned long long mag =
      ns < 0 ? static_cast<unsigned long long>(-(ns + 1)) + 1 : static_cast<unsigned long long>(ns);
  return fmt::format("{}{}.{:09}", sign, mag / 1'000'000'000ULL, mag % 1'000'000'000ULL);
}

namespace {

constexpr double kMaxPowerW = 1e6;  // a machine's power, at most 1 MW

bool parse_number_prefix(std::string_view text, double& value, std::size_t& used) {
  // std::from_chars for double is locale-independent (GCC 11+).
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  if (begin != end && *begin == '+') ++begin;
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || !std::isfinite(value)) return false;
  used = static_cast<std::size_t>(ptr - text.data());
  return true;
}

}  // namespace

double parse_double(std::string_view text, std::string_view what) {
  double v = 0;
  std::size_t used = 0;
  if (!parse_number_prefix(text, v, used) || used != text.size()) {
    throw UserError(fmt::format("{}: '{}' is not a number (expected e.g. 0.2 or 64)", what, text));
  }
  return v;
}

std::string format_bound(double v) {
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{:.0f}", v);
  return fmt::format("{:.6g}", v);
}

std::uint64_t parse_whole(std::string_view text, std::string_view what, std::uint64_t min, std::uint64_t max) {
  const auto bounds = [&] { return fmt::format("a whole number from {} to {}", min, max); };
  std::uint64_t v = 0;
  // from_chars of an unsigned type takes no sign, so "-1" cannot wrap; "+1" and " 1" are refused too.
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ptr != text.data() + text.size() ||
      (ec != std::errc() && ec != std::errc::result_out_of_range)) {
    throw UserError(fmt::format("{}: '{}' is not {}", what, text, bounds()));
  }
  if (ec == std::errc::result_out_of_range || v > max) {
    throw UserError(fmt::format("{}: {} is above the largest accepted, {} ({})", what, text, max, bounds()));
  }
  if (v < min) throw UserError(fmt::format("{}: {} is below the least accepted, {} ({})", what, text, min, bounds()));
  return v;
}

std::uint64_t parse_seed(std::string_view text, std::string_view what) {
  return parse_whole(text, what, 0, std::numeric_limits<std::uint64_t>::max());
}

double check_rate_hz(double rate_hz, std::string_view what) {
  const std::string accepted = fmt::format("a rate from {:g} to {:g} requests per second", limits::kMinRateHz,
                                           limits::kMaxRateHz);
  if (!std::isfinite(rate_hz)) throw UserError(fmt::format("{}: {} is not {}", what, rate_hz, accepted));
  if (rate_hz < limits::kMinRateHz) {
    throw UserError(fmt::format("{}: {:g} is below the lowest rate accepted, {:g} requests per second (one every 11.6 "
                                "days); accepted: {}",
                                what, rate_hz, limits::kMinRateHz, accepted));
  }
  if (rate_hz > limits::kMaxRateHz) {
    throw UserError(fmt::format("{}: {:g} is above the highest rate accepted, {:g} requests per second (one per "
                                "nanosecond, the clock's resolution); accepted: {}",
                                what, rate_hz, limits::kMaxRateHz, accepted));
  }
  return rate_hz;
}

double parse_rate_hz(std::string_view text, std::string_view what) {
  double v = 0;
  std::size_t used = 0;
  if (!parse_number_prefix(text, v, used) || used != text.size()) {
    throw UserError(fmt::format("{}: '{}' is not a number; expected a rate from {:g} to {:g} requests per second",
                                what, text, limits::kMinRateHz, limits::kMaxRateHz));
  }
  return check_rate_hz(v, what);
}

std::uint64_t check_requests(std::uint64_t n, std::string_view what) {
  if (n < 1 || n > limits::kMaxRequests) {
    throw UserError(fmt::format("{}: {} requests; accepted: from 1 to {} ({} million) per run", what, n,
                                limits::kMaxRequests, limits::kMaxRequests / 1'000'000));
  }
  return n;
}

long long parse_integer(std::string_view text, std::string_view what) {
  long long v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
    throw UserError(fmt::format("{}: '{}' is not a whole number", what, text));
  }
  return v;
}

TimeNs parse_duration_ns(std::string_view text, std::string_view what) {
  double v = 0;
  std::size_t used = 0;
  const std::string_view accepted =
      "a number with a unit: ns, us, ms, s, m (minutes) or h (e.g. 50ms, 2.5ms, 100us, 1s, 10m; 0 needs none), at "
      "most 100 years";
  if (!parse_number_prefix(text, v, used)) {
    throw UserError(fmt::format("{}: '{}' is not a duration; expected {}", what, text, accepted));
  }
  const std::string_view unit = text.substr(used);
  double scale = 0;
  if (unit == "ns") scale = 1;
  else if (unit == "us" || unit == "\xC2\xB5s") scale = 1e3;
  else if (unit == "ms") scale = 1e6;
  else if (unit == "s") scale = 1e9;
  else if (unit == "m" || unit == "min") scale = 60e9;
  else if (unit == "h") scale = 3600e9;
  else if (unit.empty() && v == 0)
    return 0;  // zero is zero in any unit
  else if (unit.empty())
    throw UserError(fmt::format("{}: '{}' has no unit; expected {}", what, text, accepted));
  else
    throw UserError(fmt::format("{}: unknown unit '{}' in '{}'; expected {}", what, unit, text, accepted));
  if (v < 0) throw UserError(fmt::format("{}: '{}' is negative; a duration must be >= 0", what, text));
  const double ns = std::round(v * scale);
  if (ns > static_cast<double>(limits::kMaxTimeNs)) {
    throw UserError(fmt::format("{}: '{}' is longer than the longest duration accepted, 100 years", what, text));
  }
  return static_cast<TimeNs>(ns);
}

double parse_power_w(std::string_view text, std::string_view what) {
  double v = 0;
  std::size_t used = 0;
  if (!parse_number_prefix(text, v, used)) {
    throw UserError(fmt::format("{}: '{}' is not a power; expected watts such as 150W", what, text));
  }
  const std::string_view unit = text.substr(used);
  double scale = 0;
  if (unit.empty() || unit == "W") scale = 1;
  else if (unit == "mW") scale = 1e-3;
  else if (unit == "kW") scale = 1e3;
  else throw UserError(fmt::format("{}: unknown unit '{}' in '{}'; expected W, mW or kW", what, unit, text));
  if (v < 0) throw UserError(fmt::format("{}: '{}' is negative; a power must be >= 0", what, text));
  if (v * scale > kMaxPowerW) {
    throw UserError(fmt::format("{}: '{}' is above the highest power accepted, 1 MW (1000kW)", what, text));
  }
  return v * scale;
}

std::map<std::string, std::string> parse_key_values(std::string_view text, std::string_view what,
                                                    std::string_view allowed) {
  std::set<std::string, std::less<>> keys;
  for (std::size_t start = 0; start <= allowed.size();) {
    std::size_t comma = allowed.find(',', start);
    if (comma == std::string_view::npos) comma = allowed.size();
    keys.emplace(allowed.substr(start, comma - start));
    start = comma + 1;
  }
  std::map<std::string, std::string> out;
  if (text.empty()) return out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view pair = text.substr(start, comma - start);
    const std::size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0 || eq + 1 == pair.size()) {
      throw UserError(fmt::format("{}: '{}' is not key=value (keys: {})", what, pair, allowed));
    }
    const std::string key(pair.substr(0, eq));
    if (!keys.contains(key)) {
      throw UserError(fmt::format("{}: unknown key '{}' (keys: {})", what, key, allowed));
    }
    if (!out.emplace(key, std::string(pair.substr(eq + 1))).second) {
      throw UserError(fmt::format("{}: key '{}' given twice", what, key));
    }
    start = comma + 1;
  }
  return out;
}

std::pair<std::string, std::string> split_spec(std::string_view spec) {
  const std::size_t colon = spec.find(':');
  if (colon == std::string_view::npos) return {std::string(spec), {}};
  return {std::string(spec.substr(0, colon)), std::string(spec.substr(colon + 1))};
}

std::string duration_spec(TimeNs ns) {
  if (ns % kNsPerS == 0) return fmt::format("{}s", ns / kNsPerS);
  if (ns % kNsPerMs == 0) return fmt::format("{}ms", ns / kNsPerMs);
  if (ns % kNsPerUs == 0) return fmt::format("{}us", ns / kNsPerUs);
  return fmt::format("{}ns", ns);
}

std::string format_duration_s(double seconds) {
  return format_duration(static_cast<TimeNs>(std::llround(seconds * 1e9)));
}

std::string format_duration(TimeNs ns) {
  const double a = std::fabs(static_cast<double>(ns));
  if (a >= 1e9) return fmt::format("{:.4g} s", ns / 1e9);
  if (a >= 1e6) return fmt::format("{:.4g} ms", ns / 1e6);
  if (a >= 1e3) return fmt::format("{:.4g} us", ns / 1e3);
  return fmt::format("{} ns", ns);
}

std::string quote_text(std::string_view text, std::size_t max_chars) {
  std::string out = "'";
  std::size_t shown = 0, i = 0;
  for (; i < text.size() && shown < max_chars; ++i, ++shown) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\' || c == '\'') out += fmt::format("\\{}", static_cast<char>(c));
    else if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  if (i < text.size()) return out + fmt::format("...' ({} bytes)", text.size());
  return out + "'";
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

}  // namespace greenbatch
