#include "energy/sensor_meter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

namespace greenbatch {

NvmlSensor::NvmlSensor(std::shared_ptr<Nvml> nvml, const std::string& uuid, unsigned index)
    : nvml_(std::move(nvml)), matched_by_uuid_(!uuid.empty()) {
  device_ = uuid.empty() ? nvml_->device_by_index(index) : nvml_->device_by_uuid(uuid);
  info_ = nvml_->info(device_);
}

PowerSample NvmlSensor::sample(TimeNs t_ns) {
  PowerSample s;
  s.t_ns = t_ns;
  s.power_w = nvml_->power_mw(device_) / 1000.0;
  const auto instant = nvml_->instant_power_mw(device_);
  s.instant_w = instant ? *instant / 1000.0 : s.power_w;
  return s;
}

std::optional<double> NvmlSensor::counter_j() { return nvml_->energy_mj(device_) / 1000.0; }

nlohmann::json NvmlSensor::facts() const {
  nlohmann::json j = {{"sensor", "nvml"},
                      {"library", Nvml::library_path()},
                      {"gpu_name", info_.name},
                      {"gpu_uuid", info_.uuid},
                      {"matched_by", matched_by_uuid_ ? "uuid" : "index"},
                      {"driver_version", info_.driver_version}};
  j["power_limit_w"] = info_.power_limit_w ? nlohmann::json(*info_.power_limit_w) : nlohmann::json(nullptr);
  j["sm_clock_mhz_at_start"] = info_.sm_clock_mhz ? nlohmann::json(*info_.sm_clock_mhz) : nlohmann::json(nullptr);
  j["memory_clock_mhz_at_start"] =
      info_.memory_clock_mhz ? nlohmann::json(*info_.memory_clock_mhz) : nlohmann::json(nullptr);
  return j;
}

RaplSensor::RaplSensor(std::unique_ptr<Rapl> rapl) : rapl_(std::move(rapl)) {}

PowerSample RaplSensor::sample(TimeNs t_ns) {
  const double j = rapl_->joules();
  PowerSample s;
  s.t_ns = t_ns;
  if (last_t_ >= 0 && t_ns > last_t_) s.power_w = (j - last_j_) / ns_to_s(t_ns - last_t_);
  else s.power_w = 0;
  s.instant_w = s.power_w;
  last_j_ = j;
  last_t_ = t_ns;
  return s;
}

nlohmann::json RaplSensor::facts() const { return {{"sensor", "rapl"}, {"zones", rapl_->zones()}}; }

SensorMeter::SensorMeter(std::string method, Primary primary, std::unique_ptr<PowerSensor> sensor, TimeNs period_ns,
                         std::string spec)
    : method_(std::move(method)),
      primary_(primary),
      sensor_(std::move(sensor)),
      period_ns_(period_ns),
      spec_(std::move(spec)) {}

std::optional<double> SensorMeter::measure_idle_w(TimeNs window_ns) {
  if (window_ns <= 0) return std::nullopt;
  // The counter gives the mean directly; sampling is the fallback.
  const auto c0 = sensor_->counter_j();
  const auto t0 = std::chrono::steady_clock::now();
  if (c0 && primary_ == Primary::kCounter) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(window_ns));
    const auto c1 = sensor_->counter_j();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    idle_w_ = (*c1 - *c0) / s;
    return idle_w_;
  }
  Sampler sampler(period_ns_, [this](TimeNs t) { return sensor_->sample(t); });
  sampler.start();
  std::this_thread::sleep_for(std::chrono::nanoseconds(window_ns));
  const TimeNs end = sampler.now_ns();
  sampler.stop();
  if (sampler.error()) throw std::runtime_error(*sampler.error());
  idle_w_ = integrate_samples(sampler.samples(), 0, end, false) / ns_to_s(end);
  return idle_w_;
}

void SensorMeter::start(TimeNs) {
  counter_error_.reset();
  try {
    counter_start_j_ = sensor_->counter_j();
  } catch (const std::exception& e) {
    counter_error_ = e.what();
  }
  sampler_ = std::make_unique<Sampler>(period_ns_, [this](TimeNs t) { return sensor_->sample(t); });
  sampler_->start();
}

