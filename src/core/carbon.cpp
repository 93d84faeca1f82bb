#include "core/carbon.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "core/error.hpp"

namespace greenbatch {

namespace {

constexpr double kMaxIntensity = 5000;  // gCO2e/kWh: above any grid's (coal is about 1000)
constexpr std::string_view kAccepted =
    "a number of gCO2e per kWh (e.g. 350) or a CSV file of time,intensity rows (time ISO 8601 UTC such as "
    "2026-12-01T10:00:00Z, or unix seconds; intensity in gCO2e/kWh)";

// A CSV field without its spaces, quotes and line end.
std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '"')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '"' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::optional<double> number(std::string_view s) {
  s = trimmed(s);
  if (s.empty() || s.size() > 64) return std::nullopt;
  const std::string t(s);
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

}  // namespace

std::optional<double> parse_utc_time(std::string_view text) {
  text = trimmed(text);
  if (const auto n = number(text)) return *n;
  const std::string t(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, used = 0;
  char sep = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2d%c%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &used) != 6 ||
      (sep != 'T' && sep != ' ')) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || y < 1970 || y > 9999) return std::nullopt;
  std::string_view rest = std::string_view(t).substr(static_cast<std::size_t>(used));
  double sec = 0;
  if (!rest.empty() && rest.front() == ':') {
    std::size_t n = 1;
    while (n < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[n])) || rest[n] == '.')) ++n;
    const auto s = number(rest.substr(1, n - 1));
    if (!s || *s < 0 || *s >= 61) return std::nullopt;
    sec = *s;
    rest.remove_prefix(n);
  }
  double offset_s = 0;
  if (rest == "Z" || rest.empty()) {
  } else if ((rest.front() == '+' || rest.front() == '-') && rest.size() == 6 && rest[3] == ':') {
    const auto oh = number(rest.substr(1, 2)), om = number(rest.substr(4, 2));
    if (!oh || !om || *oh > 14 || *om > 59) return std::nullopt;
    offset_s = (rest.front() == '+' ? 1 : -1) * (*oh * 3600 + *om * 60);
  } else {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  const std::time_t base = timegm(&tm);
  if (base == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<double>(base) + sec - offset_s;
}

CarbonIntensity parse_carbon_intensity(std::string_view text, std::string_view flag) {
  CarbonIntensity ci;
  if (const auto v = number(text)) {
    if (!(*v >= 0 && *v <= kMaxIntensity)) {
      throw UserError(fmt::format("{} {}: must be from 0 to {:g} gCO2e/kWh", flag, text, kMaxIntensity));
    }
    ci.constant_g_per_kwh = *v;
    ci.source = fmt::format("{:g} gCO2e/kWh", *v);
    return ci;
  }
  const std::string path(text);
  std::ifstream f(path);
  if (!f) throw UserError(fmt::format("{} '{}': neither a number nor a readable file; accepted: {}", flag, text, kAccepted));
  ci.source = path;
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    const std::size_t comma = line.find(',');
    const std::string_view l(line);
    const auto time = parse_utc_time(l.substr(0, comma));
    const auto value = comma == std::string::npos ? std::nullopt : number(l.substr(comma + 1, l.find(',', comma + 1) - comma - 1));
    if (!time || !value) {
      if (ci.series.empty() && n == 1) continue;  // a header
      throw UserError(fmt::format("{} '{}' line {}: '{}' is not time,intensity; accepted: {}", flag, path, n,
                                  line.substr(0, 80), kAccepted));
    }
    if (!(*value >= 0 && *value <= kMaxIntensity)) {
      throw UserError(fmt::format("{} '{}' line {}: intensity {} is not from 0 to {:g} gCO2e/kWh", flag, path, n, *value,
                                  kMaxIntensity));
    }
    if (!ci.series.empty() && *time <= ci.series.back().first) {
      throw UserError(fmt::format("{} '{}' line {}: times must increase (this row is not after the one before)", flag,
                                  path, n));
    }
    ci.series.emplace_back(*time, *value);
  }
  if (ci.series.empty()) throw UserError(fmt::format("{} '{}': no time,intensity rows; accepted: {}", flag, path, kAccepted));
  return ci;
}

std::optional<double> mean_intensity(const CarbonIntensity& ci, double start_s, double end_s, std::string* why) {
  if (ci.constant_g_per_kwh) return ci.constant_g_per_kwh;
  const auto& s = ci.series;
  if (s.empty()) {
    if (why) *why = "no carbon intensity";
    return std::nullopt;
  }
  const double last_step = s.size() > 1 ? s.back().first - s[s.size() - 2].first : 3600;
  const double series_end = s.back().first + last_step;
  const auto utc = [](double t) {
    const std::time_t tt = static_cast<std::time_t>(std::floor(t));
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf);
  };
  if (start_s < s.front().first || end_s > series_end) {
    if (why) {
      *why = fmt::format("{} covers {} to {}, not the run's window {} to {}", ci.source, utc(s.front().first),
                         utc(series_end), utc(start_s), utc(end_s));
    }
    return std::nullopt;
  }
  if (end_s <= start_s) {  // an empty window: the value at its time
    for (std::size_t i = s.size(); i-- > 0;) {
      if (s[i].first <= start_s) return s[i].second;
    }
  }
  double weighted = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double a = std::max(s[i].first, start_s);
    const double b = std::min(i + 1 < s.size() ? s[i + 1].first : series_end, end_s);
    if (b > a) weighted += s[i].second * (b - a);
  }
  return weighted / (end_s - start_s);
}

}  // namespace greenbatch
