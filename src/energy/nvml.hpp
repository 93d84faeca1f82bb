#pragma once
// NVML, opened at run time with dlopen("libnvidia-ml.so.1") (or $GREENBATCH_NVML_LIBRARY) and
// never linked, so greenbatch runs where there is no NVIDIA driver. Only the public C API's
// entry points and types (nvml.h) are used; the tests load a fake library through this path.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace greenbatch {

class NvmlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct NvmlDeviceInfo {
  unsigned index = 0;
  std::string uuid, name, driver_version;
  std::optional<double> power_limit_w;
  std::optional<unsigned> sm_clock_mhz, memory_clock_mhz;
};

class Nvml {
 public:
  using Device = void*;  // nvmlDevice_t

  // Loads and initialises NVML. Throws NvmlError saying what is missing.
  static std::shared_ptr<Nvml> open();
  // The library path open() tries.
  static std::string library_path();
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  unsigned device_count() const;
  Device device_by_index(unsigned index) const;
  // CUDA_VISIBLE_DEVICES renumbers CUDA devices, never NVML's: match by UUID.
  Device device_by_uuid(const std::string& uuid) const;
  NvmlDeviceInfo info(Device d) const;
  // Total energy since the driver was loaded, millijoules (Volta and newer).
  unsigned long long energy_mj(Device d) const;
  // nvmlDeviceGetPowerUsage: milliwatts, averaged by the driver (over 1 s on recent GPUs).
  unsigned power_mw(Device d) const;
  // Field NVML_FI_DEV_POWER_INSTANT (186), milliwatts; nullopt where the GPU lacks it.
  std::optional<unsigned> instant_power_mw(Device d) const;
  // The power limit (nvmlDeviceGetPowerManagementLimit*, nvmlDeviceSetPowerManagementLimit), in
  // milliwatts. Setting it needs root: NvmlError says so when NVML refuses for permission.
  struct PowerLimitRange {
    unsigned min_mw = 0, max_mw = 0;
  };
  PowerLimitRange power_limit_range(Device d) const;
  unsigned power_limit_mw(Device d) const;
  void set_power_limit_mw(Device d, unsigned mw) const;

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);
  std::unique_ptr<Api> api_;
};

}  // namespace greenbatch
