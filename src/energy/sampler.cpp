#include "energy/sampler.hpp"

#include <time.h>

#include <algorithm>

namespace greenbatch {

Sampler::Sampler(TimeNs period_ns, Read read) : period_ns_(period_ns), read_(std::move(read)) {}

Sampler::~Sampler() { stop(); }

TimeNs Sampler::now_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin_).count();
}

void Sampler::start() {
  origin_ = std::chrono::steady_clock::now();
  stopping_ = false;
  samples_.clear();
  joules_to_last_ = 0;
  error_.reset();
  error_at_ns_.reset();
  samples_.reserve(4096);
  thread_ = std::thread([this] { loop(); });
}

void Sampler::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Sampler::Progress Sampler::progress(TimeNs at_ns) const {
  std::lock_guard<std::mutex> lock(mu_);
  Progress p;
  p.failed = error_.has_value();
  if (samples_.empty()) return p;
  p.latest = samples_.back();
  p.joules = joules_to_last_ + p.latest->power_w * ns_to_s(std::max<TimeNs>(at_ns - p.latest->t_ns, 0));
  return p;
}

void Sampler::loop() {
  auto next = std::chrono::steady_clock::now();
  while (true) {
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    try {
      const PowerSample s = read_(now_ns());
      lock.lock();
      // As integrate_samples: the first value held from 0, then a trapezoid per step.
      const PowerSample& prev = samples_.empty() ? PowerSample{0, s.power_w, s.instant_w} : samples_.back();
      joules_to_last_ += (prev.power_w + s.power_w) / 2 * ns_to_s(std::max<TimeNs>(s.t_ns - prev.t_ns, 0));
      samples_.push_back(s);
    } catch (const std::exception& e) {
      if (!lock.owns_lock()) lock.lock();
      error_ = e.what();
      error_at_ns_ = now_ns();
      break;
    }
    next += std::chrono::nanoseconds(period_ns_);
    if (cv_.wait_until(lock, next, [this] { return stopping_; })) break;
  }
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) thread_cpu_s_ = ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace greenbatch
