#pragma once
// Energy meters measure one window (start .. stop) around a run. The engine does not know
// which meter it has. A meter that cannot measure says why; it never reports zero instead.
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/records.hpp"
#include "core/time.hpp"
#include "energy/power_sample.hpp"

namespace greenbatch {

// A reading while a meter's window is open (greenbatch serve's live metrics).
struct LiveEnergy {
  double joules = 0;              // since start(), idle included; never decreases
  std::optional<double> power_w;  // the latest power reading (the modelled power now); none: no reading yet
};

// The highest joules a meter's live() has reported in its window, so that the figure never
// goes down, whatever order concurrent callers' readings land in. Thread-safe.
class LiveJoulesFloor {
 public:
  void reset() {
    std::lock_guard<std::mutex> lock(mu_);
    max_j_ = 0;
  }
  // max(j, every figure raised so far, 0)
  double raise(double j) {
    std::lock_guard<std::mutex> lock(mu_);
    if (j > max_j_) max_j_ = j;
    return max_j_;
  }

 private:
  std::mutex mu_;
  double max_j_ = 0;
};

struct Energy {
  std::string method;  // "none", "modelled", ...
  bool measured = false;
  // Figures from a model of this machine's power, not a sensor (--meter estimate, or auto where no
  // sensor is readable): joules and the rest are set, `measured` stays false, `reason` says why.
  bool estimated = false;
  std::string reason;  // when not measured: why
  bool has_figures() const { return measured || estimated; }
  double window_s = 0;
  std::optional<double> joules;               // the whole window, idle included
  std::optional<double> per_image_j;          // joules / images
  std::optional<double> idle_power_w;
  std::optional<double> dynamic_per_image_j;  // energy above idle, per image
  std::optional<double> avg_power_w;          // joules / window
  std::optional<double> busy_power_w;         // mean power while batches ran
  std::optional<double> peak_power_w;         // highest power while a batch ran
  std::size_t samples = 0;                    // power readings taken in the window
  std::vector<std::string> warnings;
  // The other method's figure for the same window, so that disagreements show.
  struct CrossCheck {
    std::string method;
    std::optional<double> joules, per_image_j, difference_pct, instant_joules;
  };
  std::optional<CrossCheck> cross_check;
  nlohmann::json sensor = nlohmann::json::object();  // device name, driver, limits, zones...
  std::vector<PowerSample> trace;                    // power over the window (for --power-trace)
};

class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;
  virtual std::string spec() const = 0;
  virtual void start(TimeNs now) = 0;
  // `batches`: what ran inside the window; `images`: requests completed.
  virtual Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) = 0;
  // True when its figure is computed from the clock (allowed with a virtual clock).
  virtual bool follows_clock() const = 0;
  // Mean power with nothing running, measured over `window` before a run (real sensors);
  // nullopt when the meter has no sensor. Throws on a sensor error.
  virtual std::optional<double> measure_idle_w(TimeNs /*window_ns*/) { return std::nullopt; }
  // The energy so far in the open window, for a server's metrics: `now` on start()'s clock,
  // `busy_ns` the time batches have run since start() and `busy` whether one runs now (a
  // modelled meter's inputs; a sensor ignores them). Safe to call from any thread while the
  // window is open, concurrently with itself; cheap enough for every scrape. nullopt: this meter
  // measures nothing (none), or its sensor failed.
  virtual std::optional<LiveEnergy> live(TimeNs /*now*/, TimeNs /*busy_ns*/, bool /*busy*/) { return std::nullopt; }
};

// Measures nothing and says why.
class NoMeter final : public EnergyMeter {
 public:
  explicit NoMeter(std::string reason) : reason_(std::move(reason)) {}
  std::string spec() const override { return "none"; }
  void start(TimeNs) override {}
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override;
  bool follows_clock() const override { return true; }

 private:
  std::string reason_;
};

// What the meter factory needs to know about the run.
struct MeterContext {
  std::string device;       // "cpu", "cuda:0", "synthetic"
  std::string device_uuid;  // the CUDA device's UUID ("GPU-..."), when known
  // auto on the CPU with no readable sensor: estimate from CPU time (saying so) rather than
  // measure nothing. Off where this process is not what would be measured (load's client).
  bool estimate_without_sensor = true;
};

// none, auto, estimate[:tdp=W,idle=W,threads=N], modelled:idle=P,busy=P, nvml[:period=D,gpu=N], nvml-sampled[:period=D,gpu=N],
// rapl[:period=D,root=DIR]. Throws UserError with the accepted forms, or when the sensor
// cannot be opened (auto falls back to none with the reason instead).
std::unique_ptr<EnergyMeter> make_meter(std::string_view spec, const MeterContext& context);
// Syntax only (no sensor is opened), for checking a spec early.
void check_meter_spec(std::string_view spec);

}  // namespace greenbatch
