#include "core/stats.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace greenbatch {
namespace {

TEST(Stats, PercentileInterpolatesLikeNumpy) {
  const std::vector<double> xs = {1, 2, 3, 4};
  EXPECT_DOUBLE_EQ(percentile_sorted(xs, 0), 1);
  EXPECT_DOUBLE_EQ(percentile_sorted(xs, 50), 2.5);   // numpy.percentile([1,2,3,4], 50)
  EXPECT_DOUBLE_EQ(percentile_sorted(xs, 90), 3.7);   // numpy: 3.7
  EXPECT_DOUBLE_EQ(percentile_sorted(xs, 100), 4);
  const std::vector<double> one = {7};
  EXPECT_DOUBLE_EQ(percentile_sorted(one, 99), 7);
}

TEST(Stats, MeanStddevAndConfidence) {
  const std::vector<double> xs = {2, 4, 4, 4, 5, 5, 7, 9};
  EXPECT_DOUBLE_EQ(mean(xs), 5);
  EXPECT_NEAR(stddev(xs), std::sqrt(32.0 / 7.0), 1e-12);
  EXPECT_NEAR(ci95_half_width(xs), 2.365 * std::sqrt(32.0 / 7.0) / std::sqrt(8.0), 1e-12);
  const std::vector<double> single = {3};
  EXPECT_EQ(stddev(single), 0);
  EXPECT_EQ(ci95_half_width(single), 0);
}

TEST(Stats, KolmogorovSmirnovDetectsAWrongDistribution) {
  // Evenly spread quantiles of an exponential: D is 1/n at most.
  std::vector<double> good;
  for (int i = 0; i < 1000; ++i) good.push_back(-std::log(1.0 - (i + 0.5) / 1000.0) / 2.0);
  EXPECT_LE(ks_statistic_exponential(good, 2.0), 1.0 / 1000 + 1e-12);
  // The same sample against the wrong rate is far off.
  EXPECT_GT(ks_statistic_exponential(good, 1.0), 0.2);
}

}  // namespace
}  // namespace greenbatch
