#pragma once
// The arithmetic the meters share, as pure functions: a window's energy from idle power and the
// energy above it, the figures derived from a window's energy, busy and peak power from samples,
// and the cross-check against a second method. Each keeps the operation order the meters have
// always used, so their figures stay the same to the last bit.
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "core/records.hpp"
#include "core/time.hpp"
#include "energy/meter.hpp"
#include "energy/power_sample.hpp"

namespace greenbatch {

// The batches' total running time (exact, in ns).
TimeNs busy_time_ns(std::span<const BatchRecord> batches);

// Energy above idle while the batches ran, each at `power_w(batch size)` above idle for its
// duration, and the batches' total duration in seconds; both summed batch by batch, in order.
struct AboveIdle {
  double joules = 0;
  double busy_s = 0;
};
AboveIdle above_idle(std::span<const BatchRecord> batches, const std::function<double(std::size_t size)>& power_w);

// A window's energy: idle power over the whole window plus the energy above idle
// (idle_w x window_s + dynamic_j, in that order).
double idle_plus_busy_joules(double idle_w, TimeNs window_ns, double dynamic_j);

// The energy above idle in a window's energy: joules - idle_w x window_s.
double above_idle_joules(double joules, double idle_w, TimeNs window_ns);

// A measured window's figures from its energy: sets window_s, joules, per_image_j (images > 0),
// dynamic_per_image_j (dynamic_j / images: `dynamic_j` given and images > 0) and avg_power_w
// (joules / window_s: window_ns > 0). Leaves the rest of `e` as it is.
void fill_totals(Energy& e, double joules, TimeNs window_ns, std::size_t images, std::optional<double> dynamic_j);

// Busy (mean power_w) and peak (highest of power_w and instant_w, from 0) power over the samples
// taken while a batch ran (start_ns <= t_ns <= end_ns); samples and batches in time order.
// `samples` counts them; with none, busy_w and peak_w are empty.
struct BusyPower {
  std::size_t samples = 0;
  std::optional<double> busy_w, peak_w;
};
BusyPower busy_and_peak(std::span<const PowerSample> samples, std::span<const BatchRecord> batches);

// Another method's figure for the window beside the reported `joules`: its joules, per image
// (images > 0), and how far it is from `joules` in % of it (joules > 0).
Energy::CrossCheck cross_check(std::string method, double other_j, double joules, std::size_t images,
                               std::optional<double> instant_j);

}  // namespace greenbatch
