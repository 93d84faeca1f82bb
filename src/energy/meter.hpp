#pragma once
// Energy meters measure one window (start .. stop) around a run. The engine does not know
// which meter it has. A meter that cannot measure says why; it never reports zero instead.
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/records.hpp"
#include "core/time.hpp"

namespace greenbatch {

struct Energy {
  std::string method;  // "none", "modelled", ...
  bool measured = false;
  std::string reason;  // when not measured: why
  double window_s = 0;
  std::optional<double> joules;               // the whole window, idle included
  std::optional<double> per_image_j;          // joules / images
  std::optional<double> idle_power_w;
  std::optional<double> dynamic_per_image_j;  // energy above idle, per image
  std::optional<double> avg_power_w;          // joules / window
  std::optional<double> busy_power_w;         // mean power while batches ran
  std::optional<double> peak_power_w;         // highest power while a batch ran
  std::vector<std::string> warnings;
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

// "none" or "modelled:idle=50W,busy=150W". Throws UserError with the accepted forms.
std::unique_ptr<EnergyMeter> parse_meter(std::string_view spec);

}  // namespace greenbatch
