#pragma once
// Pure statistics on plain vectors; tiny and exactly tested.
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

// Half-width of the two-sided 95 % confidence interval of the mean (Student's t).
double ci95_half_width(std::span<const double> xs);

// Kolmogorov-Smirnov statistic of a sample against an exponential distribution with `rate`.
double ks_statistic_exponential(std::vector<double> xs, double rate);

}  // namespace greenbatch
