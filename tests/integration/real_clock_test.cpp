// The same configurations on the real clock agree with the virtual clock (generous bounds:
// the real clock shares a busy machine).
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <string>
#include <vector>

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

// What differs between the real-clock run and the virtual one beyond the tolerance (empty: they
// agree). Counts and the schedule's order are exact; times within kToleranceS.
std::string disagreement(const Summary& v, const Summary& r) {
  std::string out;
  const auto near = [&](const char* what, double a, double b) {
    if (std::abs(a - b) > kToleranceS) out += fmt::format("{}: real {} s, virtual {} s; ", what, a, b);
  };
  near("latency max", r.latency_s.max, v.latency_s.max);
  near("latency p50", r.latency_s.p50, v.latency_s.p50);
  near("latency mean", r.latency_s.mean, v.latency_s.mean);
  near("duration", r.duration_s, v.duration_s);
  return out;
}

void expect_agree(const std::string& policy, std::size_t n) {
  SCOPED_TRACE(policy);
  VirtualClock vclock;
  const Summary v = run_on(vclock, policy, n);
  // A real-clock run on a shared machine can be descheduled for a few milliseconds (under a
  // sanitizer, while other jobs build): the times must agree in one of three attempts; what is
  // exact (counts, order, never early) must hold in every one.
  std::vector<std::string> misses;
  for (int attempt = 0; attempt < 3; ++attempt) {
    RealClock rclock;
    RunResult real_run;
    const Summary r = run_on(rclock, policy, n, &real_run);
    EXPECT_EQ(r.completed, v.completed);
    EXPECT_EQ(r.batches, v.batches);
    // Real time never runs ahead of the schedule: nothing is dispatched before it arrives.
    for (const BatchRecord& b : real_run.batches) {
      EXPECT_GE(b.start_ns, real_run.arrivals[b.first_request + b.size - 1]);
      EXPECT_GE(b.end_ns - b.start_ns, 5 * kNsPerMs);
      EXPECT_GE(b.late_ns, 0);
    }
    const std::string d = disagreement(v, r);
    if (d.empty()) return;
    misses.push_back(d);
  }
  ADD_FAILURE() << "the real clock disagreed with the virtual clock in 3 attempts: " << fmt::format("{}", fmt::join(misses, " | "));
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
