#include "energy/power_limit.hpp"

#include <fmt/format.h>

#include <cmath>
#include <cstdio>

#include "core/error.hpp"

namespace greenbatch {

unsigned PowerLimitGuard::index_of(const std::string& device) {
  if (device.rfind("cuda:", 0) != 0) return 0;
  try {
    return static_cast<unsigned>(std::stoul(device.substr(5)));
  } catch (const std::exception&) {
    return 0;
  }
}

PowerLimitGuard::PowerLimitGuard(double watts, const std::string& device_uuid, unsigned index) {
  try {
    nvml_ = Nvml::open();
    device_ = device_uuid.empty() ? nvml_->device_by_index(index) : nvml_->device_by_uuid(device_uuid);
    const NvmlDeviceInfo info = nvml_->info(device_);
    name_ = fmt::format("{} ({})", info.name, info.uuid);
    uuid_ = info.uuid;
    range_ = nvml_->power_limit_range(device_);
    previous_mw_ = nvml_->power_limit_mw(device_);
  } catch (const NvmlError& e) {
    throw UserError(fmt::format("--power-limit {} W: {}", watts, e.what()));
  }
  requested_mw_ = static_cast<unsigned>(std::llround(watts * 1000));
  if (requested_mw_ < range_.min_mw || requested_mw_ > range_.max_mw) {
    throw UserError(fmt::format("--power-limit {} W: outside the range of {}: {} to {} W", watts, name_,
                                range_.min_mw / 1000.0, range_.max_mw / 1000.0));
  }
  try {
    nvml_->set_power_limit_mw(device_, requested_mw_);
  } catch (const NvmlError& e) {
    throw UserError(fmt::format("--power-limit {} W on {}: {}", watts, name_, e.what()));
  }
}

PowerLimitGuard::~PowerLimitGuard() {
  try {
    nvml_->set_power_limit_mw(device_, previous_mw_);
  } catch (const std::exception& e) {
    std::fprintf(stderr,
                 "greenbatch: could not restore the power limit of %s to %g W (%s); restore it with: nvidia-smi -i %s "
                 "-pl %g\n",
                 name_.c_str(), previous_mw_ / 1000.0, e.what(), uuid_.c_str(), previous_mw_ / 1000.0);
  }
}

nlohmann::json PowerLimitGuard::facts() const {
  return {{"requested_w", requested_mw_ / 1000.0},
          {"previous_w", previous_mw_ / 1000.0},
          {"min_w", range_.min_mw / 1000.0},
          {"max_w", range_.max_mw / 1000.0},
          {"device", name_}};
}

}  // namespace greenbatch
