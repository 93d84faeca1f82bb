#include "arrivals/schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/stats.hpp"

namespace greenbatch {
namespace {

std::vector<double> gaps_s(const std::vector<TimeNs>& t) {
  std::vector<double> g;
  for (std::size_t i = 1; i < t.size(); ++i) g.push_back(ns_to_s(t[i] - t[i - 1]));
  return g;
}

TEST(Schedule, ConstantIsExactlyOneOverRateApart) {
  const auto t = generate_schedule(parse_arrivals("constant"), 64, 512, 1);
  ASSERT_EQ(t.size(), 512u);
  for (std::size_t i = 0; i < t.size(); ++i) EXPECT_EQ(t[i], static_cast<TimeNs>(i) * 15'625'000);
}

TEST(Schedule, ConstantAtAnAwkwardRateDoesNotDrift) {
  const auto t = generate_schedule(parse_arrivals("constant"), 3, 3001, 1);
  EXPECT_EQ(t[3000], 1'000'000'000'000);  // 3000 periods of 1/3 s is exactly 1000 s
  EXPECT_EQ(t[1], 333'333'333);
}

TEST(Schedule, JitterGapsStayInsideTheirBounds) {
  const double rate = 64, f = 0.2;
  const auto t = generate_schedule(parse_arrivals("jitter:0.2"), rate, 100'000, 7);
  const TimeNs lo = static_cast<TimeNs>(std::floor((1 - f) / rate * 1e9)) - 1;
  const TimeNs hi = static_cast<TimeNs>(std::ceil((1 + f) / rate * 1e9)) + 1;
  TimeNs min_gap = hi, max_gap = lo;
  for (std::size_t i = 1; i < t.size(); ++i) {
    const TimeNs g = t[i] - t[i - 1];
    ASSERT_GE(g, lo) << "gap " << i;
    ASSERT_LE(g, hi) << "gap " << i;
    min_gap = std::min(min_gap, g);
    max_gap = std::max(max_gap, g);
  }
  // ... and the draws fill the range (not a constant stream in disguise).
  EXPECT_LT(min_gap, 12'600'000);
  EXPECT_GT(max_gap, 18'650'000);
  EXPECT_NEAR(mean(gaps_s(t)), 1 / rate, 0.002 / rate);
}

TEST(Schedule, PoissonHasTheRightMeanAndShape) {
  const double rate = 128;
  const auto t = generate_schedule(parse_arrivals("poisson"), rate, 100'001, 42);
  const auto g = gaps_s(t);
  ASSERT_EQ(g.size(), 100'000u);
  EXPECT_NEAR(mean(g), 1 / rate, 0.01 / rate);  // within 1 %
  const double d = ks_statistic_exponential(g, rate);
  const double critical_1pct = 1.628 / std::sqrt(static_cast<double>(g.size()));
  EXPECT_LT(d, critical_1pct);
}

TEST(Schedule, BurstyKeepsTheMeanRateButClumps) {
  const double rate = 64;
  const auto t = generate_schedule(parse_arrivals("bursty:burst=4,on=500ms"), rate, 200'001, 3);
  const auto g = gaps_s(t);
  const double m = mean(g);
  EXPECT_NEAR(m, 1 / rate, 0.05 / rate);
  // Poisson gaps have a coefficient of variation of 1; on/off bursts push it well above.
  EXPECT_GT(stddev(g) / m, 1.5);
}

TEST(Schedule, SameSeedSameScheduleOtherSeedOther) {
  for (const char* spec : {"jitter:0.2", "poisson", "bursty"}) {
    const auto a = generate_schedule(parse_arrivals(spec), 64, 1000, 11);
    const auto b = generate_schedule(parse_arrivals(spec), 64, 1000, 11);
    const auto c = generate_schedule(parse_arrivals(spec), 64, 1000, 12);
    EXPECT_EQ(a, b) << spec;
    EXPECT_NE(a, c) << spec;
    EXPECT_EQ(a.front(), 0) << spec;
  }
}

TEST(Schedule, SeededDrawsAreTheSameOnEveryMachine) {
  // Golden values: std::mt19937_64's sequence is fixed by the C++ standard and the conversions
  // to uniform and exponential draws are our own, so these hold on any conforming platform.
  const auto p = generate_schedule(parse_arrivals("poisson"), 100, 4, 1);
  const auto j = generate_schedule(parse_arrivals("jitter:0.5"), 100, 4, 1);
  EXPECT_EQ(p, (std::vector<TimeNs>{0, 1'437'279, 2'903'817, 8'904'300}));
  EXPECT_EQ(j, (std::vector<TimeNs>{0, 6'338'766, 12'702'837, 22'214'986}));
}

TEST(Schedule, SpecsAreParsedAndNormalised) {
  EXPECT_EQ(parse_arrivals("constant").text, "constant");
  EXPECT_EQ(parse_arrivals("jitter:0.2").text, "jitter:0.2");
  EXPECT_EQ(parse_arrivals("bursty").text, "bursty:burst=4,on=0.500000000s");
  const ArrivalSpec b = parse_arrivals("bursty:on=2s,burst=8");
  EXPECT_EQ(b.burst, 8);
  EXPECT_EQ(b.on_ns, 2 * kNsPerS);
  EXPECT_EQ(parse_arrivals("trace:a.csv").trace_path, "a.csv");
}

TEST(Schedule, BadSpecsAreRefusedWithTheAcceptedForms) {
  for (const char* bad : {"constnt", "jitter", "jitter:1.5", "jitter:x", "poisson:3", "bursty:burst=1",
                          "bursty:peak=3", "trace:", "constant:1"}) {
    try {
      parse_arrivals(bad);
      FAIL() << bad << " was accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("--arrivals"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(generate_schedule(parse_arrivals("poisson"), 0, 10, 1), UserError);
  EXPECT_THROW(generate_schedule(parse_arrivals("poisson"), -5, 10, 1), UserError);
}

// Arrivals per window of `window_s` seconds, over `cycles` cycles of `cycle_s`, folded onto one cycle.
std::vector<double> per_window(const std::vector<TimeNs>& t, double cycle_s, double window_s, double cycles) {
  std::vector<double> n(static_cast<std::size_t>(std::llround(cycle_s / window_s)), 0);
  for (TimeNs x : t) n[static_cast<std::size_t>(std::fmod(ns_to_s(x), cycle_s) / window_s)] += 1 / cycles;
  return n;
}

TEST(VaryingLoad, StepsKeepEachStepsRateAndRepeat) {
  const ArrivalSpec a = parse_arrivals("steps:16@10s,128@10s,0@5s,32@10s,gaps=constant");
  EXPECT_EQ(a.text, "steps:16@10s,128@10s,0@5s,32@10s,gaps=constant");
  EXPECT_EQ(a.cycle_ns(), 35 * kNsPerS);
  EXPECT_DOUBLE_EQ(a.cycle_arrivals(), 160 + 1280 + 320);
  EXPECT_DOUBLE_EQ(a.mean_rate_hz(), 1760 / 35.0);
  EXPECT_EQ(a.rate_at(12 * kNsPerS), 128);
  EXPECT_EQ(a.rate_at(22 * kNsPerS), 0);
  EXPECT_EQ(a.rate_at(36 * kNsPerS), 16);  // the next cycle
  EXPECT_EQ(schedule_count(a, 0, false), 1760u);  // one cycle unless a count is given
  EXPECT_EQ(schedule_count(a, 50, true), 50u);
  // Constant gaps in the load's own time: exactly each step's rate, nothing in the pause.
  const auto t = generate_schedule(a, 0, 1760 * 10, 1);
  ASSERT_EQ(t.front(), 0);
  ASSERT_TRUE(std::is_sorted(t.begin(), t.end()));
  const std::vector<double> exact = {80, 80, 640, 640, 0, 160, 160};
  const auto c = per_window(t, 35, 5, 10);
  for (std::size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], exact[i], 1e-9) << i;
  // Poisson gaps: the same rates on average (a Poisson count of 640 is within 3 sqrt(640) of it).
  const auto p = generate_schedule(parse_arrivals("steps:16@10s,128@10s,0@5s,32@10s"), 0, 17600, 7);
  const auto w = per_window(p, 35, 5, 10);
  const std::vector<double> expect = {80, 80, 640, 640, 0, 160, 160};
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(w[i], expect[i], 3 * std::sqrt(expect[i] * 10) / 10 + 1e-9) << i;
  // A load that starts with a pause starts when it ends.
  EXPECT_EQ(generate_schedule(parse_arrivals("steps:0@5s,10@1s,gaps=constant"), 0, 3, 1),
            (std::vector<TimeNs>{0, 100 * kNsPerMs, 200 * kNsPerMs}));
}

TEST(VaryingLoad, DiurnalFollowsItsSine) {
  const ArrivalSpec a = parse_arrivals("diurnal:min=8,max=128,period=10m,gaps=jitter:0.2");
  EXPECT_EQ(a.text, "diurnal:min=8,max=128,period=600s,gaps=jitter:0.2");
  EXPECT_DOUBLE_EQ(a.mean_rate_hz(), 68);
  EXPECT_DOUBLE_EQ(a.rate_at(0), 8);
  EXPECT_DOUBLE_EQ(a.rate_at(300 * kNsPerS), 128);
  EXPECT_EQ(schedule_count(a, 0, false), 40800u);
  const auto t = generate_schedule(parse_arrivals("diurnal:min=8,max=128,period=10m,gaps=constant"), 0, 40800, 1);
  ASSERT_TRUE(std::is_sorted(t.begin(), t.end()));
  EXPECT_NEAR(ns_to_s(t.back()), 600 - 1 / 8.0, 1e-3);  // one cycle's arrivals take one cycle (the last gap at 8/s)
  // Per 30 s window, the integral of the sine over it (to one arrival).
  const auto w = per_window(t, 600, 30, 1);
  for (std::size_t i = 0; i < w.size(); ++i) {
    const double t0 = 30.0 * static_cast<double>(i), t1 = t0 + 30, k = 2 * M_PI / 600;
    const double expected = 68 * (t1 - t0) - 60 / k * (std::sin(k * t1) - std::sin(k * t0));
    EXPECT_NEAR(w[i], expected, 1.01) << i;
  }
}

TEST(VaryingLoad, SeededAndBadSpecsAreRefused) {
  const ArrivalSpec a = parse_arrivals("diurnal:min=8,max=128,period=60s");
  EXPECT_EQ(generate_schedule(a, 0, 500, 3), generate_schedule(a, 0, 500, 3));
  EXPECT_NE(generate_schedule(a, 0, 500, 3), generate_schedule(a, 0, 500, 4));
  for (const char* bad : {"steps:", "steps:16", "steps:16@0s", "steps:-1@1s", "steps:16@1s,gaps=uniform",
                          "steps:0@10s", "diurnal:min=8,max=4,period=1m", "diurnal:min=8,max=16",
                          "diurnal:min=8,max=16,period=0s", "diurnal:min=8,max=16,period=1m,gaps=jitter:2",
                          "steps:16@2000000h"}) {
    try {
      parse_arrivals(bad);
      FAIL() << bad << " was accepted";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find("--arrivals '"), std::string::npos) << bad << ": " << e.what();
    }
  }
  // Too many requests for 100 years of cycles.
  EXPECT_THROW(check_schedule(parse_arrivals("steps:1e-6@1h"), 0, 1000), UserError);
}

}  // namespace
}  // namespace greenbatch
