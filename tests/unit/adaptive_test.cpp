// The learning policies (issue 22) on hand-made inputs: what they learn of the arrivals and of
// the service times, the plan the adaptive policy derives from them (checked against the
// arithmetic of its rule), and Clipper's AIMD steps.
#include "batching/adaptive.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/error.hpp"

namespace greenbatch {
namespace {

constexpr TimeNs kMs = 1'000'000;

std::vector<TimeNs> every(std::size_t n, TimeNs first, TimeNs gap) {
  std::vector<TimeNs> w;
  for (std::size_t i = 0; i < n; ++i) w.push_back(first + static_cast<TimeNs>(i) * gap);
  return w;
}

TEST(RecentArrivals, KeepsEachArrivalOnceAndCountsTheLastWindow) {
  RecentArrivals r(1000 * kMs);
  EXPECT_FALSE(r.rate_hz(0));
  // 0, 10, 20 ms waiting; then 20 ms still waiting with 30, 40 ms after the first two left.
  const auto a = every(3, 0, 10 * kMs);
  r.see(a, 0);
  EXPECT_NEAR(*r.rate_hz(20 * kMs), 3 / 0.020, 1e-6);  // over the time since the first arrival
  const auto b = every(3, 20 * kMs, 10 * kMs);
  r.see(b, 2);  // two dispatched: b[0] is the stream's third arrival, already kept
  EXPECT_NEAR(*r.rate_hz(50 * kMs), 5 / 0.050, 1e-6);
  // A second later only the last window's arrivals count: none.
  EXPECT_EQ(*r.rate_hz(2000 * kMs), 0.0);
  // 100 arrivals a second for 3 s: 100/s over the last second.
  RecentArrivals s(1000 * kMs);
  const auto c = every(300, 0, 10 * kMs);
  for (std::size_t i = 0; i < c.size(); ++i) s.see(std::span(c).subspan(i, 1), i);
  EXPECT_NEAR(*s.rate_hz(2995 * kMs), 100.0, 1e-9);
}

TEST(LearnedService, InterpolatesBetweenSizesSeenAndScalesAboveTheLargest) {
  LearnedService s;
  EXPECT_FALSE(s.known());
  EXPECT_EQ(s.service_s(8), 0.0);
  s.observe(2, 12 * kMs);
  EXPECT_NEAR(s.service_s(1), 0.012, 1e-12);   // below the smallest: the smallest's
  EXPECT_NEAR(s.service_s(8), 0.048, 1e-12);   // above: proportional
  s.observe(10, 20 * kMs);
  EXPECT_NEAR(s.service_s(6), 0.016, 1e-12);   // on the line through (2, 12 ms) and (10, 20 ms)
  s.observe(10, 40 * kMs);                      // weighted: 0.75 x 20 + 0.25 x 40
  EXPECT_NEAR(s.service_s(10), 0.025, 1e-12);
}

// Has learned S(b) = 10 ms + 1 ms x b (up to 64) from two batches.
AdaptivePolicy trained() {
  AdaptivePolicy p("p99=200ms", 200 * kMs, 128, 2000 * kMs, "", std::nullopt);
  p.observe({0, 11 * kMs, 0, 0, 1});
  p.observe({20 * kMs, 94 * kMs, 0, 1, 64});
  return p;
}

TEST(AdaptivePolicy, StartsWithBatchesOfOneAtOnce) {
  AdaptivePolicy p("p99=200ms", 200 * kMs, 128, 2000 * kMs, "", std::nullopt);
  const auto w = every(5, 0, kMs);
  const Decision d = p.decide(w, 5 * kMs, false);
  EXPECT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 5u);  // no service time known: the oldest may not wait, so all go
  EXPECT_EQ(p.plan(std::nullopt).batch, 1u);
}

TEST(AdaptivePolicy, PlansTheLargestBatchThatFillsInTimeAndTheWaitLeft) {
  const AdaptivePolicy p = trained();
  // Budget 0.8 x 200 ms = 160 ms. At 100/s, b fills within 160 ms - S(b) while
  // b <= 1 + 100 x (0.150 - 0.001 b): b <= 14.5, so 14; its wait is 160 - 24 = 136 ms.
  const auto plan = p.plan(100.0);
  EXPECT_EQ(plan.batch, 14u);
  EXPECT_EQ(plan.wait_ns, 136 * kMs);
  // At 10/s: b <= 1 + 10 x (0.150 - 0.001 b): 2; wait 148 ms.
  EXPECT_EQ(p.plan(10.0).batch, 2u);
  EXPECT_EQ(p.plan(10.0).wait_ns, 148 * kMs);
  // At 2,000/s no size keeps up (1 ms an image at best): the fastest within the budget. Above 64
  // (the largest seen) learned times scale with the size, no faster: 64, waiting 160 - 74 ms.
  EXPECT_EQ(p.plan(2000.0).batch, 64u);
  EXPECT_EQ(p.plan(2000.0).wait_ns, 86 * kMs);
}

TEST(AdaptivePolicy, DecidesLikeATimeoutPolicyOfItsPlanAndDrainsAnOverdueQueue) {
  AdaptivePolicy q = trained();
  // The stream's first 65 items were the training batches; then 200 arrivals, 100 a second,
  // each served alone in 11 ms (S(1) stays 11 ms).
  const auto a = every(200, 0, 10 * kMs);
  for (std::size_t i = 0; i < a.size(); ++i) {
    q.decide(std::span(a).subspan(i, 1), a[i], false);
    q.observe({a[i], a[i] + 11 * kMs, 0, 65 + i, 1});
  }
  // At 2.01 s the last 2 s hold 198 of them and the 3 waiting: 100.5/s, the plan 14 and 136 ms.
  const auto w = every(3, 1990 * kMs, 10 * kMs);
  Decision d = q.decide(w, 2010 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_EQ(d.until, (1990 + 136) * kMs);
  // 20 waiting (17 more arrivals: 109/s): b <= (1 + 109 x 0.15) / 1.109, 15 go.
  d = q.decide(every(20, 1990 * kMs, 1 * kMs), 2010 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 15u);
  // The oldest is past its wait: every one waiting goes, up to the cap.
  d = q.decide(every(200, 1800 * kMs, 1 * kMs), 2000 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 128u);
  // The stream ended: all at once.
  d = q.decide(every(3, 2300 * kMs, 1 * kMs), 2303 * kMs, true);
  EXPECT_EQ(d.count, 3u);
  EXPECT_EQ(q.decide({}, 2400 * kMs, false).kind, Decision::Kind::kWaitForArrival);
}

TEST(AdaptivePolicy, WithAProfileItPicksTheSizeOfLeastEnergyPerImage) {
  // Service 10 ms + 1 ms x b; dynamic energy per image least at 8, more above (a size past the
  // accelerator's sweet spot).
  SizeTable t;
  for (std::size_t b = 1; b <= 64; ++b) {
    t.service_s.push_back(0.010 + 0.001 * static_cast<double>(b));
    const double x = static_cast<double>(b);
    t.dynamic_j.push_back(1.0 + (x - 8) * (x - 8) / 64);
  }
  AdaptivePolicy p("p99=200ms", 200 * kMs, 64, 2000 * kMs, "table", t);
  EXPECT_EQ(p.plan(100.0).batch, 8u);  // 14 would fill in time, but 8 costs less per image
  EXPECT_EQ(p.plan(100.0).wait_ns, 142 * kMs);
  EXPECT_EQ(p.plan(10.0).batch, 2u);   // at 10/s only 2 fill within the wait
}

TEST(AimdPolicy, GrowsByItsStepWhileTheTargetHoldsAndCutsByTenPercentOnAMiss) {
  AimdPolicy p("p99=100ms", 100 * kMs, 16, 1, 0.9);
  const auto w = every(40, 0, kMs);
  EXPECT_EQ(p.decide(w, 0, false).count, 1u);  // starts at 1
  for (int i = 0; i < 12; ++i) {
    const Decision d = p.decide(w, 0, false);  // oldest arrived at 0
    p.observe({0, 50 * kMs, 0, 0, static_cast<std::uint32_t>(d.count)});
  }
  EXPECT_EQ(p.size(), 13u);
  for (int i = 0; i < 10; ++i) {
    p.decide(w, 0, false);
    p.observe({0, 50 * kMs, 0, 0, 1});
  }
  EXPECT_EQ(p.size(), 16u);  // the cap
  p.decide(w, 0, false);
  p.observe({0, 150 * kMs, 0, 0, 16});  // missed: 16 x 0.9 = 14.4 -> 14
  EXPECT_EQ(p.size(), 14u);
  EXPECT_EQ(p.decide(every(3, 0, kMs), 0, false).count, 3u);  // everything waiting up to its size
  EXPECT_EQ(p.decide({}, 0, false).kind, Decision::Kind::kWaitForArrival);
  AimdPolicy one("max=10ms", 10 * kMs, 16, 1, 0.5);
  one.decide(w, 0, false);
  one.observe({0, 50 * kMs, 0, 0, 1});
  EXPECT_EQ(one.size(), 1u);  // never below 1
}

TEST(LearningPolicies, SpecsRoundTripAndBadSpecsSayWhatIsAccepted) {
  EXPECT_EQ(parse_policy("adaptive:p99=200ms")->spec(), "adaptive:p99=200ms");
  EXPECT_EQ(parse_policy("adaptive:p99=0.2s,cap=64,window=5s")->spec(), "adaptive:p99=200ms,cap=64,window=5s");
  EXPECT_EQ(parse_policy("aimd:max=1s,step=2,cut=0.5")->spec(), "aimd:max=1s,step=2,cut=0.5");
  EXPECT_EQ(parse_policy("aimd:p99=50ms")->max_batch(), 128u);
  EXPECT_EQ(parse_policy("adaptive:p99=50ms,cap=32")->label(), "A");
  const auto refused = [](const std::string& spec, const std::string& part) {
    try {
      parse_policy(spec);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const UserError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(part), std::string::npos) << what;
      EXPECT_NE(what.find("accepted:"), std::string::npos) << what;
    }
  };
  refused("adaptive", "a latency target is needed");
  refused("adaptive:cap=8", "a latency target is needed");
  refused("adaptive:p99=200ms,max=1s", "not both");
  refused("adaptive:p99=fast", "p99");
  refused("adaptive:p99=200ms,size=8", "unknown key 'size'");
  refused("adaptive:p99=200ms,window=0s", "window must be above 0s");
  refused("adaptive:p99=200ms,cap=0", "cap must be from 1");
  refused("aimd:p99=200ms,cut=1.5", "cut must be above 0 and below 1");
  refused("aimd:p99=200ms,step=x", "step 'x' is not a whole number");
  // This test program has no profile reader (sim is not linked in): said so.
  refused("adaptive:p99=200ms,profile=p.json", "cannot be read here");
}

TEST(LearningPolicies, AListOfPoliciesSplitsOnlyWhereANewPolicyBegins) {
  const std::vector<std::string> want{"fixed:16", "adaptive:p99=200ms,cap=64", "greedy", "aimd:p99=1s,step=2",
                                      "timeout:8:5ms"};
  EXPECT_EQ(split_policies("fixed:16,adaptive:p99=200ms,cap=64,greedy,aimd:p99=1s,step=2, timeout:8:5ms"), want);
  EXPECT_EQ(split_policies(""), std::vector<std::string>{});
  EXPECT_EQ(split_policies("greedy:128"), std::vector<std::string>{"greedy:128"});
  // An item that begins no known policy stays with the one before (and fails its parse there).
  EXPECT_EQ(split_policies("fixed:8,bogus:3"), std::vector<std::string>{"fixed:8,bogus:3"});
}

TEST(LearningPolicies, TheTunerTriesThemWhenItHasATarget) {
  const auto with = tune_candidates(TuneSpace{8, {}, "p99=200ms"});
  EXPECT_NE(std::find(with.begin(), with.end(), "adaptive:p99=200ms,cap=8"), with.end());
  EXPECT_NE(std::find(with.begin(), with.end(), "aimd:p99=200ms,cap=8"), with.end());
  const auto without = tune_candidates(TuneSpace{8, {}, ""});
  EXPECT_EQ(std::count_if(without.begin(), without.end(), [](const std::string& s) { return s.starts_with("a"); }), 0);
}

}  // namespace
}  // namespace greenbatch

