#pragma once
// Pure statistics on plain vectors; tiny and exactly tested.
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace greenbatch {

double mean(std::span<const double> xs);
// Sample standard deviation (n - 1); 0 for fewer than two values.
double stddev(std::span<const double> xs);
// Percentile q in [0, 100] with linear interpolation between closest ranks (numpy's default,
// "type 7"). `sorted` must be ascending and non-empty.
double percentile_sorted(std::span<const double> sorted, double q);
// The same percentiles of unsorted values, by selection rather than a full sort (each value
// exactly what percentile_sorted gives on the sorted values). Reorders `xs`; `qs` ascending,
// `xs` non-empty.
std::vector<double> percentiles_unsorted(std::vector<double>& xs, std::span<const double> qs);

// The standard normal distribution's quantile: z with P(Z <= z) = u, u in (0, 1); to 1e-12, by
// bisection of erfc (a function for a profile's read, not a hot path).
double normal_quantile(double u);

// Student's t 97.5 % quantile (two-sided 95 %) for `dof` degrees of freedom, a fractional dof
// rounded down (the larger quantile: the cautious side); the normal's 1.96 above 30.
double student_t975(double dof);

// Half-width of the two-sided 95 % confidence interval of the mean (Student's t).
double ci95_half_width(std::span<const double> xs);

// Welch's t-test of two means from their summaries (sample standard deviations), two-sided at
// the 5 % level: t = (mean_b - mean_a) / sqrt(sd_a^2/n_a + sd_b^2/n_b), its Welch-Satterthwaite
// degrees of freedom, and whether |t| exceeds Student's quantile for them. nullopt when either
// side has fewer than two values (the spread is unknown).
struct WelchTest {
  double t = 0, dof = 0, critical = 0;
  bool different = false;
};
std::optional<WelchTest> welch_test(double mean_a, double sd_a, std::size_t n_a, double mean_b, double sd_b,
                                    std::size_t n_b);

// Kolmogorov-Smirnov statistic of a sample against an exponential distribution with `rate`.
double ks_statistic_exponential(std::vector<double> xs, double rate);

}  // namespace greenbatch
