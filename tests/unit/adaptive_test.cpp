// The learning policies (issue 22) on hand-made inputs: what they learn of the arrivals and of
// the service times, the plan the adaptive policy derives from them (checked against the
// arithmetic of its rule), and Clipper's AIMD steps.
#include "batching/adaptive.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

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

// Service 10 ms + 1 ms x b, known exactly (a profile's table whose high estimate is its median);
// dynamic energy per image `energy(b)`, if given. Budget: the whole 200 ms target.
SizeTable table(std::size_t cap, double (*energy)(double) = nullptr) {
  SizeTable t;
  t.regimes.push_back({0.0, {}});
  for (std::size_t b = 1; b <= cap; ++b) {
    t.service_s.push_back(0.010 + 0.001 * static_cast<double>(b));
    t.regimes[0].quantiles_s.push_back(std::vector<double>(101, t.service_s.back()));
    t.dynamic_j.push_back(energy ? std::optional<double>(energy(static_cast<double>(b))) : std::nullopt);
  }
  return t;
}

// A regime whose percentiles for every size are base + i x step (i = 0 to 100).
SizeTable::Regime regime(double idle_s, std::size_t cap, double base, double step = 0) {
  SizeTable::Regime r{idle_s, {}};
  for (std::size_t b = 1; b <= cap; ++b) {
    std::vector<double> q;
    for (int i = 0; i <= 100; ++i) q.push_back(base + i * step);
    r.quantiles_s.push_back(std::move(q));
  }
  return r;
}

AdaptivePolicy with_table(std::size_t cap, double (*energy)(double) = nullptr) {
  return AdaptivePolicy("p99=200ms", 200 * kMs, cap, 2000 * kMs, "t", table(cap, energy), 1.0);
}

TEST(AdaptivePolicy, WithoutServiceTimesItServesOneAtATimeToLearnThem) {
  AdaptivePolicy p("p99=200ms", 200 * kMs, 128, 2000 * kMs, "", std::nullopt);
  const auto w = every(5, 0, kMs);
  Decision d = p.decide(w, 5 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 1u);
  EXPECT_EQ(p.plan(std::nullopt).batch, 1u);
  // One batch of one took 11 ms: learned, with its margin (S(2) = 2 x 11 ms x 1.15 above the
  // largest size seen), the oldest (at 1 ms) now waits for a second until 0.95 x 200 - 25.3 ms
  // (one waiting: the rate of its spacing unknown, the budget of a low rate).
  p.observe({5 * kMs, 16 * kMs, 0, 0, 1});
  d = p.decide(every(1, 1 * kMs, kMs), 16 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d.until), 1e6 + (0.190 - 2 * 0.011 * 1.15) * 1e9, 1.0);
}

