#include "energy/sampler.hpp"

#include <time.h>

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

void Sampler::loop() {
  auto next = std::chrono::steady_clock::now();
  while (true) {
    try {
      samples_.push_back(read_(now_ns()));
    } catch (const std::exception& e) {
      error_ = e.what();
      error_at_ns_ = now_ns();
      break;
    }
    next += std::chrono::nanoseconds(period_ns_);
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_until(lock, next, [this] { return stopping_; })) break;
  }
  timespec ts{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0) thread_cpu_s_ = ts.tv_sec + ts.tv_nsec / 1e9;
}

}  // namespace greenbatch
