#include "energy/nvml.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>

namespace greenbatch {

namespace {

// From the public nvml.h.
using nvmlReturn_t = int;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_NO_PERMISSION = 4;
constexpr unsigned NVML_FI_DEV_POWER_INSTANT = 186;
constexpr int NVML_CLOCK_SM = 1;
constexpr int NVML_CLOCK_MEM = 2;
constexpr int NVML_VALUE_TYPE_DOUBLE = 0;
constexpr int NVML_VALUE_TYPE_UNSIGNED_INT = 1;
constexpr int NVML_VALUE_TYPE_UNSIGNED_LONG = 2;
constexpr int NVML_VALUE_TYPE_UNSIGNED_LONG_LONG = 3;
constexpr int NVML_VALUE_TYPE_SIGNED_LONG_LONG = 4;
constexpr int NVML_VALUE_TYPE_SIGNED_INT = 5;

union nvmlValue_t {
  double dVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  long long sllVal;
  int siVal;
  unsigned short usVal;
};

struct nvmlFieldValue_t {
  unsigned int fieldId;
  unsigned int scopeId;
  long long timestamp;
  long long latencyUsec;
  int valueType;
  nvmlReturn_t nvmlReturn;
  nvmlValue_t value;
};

}  // namespace

struct Nvml::Api {
  void* handle = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*device_count)(unsigned*) = nullptr;
  nvmlReturn_t (*by_index)(unsigned, Device*) = nullptr;
  nvmlReturn_t (*by_uuid)(const char*, Device*) = nullptr;
  nvmlReturn_t (*uuid)(Device, char*, unsigned) = nullptr;
  nvmlReturn_t (*name)(Device, char*, unsigned) = nullptr;
  nvmlReturn_t (*driver)(char*, unsigned) = nullptr;
  nvmlReturn_t (*power)(Device, unsigned*) = nullptr;
  nvmlReturn_t (*energy)(Device, unsigned long long*) = nullptr;
  nvmlReturn_t (*fields)(Device, int, nvmlFieldValue_t*) = nullptr;
  nvmlReturn_t (*limit)(Device, unsigned*) = nullptr;
  nvmlReturn_t (*clock)(Device, int, unsigned*) = nullptr;
  // Optional (the power limit only; looked up without failing open()).
  nvmlReturn_t (*limit_constraints)(Device, unsigned*, unsigned*) = nullptr;
  nvmlReturn_t (*management_limit)(Device, unsigned*) = nullptr;
  nvmlReturn_t (*set_limit)(Device, unsigned) = nullptr;

  std::string describe(nvmlReturn_t r) const {
    const char* s = error_string ? error_string(r) : nullptr;
    return s ? fmt::format("{} (NVML error {})", s, r) : fmt::format("NVML error {}", r);
  }
  void check(nvmlReturn_t r, const char* what) const {
    if (r != NVML_SUCCESS) throw NvmlError(fmt::format("{}: {}", what, describe(r)));
  }
};

std::string Nvml::library_path() {
  const char* env = std::getenv("GREENBATCH_NVML_LIBRARY");
  return env && *env ? env : "libnvidia-ml.so.1";
}

std::shared_ptr<Nvml> Nvml::open() {
  auto api = std::make_unique<Api>();
  const std::string path = library_path();
  api->handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!api->handle) {
    throw NvmlError(fmt::format("NVML is not available: cannot load {} ({}); is the NVIDIA driver installed?", path,
                                dlerror()));
  }
  auto sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(api->handle, name));
    if (!fn) {
      dlclose(api->handle);
      throw NvmlError(fmt::format("NVML library {} lacks {}: too old a driver?", path, name));
    }
  };
  sym(api->init, "nvmlInit_v2");
  sym(api->shutdown, "nvmlShutdown");
  sym(api->error_string, "nvmlErrorString");
  sym(api->device_count, "nvmlDeviceGetCount_v2");
  sym(api->by_index, "nvmlDeviceGetHandleByIndex_v2");
  sym(api->by_uuid, "nvmlDeviceGetHandleByUUID");
  sym(api->uuid, "nvmlDeviceGetUUID");
  sym(api->name, "nvmlDeviceGetName");
  sym(api->driver, "nvmlSystemGetDriverVersion");
  sym(api->power, "nvmlDeviceGetPowerUsage");
  sym(api->energy, "nvmlDeviceGetTotalEnergyConsumption");
  sym(api->fields, "nvmlDeviceGetFieldValues");
  sym(api->limit, "nvmlDeviceGetEnforcedPowerLimit");
  sym(api->clock, "nvmlDeviceGetClockInfo");
  const auto optional_sym = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(api->handle, name));
  };
  optional_sym(api->limit_constraints, "nvmlDeviceGetPowerManagementLimitConstraints");
  optional_sym(api->management_limit, "nvmlDeviceGetPowerManagementLimit");
  optional_sym(api->set_limit, "nvmlDeviceSetPowerManagementLimit");
  const nvmlReturn_t r = api->init();
  if (r != NVML_SUCCESS) {
    const std::string msg = api->describe(r);
    dlclose(api->handle);
    throw NvmlError(fmt::format("NVML did not initialise: {}", msg));
  }
  return std::shared_ptr<Nvml>(new Nvml(std::move(api)));
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
  dlclose(api_->handle);
}