TEST(AdaptivePolicy, HoldsTheWaitingForOneMoreWhileABatchOfOneMoreStillMeetsTheTarget) {
  AdaptivePolicy p = with_table(128);
  // Three waiting since 1 s: a fourth is worth waiting for until 1 s + 200 - S(4) = 1.186 s.
  const auto w = every(3, 1000 * kMs, 10 * kMs);
  Decision d = p.decide(w, 1020 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_EQ(d.until, 1186 * kMs);
  // Then the three go.
  d = p.decide(w, 1186 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 3u);
  // The stream ended: all at once; nothing waiting: wait for an arrival.
  EXPECT_EQ(p.decide(every(3, 1300 * kMs, kMs), 1303 * kMs, true).count, 3u);
  EXPECT_EQ(p.decide({}, 1400 * kMs, false).kind, Decision::Kind::kWaitForArrival);
}

TEST(AdaptivePolicy, ItsSizeLimitLeavesTheNextBatchItsTime) {
  const AdaptivePolicy p = with_table(128);
  // The limit is the largest b with S(b) + S(1 + ceil(rate x S(b))) <= 200 ms (the next batch's
  // requests arrive while b runs), S(b) = 10 + b ms; recomputed here the same way.
  const auto limit = [&](double rate) {
    for (std::size_t b = 128; b >= 1; --b) {
      const double s = 0.010 + 0.001 * static_cast<double>(b);
      const double next = std::min(128.0, 1 + std::ceil(rate * s));
      if (s + (0.010 + 0.001 * next) <= 0.200 || b == 1) return b;
    }
    return std::size_t{1};
  };
  for (double rate : {10.0, 100.0, 500.0, 1000.0, 2000.0}) {
    SCOPED_TRACE(rate);
    const auto plan = p.plan(rate);
    EXPECT_EQ(plan.batch, limit(rate));
    EXPECT_EQ(plan.wait_ns, static_cast<TimeNs>((0.200 - (0.010 + 0.001 * static_cast<double>(plan.batch))) * 1e9));
  }
  EXPECT_LT(p.plan(2000.0).batch, p.plan(100.0).batch);  // a high rate: smaller batches sooner
  EXPECT_EQ(p.plan(10.0).batch, 128u);                    // a low rate: the cap never binds
  // Shown 2,000 arrivals a second for 2 s (3,999 of them in the last 2 s: 1,999.5/s), with more
  // waiting than its limit at that rate: the limit goes at once.
  AdaptivePolicy q = with_table(128);
  const auto fast = every(4000, 0, kMs / 2);
  q.decide(fast, 2000 * kMs, false);
  const std::size_t b = q.plan(1999.5).batch;
  const Decision d = q.decide(std::span(fast).subspan(0, b + 5), 2000 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, b);
}

TEST(AdaptivePolicy, WithEnergyFiguresItGoesNoFurtherThanTheSizeOfLeastEnergyPerImage) {
  // Dynamic energy per image least at 8 (an accelerator's sweet spot), more above.
  AdaptivePolicy p = with_table(64, [](double b) { return 1.0 + (b - 8) * (b - 8) / 64; });
  EXPECT_EQ(p.plan(10.0).batch, 8u);
  const Decision d = p.decide(every(12, 0, kMs), 12 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  EXPECT_EQ(d.count, 8u);
  // Energy that keeps falling: the cap.
  EXPECT_EQ(with_table(64, [](double b) { return 1.0 / b; }).plan(10.0).batch, 64u);
}

TEST(AdaptivePolicy, ABatchOfBPlansWithTheServiceQuantileItMayMissAt) {
  // Back to back only; percentiles 10 ms + i x 0.1 ms: the pth percentile is 10 + p / 10 ms.
  SizeTable t;
  t.regimes.push_back(regime(0, 64, 0.010, 0.0001));
  for (std::size_t b = 1; b <= 64; ++b) t.service_s.push_back(0.015), t.dynamic_j.push_back(std::nullopt);
  AdaptivePolicy p("p99=200ms", 200 * kMs, 64, 2000 * kMs, "t", t, 1.0);
  // A batch of b may miss at b x kMissShare x 1 %: with n waiting since 0, the deadline for one
  // more is 200 ms - S, S the larger of S(n) and S(n + 1): here S(n), the percentile
  // 100 x (1 - n x 0.5 %), at most the 99th and at least the median (and never below the median
  // back to back, 15 ms).
  for (std::size_t n : {1, 3, 9, 19, 40, 63}) {
    SCOPED_TRACE(n);
    const double q = std::clamp(1 - static_cast<double>(n) * AdaptivePolicy::kMissShare * 0.01, 0.5, 0.99);
    const double s = std::max(0.015, 0.010 + q * 0.010);
    const Decision d = p.decide(every(n, 0, 0), 0, false);
    ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
    EXPECT_NEAR(static_cast<double>(d.until), (0.200 - s) * 1e9, 2.0);
  }
}

TEST(AdaptivePolicy, ItHoldsTheWaitingNoLongerThanTheirOwnBatchAllows) {
  // A regime where a batch of one takes longer than a batch of two (a measured profile's tail can
  // be so): with one waiting, the deadline for a second leaves room for the one going alone.
  SizeTable t = table(4);
  t.regimes[0].quantiles_s[0].assign(101, 0.060);  // S(1) = 60 ms, S(2) = 12 ms
  AdaptivePolicy p("p99=200ms", 200 * kMs, 4, 2000 * kMs, "t", t, 1.0);
  p.observe({.start_ns = 0, .end_ns = 12 * kMs, .size = 2});
  const Decision d = p.decide(every(1, 12 * kMs, 0), 12 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d.until), (0.012 + 0.200 - 0.060) * 1e9, 2.0);
  // With two waiting, the larger of S(2) and S(3) (13 ms) sets the deadline for a third.
  const Decision d2 = p.decide(every(2, 12 * kMs, kMs), 13 * kMs, false);
  ASSERT_EQ(d2.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d2.until), (0.012 + 0.200 - 0.013) * 1e9, 2.0);
}

TEST(AdaptivePolicy, ItsBudgetGrowsTowardTheWholeTargetAsTheRateRises) {
  AdaptivePolicy p("p99=200ms", 200 * kMs, 128, 2000 * kMs, "t", table(128));  // budget 0.95
  EXPECT_DOUBLE_EQ(p.budget_s(std::nullopt), 0.190);  // the rate unknown: taken as low
  EXPECT_DOUBLE_EQ(p.budget_s(8.0), 0.190);
  EXPECT_DOUBLE_EQ(p.budget_s(AdaptivePolicy::kFullBudgetRateHz), 0.190);
  EXPECT_DOUBLE_EQ(p.budget_s(64.0), 0.200 * (1 - 0.05 * 0.5));
  EXPECT_DOUBLE_EQ(p.budget_s(128.0), 0.200 * (1 - 0.05 * 0.25));
  EXPECT_DOUBLE_EQ(with_table(8).budget_s(8.0), 0.200);  // budget=1: the whole target at any rate
  // After 2 s at 128/s, two waiting 100 ms apart (10/s: the rate stepped down, the 2 s estimate
  // lags): the budget of the lower rate, 190 ms; the deadline for a third is 1.9 s + 190 - S(3).
  AdaptivePolicy q("p99=200ms", 200 * kMs, 128, 2000 * kMs, "t", table(128));
  q.decide(every(256, 0, 7'812'500), 2000 * kMs, false);
  const std::vector<TimeNs> two = {1900 * kMs, 2000 * kMs};
  const Decision d = q.decide(two, 2000 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d.until), (1.9 + 0.190 - 0.013) * 1e9, 2.0);
  // The plan takes the budget of its rate: the wait a full batch leaves is B(rate) - S(batch).
  const auto plan = p.plan(128.0);
  EXPECT_EQ(plan.wait_ns, static_cast<TimeNs>((p.budget_s(128.0) - (0.010 + 0.001 * static_cast<double>(plan.batch))) * 1e9));
}

