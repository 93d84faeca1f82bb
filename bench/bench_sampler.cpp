// CPU cost of the power sampler thread at a 10 ms period (issue target: under 1 % of a core).
// Runs the sampler for SECONDS with (a) a do-nothing read, (b) NVML's readings through the
// library named by GREENBATCH_NVML_LIBRARY (the tests' fake, or the real driver), and prints
// the thread's CPU time as a share of one core.
// Usage: bench_sampler [SECONDS (5)] [PERIOD_MS (10)]
#include <fmt/format.h>

#include <cstdlib>
#include <thread>

#include "energy/nvml.hpp"
#include "energy/sampler.hpp"
#include "energy/sensor_meter.hpp"

using namespace greenbatch;

namespace {

void report(const char* what, Sampler& s, double seconds) {
  s.start();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  s.stop();
  fmt::print("{:<28} {:>6} samples, thread CPU {:.4f} s = {:.3f} % of a core{}\n", what, s.samples().size(),
             s.thread_cpu_s(), s.thread_cpu_s() / seconds * 100, s.error() ? " (error: " + *s.error() + ")" : "");
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 5.0;
  const TimeNs period = (argc > 2 ? std::atoll(argv[2]) : 10) * kNsPerMs;
  Sampler idle(period, [](TimeNs t) { return PowerSample{t, 0, 0}; });
  report("no sensor", idle, seconds);
  try {
    NvmlSensor sensor(Nvml::open(), "", 0);
    Sampler nvml(period, [&](TimeNs t) { return sensor.sample(t); });
    report(("nvml: " + Nvml::library_path()).c_str(), nvml, seconds);
  } catch (const std::exception& e) {
    fmt::print("nvml: not measured ({})\n", e.what());
  }
  return 0;
}
