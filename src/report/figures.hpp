#pragma once
// The numbers behind each figure of the report, as plain data (tested without any drawing).
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/latency_target.hpp"
#include "report/catalog.hpp"
#include "report/runs.hpp"

namespace greenbatch::report {

// The latency figures are core's (core/latency_target.hpp): mean, p50, p90, p95, p99, max.
using Latency = LatencyFigure;
std::optional<Stat> latency_of(const Config& c, Latency l);

// Fig. 2: energy per image against latency, one panel per source, model, device, arrivals and
// group of rates (the study's low rates, up to 32/s, and high rates, above), one point per
// configuration labelled by its policy's mark.
struct Point {
  double x = 0, y = 0;            // latency (s), energy per image (J)
  double x_ci = 0, y_ci = 0;      // 95 % CI half-widths (0: one repetition)
  std::string label;              // 16, 32, ..., G
  double rate_hz = 0;
};
struct Panel {
  std::string source, model, device, arrivals;
  bool high_rates = false;
  std::vector<Point> points;
};
inline constexpr double kLowRateLimit = 32;
std::vector<Panel> energy_latency_panels(const std::vector<Config>& configs, Latency latency);

// Table I: peak power at small batches (average size up to 2) and at large ones (128), over
// every rate, per source, model and device.
struct PeakRow {
  std::string source, model, device;
  std::optional<double> small_w, large_w, difference_w;
  std::size_t small_n = 0, large_n = 0;  // configurations averaged
};
std::vector<PeakRow> peak_power_table(const std::vector<Config>& configs);

// Fig. 3: mean energy per image over all policies, per model and rate, models in order of
// publication year (unknown years last).
struct YearRow {
  std::string model, display;
  int year = 0;
  std::map<double, double> energy_by_rate;  // rate -> mean J per image over its policies
};
struct EnergyByYear {
  std::string source, device;
  std::vector<double> rates;
  std::vector<YearRow> rows;
};
std::vector<EnergyByYear> energy_by_year(const std::vector<Config>& configs, const Catalog& catalog);

// Fig. 4: top-1 accuracy and energy per image relative to AlexNet. A model's energy is its mean
// over the configurations (rate, arrivals, policy) that AlexNet also ran, divided by AlexNet's
// mean over the same ones.
struct RelativeRow {
  std::string model, display;
  std::optional<double> top1, top1_rel, energy_j, energy_rel;
  std::size_t shared_configs = 0;
};
struct RelativeToAlexNet {
  std::string source, device;
  std::vector<RelativeRow> rows;  // AlexNet first, then by year
};
std::vector<RelativeToAlexNet> relative_to_alexnet(const std::vector<Config>& configs, const Catalog& catalog);

// The energy/latency Pareto front of each source, model, device, arrivals and rate: the
// configurations that no other beats on both energy and latency, by latency.
struct Front {
  std::string source, model, device, arrivals;
  double rate_hz = 0;
  std::vector<const Config*> all, front;
};
std::vector<Front> pareto_fronts(const std::vector<Config>& configs, Latency latency);

}  // namespace greenbatch::report