unsigned Nvml::device_count() const {
  unsigned n = 0;
  api_->check(api_->device_count(&n), "nvmlDeviceGetCount");
  return n;
}

Nvml::Device Nvml::device_by_index(unsigned index) const {
  Device d = nullptr;
  api_->check(api_->by_index(index, &d), fmt::format("NVML device {}", index).c_str());
  return d;
}

Nvml::Device Nvml::device_by_uuid(const std::string& uuid) const {
  Device d = nullptr;
  api_->check(api_->by_uuid(uuid.c_str(), &d), fmt::format("NVML device with UUID {}", uuid).c_str());
  return d;
}

NvmlDeviceInfo Nvml::info(Device d) const {
  NvmlDeviceInfo i;
  char buf[256] = {};
  api_->check(api_->uuid(d, buf, sizeof(buf)), "nvmlDeviceGetUUID");
  i.uuid = buf;
  std::memset(buf, 0, sizeof(buf));
  api_->check(api_->name(d, buf, sizeof(buf)), "nvmlDeviceGetName");
  i.name = buf;
  std::memset(buf, 0, sizeof(buf));
  if (api_->driver(buf, sizeof(buf)) == NVML_SUCCESS) i.driver_version = buf;
  unsigned v = 0;
  if (api_->limit(d, &v) == NVML_SUCCESS) i.power_limit_w = v / 1000.0;
  if (api_->clock(d, NVML_CLOCK_SM, &v) == NVML_SUCCESS) i.sm_clock_mhz = v;
  if (api_->clock(d, NVML_CLOCK_MEM, &v) == NVML_SUCCESS) i.memory_clock_mhz = v;
  return i;
}

unsigned long long Nvml::energy_mj(Device d) const {
  unsigned long long mj = 0;
  api_->check(api_->energy(d, &mj), "nvmlDeviceGetTotalEnergyConsumption");
  return mj;
}

unsigned Nvml::power_mw(Device d) const {
  unsigned mw = 0;
  api_->check(api_->power(d, &mw), "nvmlDeviceGetPowerUsage");
  return mw;
}

namespace {

template <typename F>
F need(F fn, const char* name) {
  if (!fn) throw NvmlError(fmt::format("NVML library {} lacks {}: too old a driver?", Nvml::library_path(), name));
  return fn;
}

}  // namespace

Nvml::PowerLimitRange Nvml::power_limit_range(Device d) const {
  PowerLimitRange r;
  api_->check(need(api_->limit_constraints, "nvmlDeviceGetPowerManagementLimitConstraints")(d, &r.min_mw, &r.max_mw),
              "nvmlDeviceGetPowerManagementLimitConstraints");
  return r;
}

unsigned Nvml::power_limit_mw(Device d) const {
  unsigned mw = 0;
  api_->check(need(api_->management_limit, "nvmlDeviceGetPowerManagementLimit")(d, &mw), "nvmlDeviceGetPowerManagementLimit");
  return mw;
}

void Nvml::set_power_limit_mw(Device d, unsigned mw) const {
  const nvmlReturn_t r = need(api_->set_limit, "nvmlDeviceSetPowerManagementLimit")(d, mw);
  if (r == NVML_ERROR_NO_PERMISSION) {
    throw NvmlError(fmt::format("setting the power limit to {} W: {}; it needs root (as nvidia-smi -pl does)", mw / 1000.0,
                                api_->describe(r)));
  }
  api_->check(r, fmt::format("setting the power limit to {} W", mw / 1000.0).c_str());
}

std::optional<unsigned> Nvml::instant_power_mw(Device d) const {
  nvmlFieldValue_t f{};
  f.fieldId = NVML_FI_DEV_POWER_INSTANT;
  const nvmlReturn_t r = api_->fields(d, 1, &f);
  if (r == NVML_ERROR_NOT_SUPPORTED || f.nvmlReturn == NVML_ERROR_NOT_SUPPORTED) return std::nullopt;
  api_->check(r, "nvmlDeviceGetFieldValues");
  api_->check(f.nvmlReturn, "nvmlDeviceGetFieldValues(POWER_INSTANT)");
  switch (f.valueType) {
    case NVML_VALUE_TYPE_DOUBLE: return static_cast<unsigned>(f.value.dVal);
    case NVML_VALUE_TYPE_UNSIGNED_INT: return f.value.uiVal;
    case NVML_VALUE_TYPE_UNSIGNED_LONG: return static_cast<unsigned>(f.value.ulVal);
    case NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: return static_cast<unsigned>(f.value.ullVal);
    case NVML_VALUE_TYPE_SIGNED_LONG_LONG: return static_cast<unsigned>(f.value.sllVal);
    case NVML_VALUE_TYPE_SIGNED_INT: return static_cast<unsigned>(f.value.siVal);
    default: return f.value.uiVal;
  }
}

}  // namespace greenbatch
