#pragma once
// A background thread that reads a power sensor every `period`, timestamped on the run's
// clock (steady_clock from the moment start() is called). It stops at once when asked
// (condition variable), and keeps the first error instead of throwing on its own thread:
// the caller reads it after stop().
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
  // CPU time the sampler thread used, in seconds (for the overhead benchmark).
  double thread_cpu_s() const { return thread_cpu_s_; }

 private:
  void loop();
  TimeNs period_ns_;
  Read read_;
  std::chrono::steady_clock::time_point origin_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<PowerSample> samples_;
  std::optional<std::string> error_;
  std::optional<TimeNs> error_at_ns_;
  double thread_cpu_s_ = 0;
};

}  // namespace greenbatch
