#pragma once
// Measuring a model's profile: batches of each size back to back and after idleness, through
// the engine with the run's meter.
#include <string>
#include <vector>

#include "engine/execute.hpp"
#include "sim/profile.hpp"

namespace greenbatch {

// The bounds of a profile's options (a profile that would not end is refused with them).
inline constexpr std::size_t kMaxProfileRounds = 100;
inline constexpr std::size_t kMaxProfileSizes = 1000;          // batch sizes given
inline constexpr std::size_t kMaxIdleSamples = 10'000;         // --idle-samples
inline constexpr std::size_t kMaxRefineAdded = 1000;           // --refine-max
inline constexpr TimeNs kMaxProfileWindowNs = 3600 * kNsPerS;  // --min-window, each idle gap

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

// The profile command's options as given (lists and durations as text), and the ProfileOptions
// they make: idle gaps parsed, each at least kBackToBackIdleNs, sorted; batch sizes parsed, each
// at least 1. Throws UserError naming the flag.
struct ProfileArgs {
  std::string batch_sizes = "1,2,4,8,16,32,64,128";
  std::string min_window = "1s";
  std::string idle_window = "5s";
  std::string idle_gaps = "5ms,20ms,60ms,200ms";
  std::size_t idle_samples = 30;
  std::size_t rounds = 1;
  std::string idle_order = "steady";  // or shuffled
  double refine = 0.15;
  std::size_t refine_max = 0;
};
ProfileOptions profile_options(const RunSpec& spec, const ProfileArgs& a);

}  // namespace greenbatch
