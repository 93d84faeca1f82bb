#pragma once
// Drives the fake libnvidia-ml (tests/fake_nvml) that greenbatch loads through its own dlopen
// path: GREENBATCH_NVML_LIBRARY points at it, and dlopen of the same file shares its state.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>

namespace greenbatch::testing {

class FakeNvml {
 public:
  explicit FakeNvml(unsigned devices = 1, double watts = 75.0) {
    setenv("GREENBATCH_NVML_LIBRARY", FAKE_NVML, 1);
    handle_ = dlopen(FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(handle_, nullptr) << dlerror();
    reset_ = reinterpret_cast<void (*)(unsigned, double)>(dlsym(handle_, "fake_nvml_reset"));
    set_power_ = reinterpret_cast<void (*)(unsigned, double)>(dlsym(handle_, "fake_nvml_set_power"));
    fail_ = reinterpret_cast<void (*)(unsigned, int)>(dlsym(handle_, "fake_nvml_fail"));
    limit_ = reinterpret_cast<unsigned (*)(unsigned)>(dlsym(handle_, "fake_nvml_power_limit_mw"));
    limits_set_ = reinterpret_cast<unsigned (*)(unsigned)>(dlsym(handle_, "fake_nvml_limits_set"));
    reset_(devices, watts);
  }
  ~FakeNvml() {
    dlclose(handle_);
    unsetenv("GREENBATCH_NVML_LIBRARY");
  }
  void set_power(unsigned device, double watts) { set_power_(device, watts); }
  void fail_power(unsigned device) { fail_(device, 1); }
  void fail_energy(unsigned device) { fail_(device, 2); }
  void deny_power_limit(unsigned device) { fail_(device, 3); }
  // The device's power limit now (W; 700 until set), and how many times it was set.
  double power_limit_w(unsigned device) const { return limit_(device) / 1000.0; }
  unsigned limits_set(unsigned device) const { return limits_set_(device); }

 private:
  void* handle_ = nullptr;
  void (*reset_)(unsigned, double) = nullptr;
  void (*set_power_)(unsigned, double) = nullptr;
  void (*fail_)(unsigned, int) = nullptr;
  unsigned (*limit_)(unsigned) = nullptr;
  unsigned (*limits_set_)(unsigned) = nullptr;
};

}  // namespace greenbatch::testing
