#pragma once
// Meters backed by a real sensor: NVML (energy counter, or power sampled as in the study) and
// RAPL. One SensorMeter drives any PowerSensor: it reads the counter at the window's edges and
// samples power on a background thread for the cross-check, busy and peak power, and the trace.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "energy/energy_math.hpp"
#include "energy/meter.hpp"
#include "energy/nvml.hpp"
#include "energy/rapl.hpp"
#include "energy/sampler.hpp"

namespace greenbatch {

class PowerSensor {
 public:
  virtual ~PowerSensor() = default;
  // One reading for the sampler thread; may throw.
  virtual PowerSample sample(TimeNs t_ns) = 0;
  // A cumulative energy counter in joules, read at the window's edges; nullopt if none.
  virtual std::optional<double> counter_j() = 0;
  // How often the sensor's value changes (for the short-window warning).
  virtual TimeNs update_period_ns() const = 0;
  virtual nlohmann::json facts() const = 0;
};

class NvmlSensor final : public PowerSensor {
 public:
  // The NVML device with `uuid` when given, else NVML index `index`.
  NvmlSensor(std::shared_ptr<Nvml> nvml, const std::string& uuid, unsigned index);
  PowerSample sample(TimeNs t_ns) override;
  std::optional<double> counter_j() override;
  TimeNs update_period_ns() const override { return 100 * kNsPerMs; }  // measured on an H100
  nlohmann::json facts() const override;

 private:
  std::shared_ptr<Nvml> nvml_;
  Nvml::Device device_;
  NvmlDeviceInfo info_;
  bool matched_by_uuid_;
};

class RaplSensor final : public PowerSensor {
 public:
  explicit RaplSensor(std::unique_ptr<Rapl> rapl);
  PowerSample sample(TimeNs t_ns) override;  // power from the counter's change since the last sample
  std::optional<double> counter_j() override { return rapl_->joules(); }
  TimeNs update_period_ns() const override { return kNsPerMs; }
  nlohmann::json facts() const override;

 private:
  std::unique_ptr<Rapl> rapl_;
  double last_j_ = 0;
  TimeNs last_t_ = -1;
};

class SensorMeter final : public EnergyMeter {
 public:
  enum class Primary { kCounter, kSampled };
  SensorMeter(std::string method, Primary primary, std::unique_ptr<PowerSensor> sensor, TimeNs period_ns,
              std::string spec);
  std::string spec() const override { return spec_; }
  void start(TimeNs now) override;
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override;
  bool follows_clock() const override { return false; }
  std::optional<double> measure_idle_w(TimeNs window_ns) override;
  // kCounter: the counter's joules since start(); kSampled: the samples' integral so far. Power:
  // the latest sample's. nullopt when the sensor or counter failed.
  std::optional<LiveEnergy> live(TimeNs now, TimeNs busy_ns, bool busy) override;

 private:
  // The sensor, one caller at a time (the sampler thread, live() and the window's edges).
  PowerSample sample_sensor(TimeNs t_ns);
  std::optional<double> sensor_counter_j();
  // The counter's joules since start(); nullopt without a counter or when reading it failed
  // (the error is kept in counter_error_).
  std::optional<double> read_counter();
  // Why the window has no figure (the sensor or counter failed, no counter, a counter that did not
  // advance), or nullopt when it has one.
  std::optional<std::string> failure(const std::optional<double>& counter_j, TimeNs window_ns, double sampled_j) const;
  // The other method's figure, where this meter has one.
  std::optional<Energy::CrossCheck> cross_check_of(const std::optional<double>& counter_j, double sampled_j,
                                                   double instant_j, double joules, std::size_t images) const;
  // A window too short for the sensor; batches no sample fell inside.
  std::vector<std::string> warnings(TimeNs window_ns, const BusyPower& busy, bool any_batches) const;

  std::string method_;
  Primary primary_;
  std::unique_ptr<PowerSensor> sensor_;
  std::mutex sensor_mu_;  // RaplSensor::sample keeps state; NVML handles are shared
  TimeNs period_ns_;
  std::string spec_;
  std::unique_ptr<Sampler> sampler_;
  std::optional<double> counter_start_j_;
  std::optional<std::string> counter_error_;
  std::optional<double> idle_w_;
  LiveJoulesFloor live_floor_;
};

}  // namespace greenbatch
