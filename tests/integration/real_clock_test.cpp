// The same configurations on the real clock agree with the virtual clock (generous bounds:
// the real clock shares a busy machine).
#include <gtest/gtest.h>

#include <cmath>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "engine/engine.hpp"
#include "engine/summary.hpp"

namespace greenbatch {
namespace {

constexpr double kToleranceS = 0.005;

Summary run_on(Clock& clock, const std::string& policy, std::size_t n, RunResult* out = nullptr) {
  SyntheticBackend backend(SyntheticParams{5 * kNsPerMs, 0}, clock);
  NoMeter none("test");
  auto p = parse_policy(policy);
  RunResult r = run_engine(generate_schedule(parse_arrivals("constant"), 64, n, 1), *p, backend, none, clock);
  const Summary s = summarize(r);
  if (out) *out = std::move(r);
  return s;
}

void expect_agree(const std::string& policy, std::size_t n) {
  VirtualClock vclock;
  RealClock rclock;
  RunResult real_run;
  const Summary v = run_on(vclock, policy, n);
  const Summary r = run_on(rclock, policy, n, &real_run);
  SCOPED_TRACE(policy);
  EXPECT_EQ(r.completed, v.completed);
  EXPECT_EQ(r.batches, v.batches);
  EXPECT_NEAR(r.latency_s.max, v.latency_s.max, kToleranceS);
  EXPECT_NEAR(r.latency_s.p50, v.latency_s.p50, kToleranceS);
  EXPECT_NEAR(r.latency_s.mean, v.latency_s.mean, kToleranceS);
  EXPECT_NEAR(r.duration_s, v.duration_s, kToleranceS);
  // Real time never runs ahead of the schedule: nothing is dispatched before it arrives.
  for (const BatchRecord& b : real_run.batches) {
    EXPECT_GE(b.start_ns, real_run.arrivals[b.first_request + b.size - 1]);
    EXPECT_GE(b.end_ns - b.start_ns, 5 * kNsPerMs);
    EXPECT_GE(b.late_ns, 0);
  }
}

TEST(RealClock, Fixed16AgreesWithTheVirtualClock) { expect_agree("fixed:16", 64); }
TEST(RealClock, GreedyAgreesWithTheVirtualClock) { expect_agree("greedy:128", 32); }
TEST(RealClock, TimeoutAgreesWithTheVirtualClock) { expect_agree("timeout:16:50ms", 48); }

TEST(RealClock, SleepNeverReturnsEarly) {
  RealClock clock;
  for (TimeNs d : {TimeNs{10'000}, TimeNs{200'000}, TimeNs{2'000'000}}) {
    const TimeNs target = clock.now() + d;
    clock.sleep_until(target);
    EXPECT_GE(clock.now(), target);
  }
}

}  // namespace
}  // namespace greenbatch
