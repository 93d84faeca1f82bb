#pragma once
// A latency target ("p99=200ms"): which latency figure, and its limit. One grammar for every
// command that takes one (recommend, tune), parsed once at the edge.
#include <array>
#include <string>
#include <string_view>

#include "core/time.hpp"

namespace greenbatch {

// The latency figures a run records.
enum class LatencyFigure { kMean, kP50, kP90, kP95, kP99, kMax };
inline constexpr std::array<LatencyFigure, 6> kLatencyFigures = {LatencyFigure::kMean, LatencyFigure::kP50,
                                                                LatencyFigure::kP90,  LatencyFigure::kP95,
                                                                LatencyFigure::kP99,  LatencyFigure::kMax};

// As written in a target and in records: "mean", "p50", ..., "max".
std::string_view latency_key(LatencyFigure f);
// For people: "mean", "p50", ..., "maximum".
std::string_view latency_name(LatencyFigure f);

struct LatencyTarget {
  LatencyFigure figure = LatencyFigure::kP99;
  TimeNs limit_ns = 0;  // above 0
  std::string text;     // canonical: "p99=200ms"
  double limit_s() const { return ns_to_s(limit_ns); }
};

// "p50|p90|p95|p99|max|mean=DURATION", the duration above zero. Throws UserError naming
// `flag` and saying what is accepted.
LatencyTarget parse_latency_target(std::string_view text, std::string_view flag = "--slo");

}  // namespace greenbatch
