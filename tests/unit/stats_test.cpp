#include "core/stats.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

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

TEST(Stats, PercentilesBySelectionEqualTheSortedOnes) {
  // Ties, runs, one value, two values: each percentile exactly what sorting gives.
  std::mt19937_64 rng(7);
  for (const std::size_t n : {1u, 2u, 3u, 10u, 101u, 2048u}) {
    for (int trial = 0; trial < 20; ++trial) {
      std::vector<double> xs(n);
      std::uniform_int_distribution<int> small(0, trial % 2 ? 5 : 1000000);  // odd trials: many ties
      for (double& x : xs) x = small(rng) * 1e-3;
      std::vector<double> sorted = xs;
      std::sort(sorted.begin(), sorted.end());
      const std::vector<double> qs = {0, 0.5, 50, 50, 90, 95, 99, 99.9, 100};
      const std::vector<double> got = greenbatch::percentiles_unsorted(xs, qs);
      ASSERT_EQ(got.size(), qs.size());
      for (std::size_t k = 0; k < qs.size(); ++k) {
        EXPECT_EQ(got[k], greenbatch::percentile_sorted(sorted, qs[k])) << "n " << n << " q " << qs[k];
      }
    }
  }
}

TEST(Stats, NormalQuantileInvertsTheNormalDistribution) {
  // scipy.stats.norm.ppf
  EXPECT_NEAR(greenbatch::normal_quantile(0.5), 0.0, 1e-12);
  EXPECT_NEAR(greenbatch::normal_quantile(0.975), 1.959963984540054, 1e-10);
  EXPECT_NEAR(greenbatch::normal_quantile(0.1), -1.2815515655446004, 1e-10);
  EXPECT_NEAR(greenbatch::normal_quantile(0.999), 3.090232306167813, 1e-10);
  for (double u = 0.01; u < 1; u += 0.07) EXPECT_NEAR(0.5 * std::erfc(-greenbatch::normal_quantile(u) / std::sqrt(2.0)), u, 1e-12);
}

namespace greenbatch {

TEST(Stats, WelchTestOnSummaries) {
  // a: 10 +- 1 (n 5), b: 12 +- 2 (n 5): se = sqrt(1/5 + 4/5) = 1, t = 2, dof = 1 / (0.2^2/4 + 0.8^2/4)
  // = 5.88 -> Student's quantile for 5 (rounded down: the cautious side) 2.571: not different.
  const auto w = welch_test(10, 1, 5, 12, 2, 5);
  ASSERT_TRUE(w.has_value());
  EXPECT_NEAR(w->t, 2.0, 1e-12);
  EXPECT_NEAR(w->dof, 1.0 / (0.04 / 4 + 0.64 / 4), 1e-12);
  EXPECT_DOUBLE_EQ(w->critical, 2.571);
  EXPECT_FALSE(w->different);
  // Ten runs each, the same spread: t = 2 / sqrt(0.1 + 0.4) = 2.83 > t(13.2 -> 13) = 2.160.
  const auto ten = welch_test(10, 1, 10, 12, 2, 10);
  EXPECT_NEAR(ten->t, 2 / std::sqrt(0.5), 1e-12);
  EXPECT_TRUE(ten->different);
  // The sign follows b - a; the verdict does not.
  EXPECT_NEAR(welch_test(12, 2, 10, 10, 1, 10)->t, -ten->t, 1e-12);
  EXPECT_TRUE(welch_test(12, 2, 10, 10, 1, 10)->different);
  // One run on either side: the spread is unknown.
  EXPECT_FALSE(welch_test(10, 0, 1, 12, 2, 5).has_value());
  // No spread at all: different exactly when the means differ.
  EXPECT_TRUE(welch_test(10, 0, 3, 10.5, 0, 3)->different);
  EXPECT_FALSE(welch_test(10, 0, 3, 10, 0, 3)->different);
  // The quantile table: whole dof, fractional dof rounded down, the normal above 30.
  EXPECT_DOUBLE_EQ(student_t975(1), 12.706);
  EXPECT_DOUBLE_EQ(student_t975(2.9), 4.303);
  EXPECT_DOUBLE_EQ(student_t975(31), 1.960);
}

}  // namespace greenbatch
