#pragma once
// Random draws that are the same on every machine: std::mt19937_64's sequence is fixed by
// the standard, but std's distributions are not, so the conversions are written out here.
#include <cmath>
#include <cstdint>
#include <random>

namespace greenbatch {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  // Uniform in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Exponential with the given mean.
  double exponential(double mean) { return -mean * std::log1p(-uniform01()); }

 private:
  std::mt19937_64 engine_;
};

}  // namespace greenbatch
