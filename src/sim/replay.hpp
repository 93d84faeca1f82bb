#pragma once
// Replaying a profile: a backend and a meter driven by it, for the engine on the virtual clock.
// Together they are the simulator: any rate, arrival process and policy in milliseconds.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "arrivals/rng.hpp"
#include "backends/backend.hpp"
#include "core/clock.hpp"
#include "energy/meter.hpp"
#include "engine/execute.hpp"
#include "sim/profile.hpp"

namespace greenbatch {

// A machine slower than its profile, for asking how a policy holds up (simulate --slowdown):
// "xF" (every batch's service times F) or "xF@START+DURATION" (the batches that start in that
// stretch of the run, timed as its schedule is, from the run's start), comma-separated; where stretches overlap
// their factors multiply. F from 0.01 to 100. A slower batch also draws its power longer: the
// energy follows.
struct Slowdown {
  struct Stretch {
    double factor = 1;
    TimeNs start_ns = 0;
    std::optional<TimeNs> end_ns;  // none: to the end of the run
  };
  std::vector<Stretch> stretches;
  std::string text;  // as given (empty: none)
  double factor_at(TimeNs t) const;
  bool empty() const { return stretches.empty(); }
};
// Throws UserError naming `what` and saying what is accepted.
Slowdown parse_slowdown(const std::string& text, std::string_view what = "--slowdown");

// The backend of a simulation: sleeps (on the virtual clock) a service time drawn, with a seed,
// from the profile's distribution for the batch size and the time the server idled before it.
class ProfileBackend final : public Backend {
 public:
  ProfileBackend(const Profile& p, Clock& clock, std::uint64_t seed, Slowdown slowdown = {})
      : profile_(p), clock_(clock), rng_(seed), slowdown_(std::move(slowdown)) {}
  void run(std::span<const Request> batch) override;
  std::string model() const override { return profile_.model; }
  std::string device() const override { return profile_.device; }
  bool follows_clock() const override { return true; }

 private:
  const Profile& profile_;
  Clock& clock_;
  Rng rng_;
  Slowdown slowdown_;  // a copy: a default or temporary argument must not dangle
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
// profile on the virtual clock, on a machine `slowdown` slower (the record's backend says so).
// The record says simulated (the caller names the profile's file).
RunOutcome simulate_run(const Profile& profile, const RunSpec& spec, const Slowdown& slowdown = {});

}  // namespace greenbatch
