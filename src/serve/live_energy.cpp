#include "serve/live_energy.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace greenbatch::serve {

LiveEnergyTracker::LiveEnergyTracker(EnergyMeter& meter, std::optional<double> idle_w,
                                     std::chrono::steady_clock::duration scrape_reuse)
    : meter_(meter), idle_w_(idle_w), scrape_reuse_(scrape_reuse) {}

LiveEnergyTracker::~LiveEnergyTracker() { stop(); }

void LiveEnergyTracker::start() {
  start_ns_ = loop_ ? loop_->now() : 0;
  meter_.start(start_ns_);
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void LiveEnergyTracker::stop() {
  {
    std::lock_guard lock(wake_mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void LiveEnergyTracker::run() {
  std::unique_lock lock(wake_mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return asked_ != nullptr || stopping_; });
    if (GaugeFamily* family = std::exchange(asked_, nullptr)) {
      lock.unlock();
      snapshot(*family);
      lock.lock();
    } else {
      return;  // stopping, nothing asked
    }
  }
}

std::optional<LiveEnergy> LiveEnergyTracker::read(InferenceLoop::Activity& activity) {
  activity = loop_ ? loop_->activity() : InferenceLoop::Activity{};
  if (!started_) return std::nullopt;  // the window is not open yet (warm-up)
  std::optional<LiveEnergy> e = meter_.live(activity.now, activity.busy_ns, activity.busy);
  std::lock_guard lock(mutex_);
  if (e) {
    last_joules_ = std::max(last_joules_, e->joules);
    if (e->power_w) last_power_w_ = e->power_w;
    e->joules = last_joules_;
  }
  return e;
}

void LiveEnergyTracker::read_for_scrape() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    if (last_scrape_read_ && now - *last_scrape_read_ < scrape_reuse_) return;
  }
  InferenceLoop::Activity a;
  if (!read(a)) return;  // not started, or no reading: the next scrape tries again
  std::lock_guard lock(mutex_);
  last_scrape_read_ = now;
}

double LiveEnergyTracker::joules() {
  read_for_scrape();
  std::lock_guard lock(mutex_);
  return last_joules_;
}

double LiveEnergyTracker::power_w() {
  read_for_scrape();
  std::lock_guard lock(mutex_);
  return last_power_w_.value_or(std::numeric_limits<double>::quiet_NaN());
}

EnergySources LiveEnergyTracker::sources() {
  EnergySources s;
  s.energy_joules = [this] { return joules(); };
  s.power_watts = [this] { return power_w(); };
  if (idle_w_) s.idle_power_watts = [w = *idle_w_] { return w; };
  return s;
}

void LiveEnergyTracker::after_batch(GaugeFamily& per_inference) {
  if (!started_ || !loop_) return;
  // Most batches only read the loop's clock: the last snapshot asked for is recent.
  const TimeNs now = loop_->now();
  if (last_asked_ns_ && now - *last_asked_ns_ < kSnapshotPeriodNs) return;
  last_asked_ns_ = now;
  {
    std::lock_guard lock(wake_mutex_);
    if (stopping_) return;
    asked_ = &per_inference;
  }
  wake_.notify_one();
}

void LiveEnergyTracker::snapshot(GaugeFamily& per_inference) {
  InferenceLoop::Activity a;
  const auto e = read(a);
  if (!e || a.items_done == 0) return;
  const double t_s = static_cast<double>(a.now - start_ns_) / 1e9;  // the meter's window so far
  per_inference.labels({"since_start", "total"}).set(e->joules / static_cast<double>(a.items_done));
  if (idle_w_) {
    per_inference.labels({"since_start", "dynamic"})
        .set((e->joules - *idle_w_ * t_s) / static_cast<double>(a.items_done));
  }
  snapshots_.push_back({a.now, e->joules, a.items_done});
  // Keep the newest snapshot at least kRecentWindowNs old as the window's start.
  while (snapshots_.size() > 2 && a.now - snapshots_[1].t >= kRecentWindowNs) snapshots_.pop_front();
  const Snapshot& from = snapshots_.front();
  if (snapshots_.size() < 2 || a.items_done == from.items) return;
  const double items = static_cast<double>(a.items_done - from.items);
  const double joules = e->joules - from.joules;
  per_inference.labels({"recent", "total"}).set(joules / items);
  if (idle_w_) {
    const double dt_s = static_cast<double>(a.now - from.t) / 1e9;
    per_inference.labels({"recent", "dynamic"}).set((joules - *idle_w_ * dt_s) / items);
  }
}

}  // namespace greenbatch::serve
