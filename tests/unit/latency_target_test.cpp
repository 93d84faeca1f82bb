// One grammar for latency targets (recommend and tune used to have two that disagreed).
#include "core/latency_target.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace greenbatch {
namespace {

TEST(LatencyTarget, EveryFigureWithADurationAboveZero) {
  const LatencyTarget t = parse_latency_target("p95=0.2s");
  EXPECT_EQ(t.figure, LatencyFigure::kP95);
  EXPECT_EQ(t.limit_ns, 200 * kNsPerMs);
  EXPECT_EQ(t.text, "p95=200ms");
  for (LatencyFigure f : kLatencyFigures) {
    EXPECT_EQ(parse_latency_target(std::string(latency_key(f)) + "=1s").figure, f);
  }
  EXPECT_EQ(latency_name(LatencyFigure::kMax), "maximum");
}

TEST(LatencyTarget, BadTargetsSayWhatIsAccepted) {
  for (const char* bad : {"p99=0s", "p99=0", "p99", "p98=1s", "p99=-1ms", "=1s", "p99=fast"}) {
    try {
      parse_latency_target(bad, "--slo");
      FAIL() << bad << " was accepted";
    } catch (const UserError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(std::string("--slo '") + bad + "'"), std::string::npos) << msg;
    }
  }
}

}  // namespace
}  // namespace greenbatch
