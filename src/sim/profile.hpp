#pragma once
// A short measured profile of a model (service time and energy per batch size): the model, its
// JSON, and reading a profile file (with the stability of the machine while it was profiled).
// sim/measure.hpp measures one; sim/replay.hpp replays one on the virtual clock.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "batching/adaptive.hpp"
#include "core/time.hpp"

namespace greenbatch {

inline constexpr const char* kProfileSchema = "greenbatch.profile/1";

struct ProfilePoint {
  std::size_t batch_size = 0;
  std::size_t batches = 0;
  double service_median_s = 0, service_mean_s = 0, service_p10_s = 0, service_p90_s = 0, service_std_s = 0;
  std::optional<double> energy_per_batch_j;          // the meter's joules over back-to-back batches / batches
  std::optional<double> dynamic_energy_per_batch_j;  // above idle power
  double window_s = 0;
  // Service time distributions, 101 quantiles (0, 1, ..., 100 %; older profiles: 21): batches back to back, and
  // batches that follow an idle server (caches cold, threads asleep: slower on a CPU), measured
  // after several idle times, shortest first.
  std::vector<double> quantiles_s;
  struct AfterIdle {
    double idle_s = 0;  // how long the server idled before each of those batches (about)
    std::vector<double> quantiles_s;
  };
  std::vector<AfterIdle> after_idle;
};

struct Profile {
  std::string model, device, meter;
  std::optional<double> idle_power_w;
  std::vector<ProfilePoint> points;  // ascending batch sizes
  nlohmann::json meta;               // host, versions, backend facts, created_utc

  // Piecewise-linear in the batch size between measured sizes; linear beyond the last two.
  double service_s(std::size_t batch) const;  // the median, back to back
  // A draw from the service-time distribution: quantile u in [0, 1), after the server idled for
  // `idle_s` (0: back to back). Over 1 ms of idleness, the after-idle quantiles: those of the
  // nearest measured idle time at either end, interpolated in log(idle time) between two. With
  // `idle_smoothing` s above 0, each measured idle time stands for a mixture: its own
  // distribution, and with weight s/2 each of its neighbours'; `pick` in [0, 1) chooses.
  double draw_service_s(std::size_t batch, double idle_s, double u, double pick = 0.5) const;
  // Not stored: how the simulator reads the after-idle distributions (see draw_service_s). Each
  // is measured from tens of bursts, so its tail is noisy; neighbours in idle time differ little.
  // 0.5: a quarter from each neighbour (chosen on measured runs, docs/measurements/simulator.md).
  double idle_smoothing = 0.5;
  // Power above idle while a batch of this size runs (its dynamic energy over its mean time).
  std::optional<double> dynamic_power_w(std::size_t batch) const;
  // Its energy is the CPU-time estimate (profile --meter estimate, or auto with no sensor), not
  // measured: so is everything simulated or tuned from it.
  bool energy_estimated() const { return meta.is_object() && meta.value("energy_estimated", false); }
  nlohmann::json to_json() const;
  static Profile from_json(const nlohmann::json& j, const std::string& source);  // throws UserError
};

// The profile's service time and dynamic energy per image for batch sizes 1 to cap, as the
// adaptive policy reads them (profile=FILE).
SizeTable size_table(const Profile& p, std::size_t cap);

// Idleness shorter than this counts as back to back: in the profile's measurement, in the
// simulator's draws, and as the shortest idle time `profile --idle-gaps` accepts.
inline constexpr TimeNs kBackToBackIdleNs = kNsPerMs;

// The line through (x0, y0) and (x1, y1) at x, never below zero: how a profile reads the
// service time between two measured batch sizes, and how the refinement scan judges them.
double line_through(double x0, double y0, double x1, double y1, double x);

// Past this share between a profile's rounds (meta.stability), the machine changed speed while
// it was profiled: profile warns, and simulate and tune say so of the profiles they read.
inline constexpr double kStabilityWarnShare = 0.10;

// The largest spread between rounds, median or p90, and the batch size it was seen at.
struct Spread {
  double share = 0;
  std::size_t batch_size = 0;
};
// None where the record has neither, as a profile edited by hand may not.
std::optional<Spread> worst_spread(const nlohmann::json& stability);

// A profile file read back, and what a reader should be told of it: the machine's speed changed
// by over kStabilityWarnShare between its rounds (none: it did not, or the record says nothing).
struct LoadedProfile {
  std::string path;
  Profile profile;
  std::optional<Spread> unstable;
};
LoadedProfile load_profile(const std::string& path);  // throws UserError (named after --profile)

// Writes the profile's JSON to `path` through a temporary file and a rename.
void write_profile(const std::string& path, const Profile& p);

}  // namespace greenbatch
