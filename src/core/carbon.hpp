#pragma once
// Carbon: a run's energy in grams of CO2e, from the grid's carbon intensity over the run's
// window: one figure (gCO2e per kWh), or a time series (a grid operator's export: time,
// intensity), each value holding from its time to the next one's.
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace greenbatch {

struct CarbonIntensity {
  std::optional<double> constant_g_per_kwh;
  std::vector<std::pair<double, double>> series;  // (unix seconds, gCO2e/kWh), times increasing
  std::string source;                             // "450 gCO2e/kWh" or the file's path
  bool empty() const { return !constant_g_per_kwh && series.empty(); }
};

// `text`: a number (gCO2e per kWh, from 0 to 5000) or a CSV file: one row per time, the time
// first (ISO 8601 UTC "2026-12-01T10:00:00Z", with an offset "+01:00", "2026-12-01 10:00:00", or
// unix seconds), the intensity second (gCO2e/kWh), further columns ignored, a header line
// allowed. Throws UserError naming `flag`, the line and what is accepted.
CarbonIntensity parse_carbon_intensity(std::string_view text, std::string_view flag = "--carbon-intensity");

// The intensity averaged over [start, end] (unix seconds): the figure itself, or the series'
// steps weighted by the time each holds inside the window; the last row holds for as long as
// the interval before it. nullopt with `why` when the series does not cover the window.
std::optional<double> mean_intensity(const CarbonIntensity& ci, double start_s, double end_s, std::string* why);

// A time as unix seconds: ISO 8601 (UTC, or with an offset) or a plain number. nullopt if neither.
std::optional<double> parse_utc_time(std::string_view text);

// Grams of CO2e of `joules` at `g_per_kwh` (1 kWh = 3.6e6 J).
inline double grams_co2e(double joules, double g_per_kwh) { return joules / 3.6e6 * g_per_kwh; }

// The run's carbon, recorded beside its energy.
struct Carbon {
  double intensity_g_per_kwh = 0;  // over the window
  double grams = 0;                // joules / 3.6e6 x intensity
  std::optional<double> grams_per_image;
  std::string source;
  bool estimated = false;  // from estimated energy
};

}  // namespace greenbatch
