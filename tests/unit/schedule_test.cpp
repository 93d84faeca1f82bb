#include "arrivals/schedule.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace greenbatch
