#pragma once
// One power reading, and the energy of a series of them. Plain data and arithmetic: the meters'
// results carry samples without pulling in the sampler's thread.
#include <vector>

#include "core/time.hpp"

namespace greenbatch {

struct PowerSample {
  TimeNs t_ns = 0;         // since the window started (the sampler's start())
  double power_w = 0;      // the sensor's (averaged) power
  double instant_w = 0;    // instantaneous power, where the sensor has one (else = power_w)
};

// Energy in joules from samples over [from, to] (trapezoids; the first and last values held
// to the window's edges). `instant` picks instant_w instead of power_w.
double integrate_samples(const std::vector<PowerSample>& s, TimeNs from_ns, TimeNs to_ns, bool instant);

}  // namespace greenbatch