TEST(AdaptivePolicy, ItsServiceEstimateIsTheRegimeTheWaitPutsTheServerIn) {
  // Back to back 10 ms; after 5 ms of idleness 12 ms, after 30 ms 15 ms, after 200 ms 40 ms.
  SizeTable t;
  t.regimes = {regime(0, 8, 0.010), regime(0.005, 8, 0.012), regime(0.030, 8, 0.015), regime(0.200, 8, 0.040)};
  for (std::size_t b = 1; b <= 8; ++b) t.service_s.push_back(0.010), t.dynamic_j.push_back(std::nullopt);
  AdaptivePolicy p("p99=200ms", 200 * kMs, 8, 2000 * kMs, "t", t, 1.0);
  // One waiting since 0, the last batch ended at 170 ms (E). The highest estimate (40 ms) puts the
  // deadline at 160 ms, past: the batch would start back to back (10 ms), which puts it at 190 ms,
  // 20 ms after E, between the 5 and 30 ms regimes: the higher, 15 ms. The higher of the two
  // passes: wait for one more until 185 ms.
  const auto one = every(1, 0, 0);
  // Before any batch ended the idleness is unknown: the highest estimate, and 160 ms is past.
  Decision d = p.decide(one, 170 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kDispatch);
  p.observe({150 * kMs, 170 * kMs, 0, 0, 3});
  d = p.decide(one, 170 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d.until), 185e6, 2.0);
  // Idle long (the last batch ended at 0): the 200 ms regime's 40 ms.
  p.observe({0, 0, 0, 0, 3});
  d = p.decide(one, 10 * kMs, false);
  ASSERT_EQ(d.kind, Decision::Kind::kWaitUntil);
  EXPECT_NEAR(static_cast<double>(d.until), 160e6, 2.0);
}

TEST(AdaptivePolicy, ItLearnsWhatTheMachineTakesBeyondTheProfile) {
  // Back to back 10 ms at every quantile. Batches observed back to back (each starting where the
  // last ended) that take 30 ms: once kMinExcessBatches were seen, S = 10 ms + 20 ms.
  SizeTable t;
  t.regimes = {regime(0, 8, 0.010)};
  for (std::size_t b = 1; b <= 8; ++b) t.service_s.push_back(0.010), t.dynamic_j.push_back(std::nullopt);
  AdaptivePolicy p("p99=200ms", 200 * kMs, 8, 2000 * kMs, "t", t, 1.0);
  TimeNs end = 0;
  const auto batch = [&](TimeNs service, TimeNs late) {
    p.observe({end, end + service, late, 0, 2});
    end += service;
  };
  const auto deadline = [&] {
    // One waiting since the last batch ended: the deadline for a second, back to back or not.
    const Decision d = p.decide(every(1, end, 0), end, false);
    EXPECT_EQ(d.kind, Decision::Kind::kWaitUntil);
    return static_cast<double>(d.until - end) / 1e6;
  };
  for (std::size_t i = 0; i + 1 < AdaptivePolicy::kMinExcessBatches; ++i) batch(30 * kMs, 0);
  EXPECT_NEAR(deadline(), 190.0, 1e-5);  // too few seen: the profile's 10 ms
  batch(30 * kMs, 0);
  EXPECT_NEAR(deadline(), 170.0, 1e-5);  // its median plus the 20 ms seen beyond it
  // Only the last kExcessBatches count; a dispatch's lateness counts as excess too.
  for (std::size_t i = 0; i < AdaptivePolicy::kExcessBatches; ++i) batch(10 * kMs, 5 * kMs);
  EXPECT_NEAR(deadline(), 185.0, 1e-5);
  // Faster than the profile: never below its own quantile.
  for (std::size_t i = 0; i < AdaptivePolicy::kExcessBatches; ++i) batch(2 * kMs, 0);
  EXPECT_NEAR(deadline(), 190.0, 1e-5);
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
  EXPECT_EQ(parse_policy("adaptive:p99=0.2s,cap=64,window=5s,budget=0.8")->spec(),
            "adaptive:p99=200ms,cap=64,window=5s,budget=0.8");
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
  refused("adaptive:p99=200ms,budget=1.5", "budget must be above 0 and at most 1");
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
