#pragma once
// A background thread that reads a power sensor every `period`, timestamped on the run's
// clock (steady_clock from the moment start() is called). It stops at once when asked
// (condition variable), and keeps the first error instead of throwing on its own thread:
// the caller reads it after stop(). While it runs, progress() gives any thread the latest
// sample and the energy so far.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/time.hpp"
#include "energy/power_sample.hpp"

namespace greenbatch {

class Sampler {
 public:
  // `read` is called on the sampler thread; it may throw (the error is kept and sampling ends).
  using Read = std::function<PowerSample(TimeNs t_ns)>;
  Sampler(TimeNs period_ns, Read read);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  void start();
  void stop();  // joins; idempotent
  const std::vector<PowerSample>& samples() const { return samples_; }
  const std::optional<std::string>& error() const { return error_; }
  std::optional<TimeNs> error_at_ns() const { return error_at_ns_; }
  TimeNs now_ns() const;
  // Safe from any thread while sampling: the latest sample (none yet: nullopt), and the energy
  // of the samples so far over [0, at_ns] by integrate_samples' rule, kept as a running sum (each
  // new sample adds one trapezoid; the last value is held to at_ns).
  struct Progress {
    std::optional<PowerSample> latest;
    double joules = 0;
    bool failed = false;  // the sensor failed: sampling has ended
  };
  Progress progress(TimeNs at_ns) const;
  // CPU time the sampler thread used, in seconds (for the overhead benchmark).
  double thread_cpu_s() const { return thread_cpu_s_; }

 private:
  void loop();
  TimeNs period_ns_;
  Read read_;
  std::chrono::steady_clock::time_point origin_;
  std::thread thread_;
  mutable std::mutex mu_;  // stopping_, and the samples, sums and error while the thread runs
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<PowerSample> samples_;
  double joules_to_last_ = 0;  // integrate_samples(samples_, 0, the last sample's t_ns)
  std::optional<std::string> error_;
  std::optional<TimeNs> error_at_ns_;
  double thread_cpu_s_ = 0;
};

}  // namespace greenbatch
