#pragma once
// --power-limit W: a GPU's power limit set through NVML for a run and restored afterwards, on
// every way out (the run ends, fails, or is stopped by Ctrl-C: the guard's destructor).
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "energy/nvml.hpp"

namespace greenbatch {

class PowerLimitGuard {
 public:
  // The NVML index a device is taken as when its UUID is unknown: N for cuda:N, else 0 (cuda,
  // and a synthetic model's: the GPU its NVML meter reads).
  static unsigned index_of(const std::string& device);

  // Sets the limit of the GPU with `device_uuid` (empty: NVML's device `index`) to `watts`.
  // Throws UserError saying what was wrong: no NVML, no such device, a limit outside the
  // device's range (named), no permission.
  PowerLimitGuard(double watts, const std::string& device_uuid, unsigned index);
  // Restores the limit found; a failure to restore is written to stderr with the command that
  // restores it by hand (a destructor cannot throw).
  ~PowerLimitGuard();
  PowerLimitGuard(const PowerLimitGuard&) = delete;
  PowerLimitGuard& operator=(const PowerLimitGuard&) = delete;

  // {requested_w, previous_w, min_w, max_w, device}: for the record's backend facts.
  nlohmann::json facts() const;

 private:
  std::shared_ptr<Nvml> nvml_;
  Nvml::Device device_ = nullptr;
  std::string name_, uuid_;
  unsigned previous_mw_ = 0, requested_mw_ = 0;
  Nvml::PowerLimitRange range_;
};

}  // namespace greenbatch
