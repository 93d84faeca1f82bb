#include "energy/sensor_meter.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "energy/energy_math.hpp"

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

PowerSample SensorMeter::sample_sensor(TimeNs t_ns) {
  std::lock_guard<std::mutex> lock(sensor_mu_);
  return sensor_->sample(t_ns);
}

std::optional<double> SensorMeter::sensor_counter_j() {
  std::lock_guard<std::mutex> lock(sensor_mu_);
  return sensor_->counter_j();
}

std::optional<double> SensorMeter::measure_idle_w(TimeNs window_ns) {
  if (window_ns <= 0) return std::nullopt;
  // The counter gives the mean directly; sampling is the fallback.
  const auto c0 = sensor_counter_j();
  const auto t0 = std::chrono::steady_clock::now();
  if (c0 && primary_ == Primary::kCounter) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(window_ns));
    const auto c1 = sensor_counter_j();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    idle_w_ = (*c1 - *c0) / s;
    return idle_w_;
  }
  Sampler sampler(period_ns_, [this](TimeNs t) { return sample_sensor(t); });
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
  live_floor_.reset();
  try {
    counter_start_j_ = sensor_counter_j();
  } catch (const std::exception& e) {
    counter_error_ = e.what();
  }
  sampler_ = std::make_unique<Sampler>(period_ns_, [this](TimeNs t) { return sample_sensor(t); });
  sampler_->start();
}

std::optional<double> SensorMeter::read_counter() {
  try {
    const auto end = sensor_counter_j();
    if (end && counter_start_j_) return *end - *counter_start_j_;
  } catch (const std::exception& e) {
    if (!counter_error_) counter_error_ = e.what();
  }
  return std::nullopt;
}

std::optional<LiveEnergy> SensorMeter::live(TimeNs, TimeNs, bool) {
  // The sampler's clock, as stop() uses: the window's length on start()'s clock is the caller's.
  const Sampler::Progress p = sampler_->progress(sampler_->now_ns());
  if (p.failed) return std::nullopt;
  double joules = p.joules;
  if (primary_ == Primary::kCounter) {
    if (!counter_start_j_) return std::nullopt;
    try {
      const std::optional<double> now_j = sensor_counter_j();
      if (!now_j) return std::nullopt;
      joules = *now_j - *counter_start_j_;
    } catch (const std::exception&) {
      return std::nullopt;  // stop() reports the error
    }
  }
  LiveEnergy e;
  e.joules = live_floor_.raise(joules);
  if (p.latest) e.power_w = p.latest->power_w;
  return e;
}

std::optional<std::string> SensorMeter::failure(const std::optional<double>& counter_j, TimeNs window_ns,
                                                double sampled_j) const {
  // A sensor that failed leaves no trustworthy figure: say so, keep the run.
  if (sampler_->error()) {
    return fmt::format("the power sensor failed {:.3f} s into the run: {}", ns_to_s(*sampler_->error_at_ns()),
                       *sampler_->error());
  }
  if (counter_error_) return fmt::format("the energy counter failed: {}", *counter_error_);
  if (primary_ != Primary::kCounter) return std::nullopt;
  if (!counter_j) return "the sensor has no energy counter";
  // A counter that did not move cannot be a measurement (a GPU draws tens of watts even when
  // idle): the window was shorter than the counter's update period, or the counter was reset.
  if (*counter_j <= 0) {
    return fmt::format(
        "the energy counter {} over the {:.3f} s window (it updates about every {:.3f} s): no figure; run more "
        "requests (the sampled figure was {:.4g} J)",
        *counter_j == 0 ? "did not advance" : "went backwards", ns_to_s(window_ns),
        ns_to_s(sensor_->update_period_ns()), sampled_j);
  }
  return std::nullopt;
}

std::optional<Energy::CrossCheck> SensorMeter::cross_check_of(const std::optional<double>& counter_j, double sampled_j,
                                                              double instant_j, double joules,
                                                              std::size_t images) const {
  // The other method, for the same window: sampling beside NVML's counter, the counter beside sampling.
  if (primary_ == Primary::kCounter && method_ == "nvml") {
    return cross_check("nvml-sampled", sampled_j, joules, images, instant_j);
  }
  if (primary_ != Primary::kCounter && counter_j) {
    return cross_check(method_ == "nvml-sampled" ? "nvml" : "counter", *counter_j, joules, images, instant_j);
  }
  return std::nullopt;
}

std::vector<std::string> SensorMeter::warnings(TimeNs window_ns, const BusyPower& busy, bool any_batches) const {
  std::vector<std::string> w;
  const TimeNs min_window = 10 * sensor_->update_period_ns();
  if (window_ns < min_window) {
    w.push_back(fmt::format(
        "the window ({:.3f} s) is shorter than ten sensor updates ({:.3f} s): the figure is unreliable; run more "
        "requests",
        ns_to_s(window_ns), ns_to_s(min_window)));
  }
  if (busy.samples == 0 && any_batches) {
    w.push_back("no power sample fell inside a batch: busy and peak power are unknown (batches shorter than "
                "the sampling period)");
  }
  return w;
}

Energy SensorMeter::stop(TimeNs, std::span<const BatchRecord> batches, std::size_t images) {
  const TimeNs window_ns = sampler_->now_ns();
  const std::optional<double> counter_j = read_counter();
  sampler_->stop();
  const std::vector<PowerSample>& samples = sampler_->samples();

  Energy e;
  e.method = method_;
  e.window_s = ns_to_s(window_ns);
  e.samples = samples.size();
  e.sensor = sensor_->facts();
  e.trace = samples;
  e.idle_power_w = idle_w_;
  const double sampled_j = integrate_samples(samples, 0, window_ns, false);
  if (std::optional<std::string> reason = failure(counter_j, window_ns, sampled_j)) {
    e.measured = false;
    e.reason = std::move(*reason);
    return e;
  }
  const double joules = primary_ == Primary::kCounter ? *counter_j : sampled_j;
  e.measured = true;
  fill_totals(e, joules, window_ns, images,
              idle_w_ ? std::optional<double>(above_idle_joules(joules, *idle_w_, window_ns)) : std::nullopt);
  e.cross_check =
      cross_check_of(counter_j, sampled_j, integrate_samples(samples, 0, window_ns, true), joules, images);
  const BusyPower busy = busy_and_peak(samples, batches);
  e.busy_power_w = busy.busy_w;
  e.peak_power_w = busy.peak_w;
  e.warnings = warnings(window_ns, busy, !batches.empty());
  return e;
}

}  // namespace greenbatch
