#include "batching/learning.hpp"

#include <algorithm>

namespace greenbatch {

void RecentArrivals::see(std::span<const TimeNs> waiting, std::uint64_t dispatched) {
  // waiting[k] is the stream's arrival number dispatched + k; keep those not kept yet.
  const std::uint64_t end = dispatched + waiting.size();
  for (std::uint64_t i = std::max(seen_, dispatched); i < end; ++i) {
    const TimeNs t = waiting[static_cast<std::size_t>(i - dispatched)];
    if (seen_ == 0) first_ns_ = t;
    times_.push_back(t);
    ++seen_;
  }
}

std::optional<double> RecentArrivals::rate_hz(TimeNs now) {
  while (!times_.empty() && times_.front() <= now - window_ns_) times_.pop_front();
  if (seen_ < 2) return std::nullopt;
  const TimeNs span = std::min(window_ns_, now - first_ns_);
  if (span <= 0) return std::nullopt;
  return static_cast<double>(times_.size()) / ns_to_s(span);
}

void LearnedService::observe(std::size_t size, TimeNs service_ns) {
  const double s = ns_to_s(std::max<TimeNs>(0, service_ns));
  const auto it = std::lower_bound(sizes_.begin(), sizes_.end(), size);
  const auto k = static_cast<std::size_t>(it - sizes_.begin());
  if (it != sizes_.end() && *it == size) {
    seconds_[k] = (1 - kWeight) * seconds_[k] + kWeight * s;
  } else {
    sizes_.insert(it, size);
    seconds_.insert(seconds_.begin() + static_cast<std::ptrdiff_t>(k), s);
  }
}

double LearnedService::service_s(std::size_t size) const {
  if (sizes_.empty()) return 0;
  if (size <= sizes_.front()) return seconds_.front();
  if (size >= sizes_.back()) return seconds_.back() * static_cast<double>(size) / static_cast<double>(sizes_.back());
  const auto k = static_cast<std::size_t>(std::lower_bound(sizes_.begin(), sizes_.end(), size) - sizes_.begin());
  if (sizes_[k] == size) return seconds_[k];
  const double x0 = static_cast<double>(sizes_[k - 1]), x1 = static_cast<double>(sizes_[k]);
  const double y0 = seconds_[k - 1], y1 = seconds_[k];
  return y0 + (y1 - y0) * (static_cast<double>(size) - x0) / (x1 - x0);
}

}  // namespace greenbatch
