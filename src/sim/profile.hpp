#pragma once
// A short measured profile of a model (service time and energy per batch size) and the parts
// that replay it: a backend and a meter driven by the profile, for the engine on the virtual
// clock. Together they are the simulator: any rate, arrival process and policy in milliseconds.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "arrivals/rng.hpp"
#include "backends/backend.hpp"
#include "core/clock.hpp"
#include "energy/meter.hpp"
#include "engine/execute.hpp"

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
  nlohmann::json to_json() const;
  static Profile from_json(const nlohmann::json& j, const std::string& source);  // throws UserError
};

// Idleness shorter than this counts as back to back: in the profile's measurement, in the
// simulator's draws, and as the shortest idle time `profile --idle-gaps` accepts.
inline constexpr TimeNs kBackToBackIdleNs = kNsPerMs;

struct ProfileOptions {
  RunSpec spec;  // model, device, meter, clock, warm-up, idle window...
  std::vector<std::size_t> batch_sizes{1, 2, 4, 8, 16, 32, 64, 128};
  TimeNs min_window_ns = kNsPerS;  // at least this long per batch size (and ten sensor updates)
  std::size_t min_batches = 5;
  // Idle times before the spaced batches that measure the after-idle distributions, and how
  // many batches after each (at least).
  std::vector<TimeNs> idle_gaps_ns{5'000'000, 20'000'000, 60'000'000, 200'000'000};
  std::size_t idle_samples = 30;
  // The measurement in this many rounds over all batch sizes, each round a share of every
  // size's window and bursts; pooled. On a machine that drifts, every size is then measured
  // across the whole profile instead of in one stretch of it.
  std::size_t rounds = 1;
  // How a round orders its bursts after idleness: `steady`, each idle time in one stretch (as in
  // a run, where the server idles about as long before every batch), the idle times in a seeded
  // random order; or `shuffled`, every burst's idle time in a seeded random order (short idle
  // times then keep the machine warm for the long ones).
  bool steady_idle = true;
  // Before the measurement, a quick scan back to back: between two neighbouring sizes, the
  // midpoint's median service against the line through theirs; off by more than this share
  // (0: no scan), the midpoint is measured too, and each half scanned again, until the line
  // holds or the sizes are adjacent. A CPU's kernels can switch at a batch size (ShuffleNetV2
  // with LibTorch 1.13 here: 11 ms per image up to batch 15, 3.4 ms from 16), and a simulation
  // between two measured sizes is only as good as the line between them.
  double refine = 0.15;
  std::size_t refine_max = 0;  // at most this many sizes added (0: as many as given, at least 8)
};

// Measures the profile: first the refinement scan (ProfileOptions::refine; recorded in the
// profile's meta.refine); then per batch size, a few probe batches (they also warm the shape), batches
// back to back through the engine (every request already waiting, fixed:B) with the run's meter,
// then bursts of that size after each idle time, ordered as `steady_idle` says (the after-idle
// distributions); all of it in `rounds` rounds over the sizes, pooled. Throws UserError on bad
// input.
Profile measure_profile(const ProfileOptions& o);

// The backend of a simulation: sleeps (on the virtual clock) a service time drawn, with a seed,
// from the profile's distribution for the batch size and the time the server idled before it.
class ProfileBackend final : public Backend {
 public:
  ProfileBackend(const Profile& p, Clock& clock, std::uint64_t seed) : profile_(p), clock_(clock), rng_(seed) {}
  void run(std::span<const Request> batch) override;
  std::string model() const override { return profile_.model; }
  std::string device() const override { return profile_.device; }
  bool follows_clock() const override { return true; }

 private:
  const Profile& profile_;
  Clock& clock_;
  Rng rng_;
  std::optional<TimeNs> last_end_ns_;
};

// The meter of a simulation: idle power over the window plus, for each batch, the profile's
// power above idle for its size times the batch's (simulated) duration.
class ProfileMeter final : public EnergyMeter {
 public:
  explicit ProfileMeter(const Profile& p) : profile_(p) {}
  std::string spec() const override { return "profile:" + profile_.meter; }
  void start(TimeNs now) override { start_ns_ = now; }
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override;
  bool follows_clock() const override { return true; }

 private:
  const Profile& profile_;
  TimeNs start_ns_ = 0;
};

// One simulated run: the schedule of `spec` (rate, arrivals, requests, seed, policy) through the
// profile on the virtual clock. The record says simulated (the caller names the profile's file).
RunOutcome simulate_run(const Profile& profile, const RunSpec& spec);

}  // namespace greenbatch