Energy SensorMeter::stop(TimeNs, std::span<const BatchRecord> batches, std::size_t images) {
  const TimeNs window_ns = sampler_->now_ns();
  std::optional<double> counter_j;
  try {
    const auto end = sensor_->counter_j();
    if (end && counter_start_j_) counter_j = *end - *counter_start_j_;
  } catch (const std::exception& e) {
    if (!counter_error_) counter_error_ = e.what();
  }
  sampler_->stop();
  const std::vector<PowerSample>& samples = sampler_->samples();

  Energy e;
  e.method = method_;
  e.window_s = ns_to_s(window_ns);
  e.samples = samples.size();
  e.sensor = sensor_->facts();
  e.trace = samples;
  e.idle_power_w = idle_w_;
  // A sensor that failed leaves no trustworthy figure: say so, keep the run.
  if (sampler_->error() || counter_error_) {
    e.measured = false;
    e.reason = sampler_->error()
                   ? fmt::format("the power sensor failed {:.3f} s into the run: {}", ns_to_s(*sampler_->error_at_ns()),
                                 *sampler_->error())
                   : fmt::format("the energy counter failed: {}", *counter_error_);
    return e;
  }
  const double sampled_j = integrate_samples(samples, 0, window_ns, false);
  const double instant_j = integrate_samples(samples, 0, window_ns, true);
  const bool counter_primary = primary_ == Primary::kCounter;
  if (counter_primary && !counter_j) {
    e.measured = false;
    e.reason = "the sensor has no energy counter";
    return e;
  }
  // A counter that did not move cannot be a measurement (a GPU draws tens of watts even when
  // idle): the window was shorter than the counter's update period, or the counter was reset.
  if (counter_primary && *counter_j <= 0) {
    e.measured = false;
    e.reason = fmt::format(
        "the energy counter {} over the {:.3f} s window (it updates about every {:.3f} s): no figure; run more "
        "requests (the sampled figure was {:.4g} J)",
        *counter_j == 0 ? "did not advance" : "went backwards", e.window_s, ns_to_s(sensor_->update_period_ns()),
        sampled_j);
    return e;
  }
  const double joules = counter_primary ? *counter_j : sampled_j;
  e.measured = true;
  e.joules = joules;
  if (images > 0) e.per_image_j = joules / static_cast<double>(images);
  if (window_ns > 0) e.avg_power_w = joules / e.window_s;
  if (idle_w_ && images > 0) e.dynamic_per_image_j = (joules - *idle_w_ * e.window_s) / static_cast<double>(images);

  // The other method, for the same window.
  Energy::CrossCheck cc;
  std::optional<double> other;
  if (counter_primary && method_ == "nvml") {
    cc.method = "nvml-sampled";
    other = sampled_j;
    cc.instant_joules = instant_j;
  } else if (!counter_primary && counter_j) {
    cc.method = method_ == "nvml-sampled" ? "nvml" : "counter";
    other = counter_j;
    cc.instant_joules = instant_j;
  }
  if (other) {
    cc.joules = other;
    if (images > 0) cc.per_image_j = *other / static_cast<double>(images);
    if (joules > 0) cc.difference_pct = (*other - joules) / joules * 100;
    e.cross_check = cc;
  }

  // Busy (mean) and peak power: the samples taken while a batch ran.
  double busy_sum = 0, peak = 0;
  std::size_t busy_n = 0;
  std::size_t b = 0;
  for (const PowerSample& s : samples) {
    while (b < batches.size() && batches[b].end_ns < s.t_ns) ++b;
    if (b < batches.size() && batches[b].start_ns <= s.t_ns) {
      busy_sum += s.power_w;
      peak = std::max(peak, std::max(s.power_w, s.instant_w));
      ++busy_n;
    }
  }
  if (busy_n > 0) {
    e.busy_power_w = busy_sum / static_cast<double>(busy_n);
    e.peak_power_w = peak;
  }
  const TimeNs min_window = 10 * sensor_->update_period_ns();
  if (window_ns < min_window) {
    e.warnings.push_back(fmt::format(
        "the window ({:.3f} s) is shorter than ten sensor updates ({:.3f} s): the figure is unreliable; run more "
        "requests",
        e.window_s, ns_to_s(min_window)));
  }
  if (busy_n == 0 && !batches.empty()) {
    e.warnings.push_back("no power sample fell inside a batch: busy and peak power are unknown (batches shorter than "
                         "the sampling period)");
  }
  return e;
}

}  // namespace greenbatch
