#include "core/latency_target.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

std::string_view latency_key(LatencyFigure f) {
  switch (f) {
    case LatencyFigure::kMean: return "mean";
    case LatencyFigure::kP50: return "p50";
    case LatencyFigure::kP90: return "p90";
    case LatencyFigure::kP95: return "p95";
    case LatencyFigure::kP99: return "p99";
    case LatencyFigure::kMax: return "max";
  }
  return "?";
}

std::string_view latency_name(LatencyFigure f) { return f == LatencyFigure::kMax ? "maximum" : latency_key(f); }

LatencyTarget parse_latency_target(std::string_view text, std::string_view flag) {
  constexpr std::string_view kAccepted =
      "p50, p90, p95, p99, max or mean = a duration above zero, e.g. p99=200ms or max=1s";
  const std::size_t eq = text.find('=');
  if (eq == std::string_view::npos) throw UserError(fmt::format("{} '{}': expected {}", flag, text, kAccepted));
  const std::string_view key = text.substr(0, eq);
  LatencyTarget t;
  bool known = false;
  for (LatencyFigure f : kLatencyFigures) {
    if (latency_key(f) == key) {
      t.figure = f;
      known = true;
    }
  }
  if (!known) {
    throw UserError(fmt::format("{} '{}': unknown latency figure '{}'; accepted: {}", flag, text, key, kAccepted));
  }
  t.limit_ns = parse_duration_ns(text.substr(eq + 1), fmt::format("{} '{}'", flag, text));
  if (t.limit_ns <= 0) {
    throw UserError(fmt::format("{} '{}': the target must be above zero; accepted: {}", flag, text, kAccepted));
  }
  t.text = fmt::format("{}={}", key, duration_spec(t.limit_ns));
  return t;
}

}  // namespace greenbatch