namespace greenbatch {
namespace {

TEST(SwitchPolicy, HandsEachStretchToItsPolicyAndEndsAWaitAtTheNextSwitch) {
  const auto p = parse_policy("switch:fixed:4@0s+timeout:8:50ms@10s");
  EXPECT_EQ(p->spec(), "switch:fixed:4@0s+timeout:8:50ms@10s");
  EXPECT_EQ(p->max_batch(), 8u);
  const auto w3 = every(3, 0, kMs);
  // Before 10 s, fixed:4: three wait for a fourth, but no longer than the switch.
  Decision d = p->decide(w3, 5 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_EQ(d.until, 10'000 * kMs);
  EXPECT_EQ(p->decide(every(5, 0, kMs), 5 * kMs, false).count, 4u);
  EXPECT_EQ(p->decide({}, 5 * kMs, false).kind, Decision::Kind::kWaitForArrival);  // nothing waiting: no wake-up
  // From 10 s, timeout:8:50ms: the oldest (at 10 s) may wait until 10.05 s.
  d = p->decide(every(3, 10'000 * kMs, kMs), 10'010 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_EQ(d.until, 10'050 * kMs);
  for (const char* bad : {"switch:fixed:4@1s", "switch:fixed:4@0s+greedy@0s", "switch:fixed:4",
                          "switch:fixed:4@0s+switch:greedy@0s@5s", "switch:bogus:1@0s"}) {
    EXPECT_THROW(parse_policy(bad), UserError) << bad;
  }
}

}  // namespace
}  // namespace greenbatch
