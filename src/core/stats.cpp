#include "core/stats.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>

namespace greenbatch {

double mean(std::span<const double> xs) {
  if (xs.empty()) return 0.0;
  return std::accumulate(xs.begin(), xs.end(), 0.0) / static_cast<double>(xs.size());
}

double stddev(std::span<const double> xs) {
  if (xs.size() < 2) return 0.0;
  const double m = mean(xs);
  double ss = 0;
  for (double x : xs) ss += (x - m) * (x - m);
  return std::sqrt(ss / static_cast<double>(xs.size() - 1));
}

double percentile_sorted(std::span<const double> sorted, double q) {
  assert(!sorted.empty());
  assert(q >= 0 && q <= 100);
  const double pos = q / 100.0 * static_cast<double>(sorted.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  if (frac == 0.0) return sorted[lo];
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

double normal_quantile(double u) {
  assert(u > 0 && u < 1);
  double lo = -40, hi = 40;
  for (int k = 0; k < 100 && hi - lo > 1e-13; ++k) {
    const double mid = (lo + hi) / 2;
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < u ? lo : hi) = mid;
  }
  return (lo + hi) / 2;
}

std::vector<double> percentiles_unsorted(std::vector<double>& xs, std::span<const double> qs) {
  assert(!xs.empty());
  assert(std::is_sorted(qs.begin(), qs.end()));
  std::vector<double> out;
  out.reserve(qs.size());
  auto from = xs.begin();  // everything before it is in its sorted place or below it
  for (const double q : qs) {
    assert(q >= 0 && q <= 100);
    const double pos = q / 100.0 * static_cast<double>(xs.size() - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(lo);
    const auto at = xs.begin() + static_cast<std::ptrdiff_t>(lo);
    if (at >= from) std::nth_element(from, at, xs.end());
    from = at;
    if (frac == 0.0 || lo + 1 >= xs.size()) {
      out.push_back(*at);
    } else {
      const double next = *std::min_element(at + 1, xs.end());  // the (lo + 1)-th smallest
      out.push_back(*at + (next - *at) * frac);
    }
  }
  return out;
}

double student_t975(double dof) {
  // Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom, then the normal.
  static constexpr double kT[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                  2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                  2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (!(dof >= 1)) return kT[0];
  if (dof > 30) return 1.960;
  return kT[static_cast<std::size_t>(std::floor(dof)) - 1];  // the lower whole dof: the larger quantile
}

double ci95_half_width(std::span<const double> xs) {
  if (xs.size() < 2) return 0.0;
  return student_t975(static_cast<double>(xs.size() - 1)) * stddev(xs) / std::sqrt(static_cast<double>(xs.size()));
}

std::optional<WelchTest> welch_test(double mean_a, double sd_a, std::size_t n_a, double mean_b, double sd_b,
                                    std::size_t n_b) {
  if (n_a < 2 || n_b < 2) return std::nullopt;
  const double va = sd_a * sd_a / static_cast<double>(n_a), vb = sd_b * sd_b / static_cast<double>(n_b);
  WelchTest w;
  const double se = std::sqrt(va + vb);
  if (se == 0) {
    // No spread in either: the means differ exactly or not at all.
    w.t = mean_a == mean_b ? 0.0 : std::copysign(std::numeric_limits<double>::infinity(), mean_b - mean_a);
    w.dof = static_cast<double>(n_a + n_b - 2);
  } else {
    w.t = (mean_b - mean_a) / se;
    const double den = va * va / static_cast<double>(n_a - 1) + vb * vb / static_cast<double>(n_b - 1);
    w.dof = den > 0 ? (va + vb) * (va + vb) / den : static_cast<double>(n_a + n_b - 2);
  }
  w.critical = student_t975(w.dof);
  w.different = std::abs(w.t) > w.critical;
  return w;
}

double ks_statistic_exponential(std::vector<double> xs, double rate) {
  std::sort(xs.begin(), xs.end());
  const double n = static_cast<double>(xs.size());
  double d = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double f = 1.0 - std::exp(-rate * xs[i]);
    d = std::max({d, f - static_cast<double>(i) / n, static_cast<double>(i + 1) / n - f});
  }
  return d;
}

}  // namespace greenbatch
