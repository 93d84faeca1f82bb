// A fake libnvidia-ml.so.1 for tests: the public NVML entry points greenbatch uses, with power
// scripted by the test (piecewise constant, changed at any time), an energy counter that
// integrates it (offset, as a driver's counter since load would be), a 1-second averaged power
// like nvmlDeviceGetPowerUsage on recent GPUs, an instant power field, and errors on demand.
// Control functions (fake_nvml_*) are called by the tests through dlopen of the same file.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

constexpr int kSuccess = 0, kUninitialized = 1, kInvalidArgument = 2, kNoPermission = 4, kNotFound = 6, kUnknown = 999;
constexpr unsigned kMinLimitMw = 200000, kMaxLimitMw = 700000;

struct Dev {
  std::string uuid, name;
  std::vector<std::pair<double, double>> changes;  // (time s, power W) from that time on
  int fail = 0;  // 1: power reads fail, 2: energy reads fail, 3: setting the power limit is not permitted
  unsigned limit_mw = 700000;                      // the power limit, from 200 to 700 W
  std::vector<unsigned> limits_set;                // every limit set, in order
};

std::mutex mu;
std::vector<Dev> devs;
bool initialised = false;
int init_calls = 0;
const auto epoch = std::chrono::steady_clock::now();

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch).count(); }

double energy_until(const Dev& d, double t) {
  double j = 0;
  for (std::size_t i = 0; i < d.changes.size(); ++i) {
    const double from = d.changes[i].first;
    const double to = i + 1 < d.changes.size() ? d.changes[i + 1].first : t;
    if (t <= from) break;
    j += d.changes[i].second * (std::min(to, t) - from);
  }
  return j;
}

double power_at(const Dev& d, double t) {
  double p = d.changes.empty() ? 0 : d.changes.front().second;
  for (const auto& c : d.changes)
    if (c.first <= t) p = c.second;
  return p;
}

Dev* dev(void* handle) {
  const auto i = reinterpret_cast<std::uintptr_t>(handle);
  return i >= 1 && i <= devs.size() ? &devs[i - 1] : nullptr;
}

union Value {
  double dVal;
  unsigned int uiVal;
  unsigned long ulVal;
  unsigned long long ullVal;
  long long sllVal;
  int siVal;
  unsigned short usVal;
};
struct FieldValue {
  unsigned int fieldId, scopeId;
  long long timestamp, latencyUsec;
  int valueType;
  int nvmlReturn;
  Value value;
};

int copy(const std::string& s, char* buf, unsigned len) {
  if (!buf || len <= s.size()) return kInvalidArgument;
  std::memcpy(buf, s.c_str(), s.size() + 1);
  return kSuccess;
}

}  // namespace

extern "C" {

// ---- control, for the tests ----
void fake_nvml_reset(unsigned count, double watts) {
  std::lock_guard<std::mutex> lock(mu);
  devs.clear();
  const double t = now_s() - 10;  // the device has drawn `watts` for 10 s already
  for (unsigned i = 0; i < count; ++i) {
    char uuid[64];
    std::snprintf(uuid, sizeof(uuid), "GPU-00000000-0000-0000-0000-%012u", i);
    devs.push_back({uuid, "Fake GPU " + std::to_string(i), {{t, watts}}, 0, kMaxLimitMw, {}});
  }
}
void fake_nvml_set_power(unsigned index, double watts) {
  std::lock_guard<std::mutex> lock(mu);
  if (index < devs.size()) devs[index].changes.push_back({now_s(), watts});
}
void fake_nvml_fail(unsigned index, int what) {
  std::lock_guard<std::mutex> lock(mu);
  if (index < devs.size()) devs[index].fail = what;
}
int fake_nvml_init_calls() { return init_calls; }
unsigned fake_nvml_power_limit_mw(unsigned index) {
  std::lock_guard<std::mutex> lock(mu);
  return index < devs.size() ? devs[index].limit_mw : 0;
}
unsigned fake_nvml_limits_set(unsigned index) {
  std::lock_guard<std::mutex> lock(mu);
  return index < devs.size() ? static_cast<unsigned>(devs[index].limits_set.size()) : 0;
}

// ---- the NVML API ----
int nvmlInit_v2() {
  std::lock_guard<std::mutex> lock(mu);
  ++init_calls;
  initialised = true;
  if (devs.empty()) {
    const double t = now_s() - 10;
    devs.push_back({"GPU-00000000-0000-0000-0000-000000000000", "Fake GPU 0", {{t, 75.0}}, 0, kMaxLimitMw, {}});
  }
  return kSuccess;
}
int nvmlShutdown() { return kSuccess; }
const char* nvmlErrorString(int r) {
  switch (r) {
    case kSuccess: return "Success";
    case kUninitialized: return "Uninitialized";
    case kInvalidArgument: return "Invalid Argument";
    case kNoPermission: return "Insufficient Permissions";
    case kNotFound: return "Not Found";
    default: return "Unknown Error";
  }
}
int nvmlDeviceGetCount_v2(unsigned* n) {
  std::lock_guard<std::mutex> lock(mu);
  *n = static_cast<unsigned>(devs.size());
  return kSuccess;
}
int nvmlDeviceGetHandleByIndex_v2(unsigned i, void** h) {
  std::lock_guard<std::mutex> lock(mu);
  if (i >= devs.size()) return kInvalidArgument;
  *h = reinterpret_cast<void*>(static_cast<std::uintptr_t>(i + 1));
  return kSuccess;
}
int nvmlDeviceGetHandleByUUID(const char* uuid, void** h) {
  std::lock_guard<std::mutex> lock(mu);
  for (std::size_t i = 0; i < devs.size(); ++i) {
    if (devs[i].uuid == uuid) {
      *h = reinterpret_cast<void*>(static_cast<std::uintptr_t>(i + 1));
      return kSuccess;
    }
  }
  return kNotFound;
}
int nvmlDeviceGetUUID(void* h, char* buf, unsigned len) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  return d ? copy(d->uuid, buf, len) : kInvalidArgument;
}
int nvmlDeviceGetName(void* h, char* buf, unsigned len) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  return d ? copy(d->name, buf, len) : kInvalidArgument;
}
int nvmlSystemGetDriverVersion(char* buf, unsigned len) { return copy("999.99-fake", buf, len); }
int nvmlDeviceGetPowerUsage(void* h, unsigned* mw) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  if (!d) return kInvalidArgument;
  if (d->fail == 1) return kUnknown;
  const double t = now_s();
  *mw = static_cast<unsigned>(std::llround((energy_until(*d, t) - energy_until(*d, t - 1.0)) * 1000.0));  // 1 s average
  return kSuccess;
}
int nvmlDeviceGetTotalEnergyConsumption(void* h, unsigned long long* mj) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  if (!d) return kInvalidArgument;
  if (d->fail == 2) return kUnknown;
  *mj = 123456789ULL + static_cast<unsigned long long>(std::llround(energy_until(*d, now_s()) * 1000.0));
  return kSuccess;
}
int nvmlDeviceGetFieldValues(void* h, int n, FieldValue* values) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  if (!d) return kInvalidArgument;
  for (int i = 0; i < n; ++i) {
    values[i].nvmlReturn = d->fail == 1 ? kUnknown : kSuccess;
    values[i].valueType = 1;  // unsigned int
    values[i].value.uiVal = static_cast<unsigned>(std::llround(power_at(*d, now_s()) * 1000.0));
  }
  return kSuccess;
}
int nvmlDeviceGetEnforcedPowerLimit(void* h, unsigned* mw) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  if (!d) return kInvalidArgument;
  *mw = d->limit_mw;
  return kSuccess;
}
int nvmlDeviceGetPowerManagementLimit(void* h, unsigned* mw) { return nvmlDeviceGetEnforcedPowerLimit(h, mw); }
int nvmlDeviceGetPowerManagementLimitConstraints(void* h, unsigned* min_mw, unsigned* max_mw) {
  std::lock_guard<std::mutex> lock(mu);
  if (!dev(h)) return kInvalidArgument;
  *min_mw = kMinLimitMw;
  *max_mw = kMaxLimitMw;
  return kSuccess;
}
int nvmlDeviceSetPowerManagementLimit(void* h, unsigned mw) {
  std::lock_guard<std::mutex> lock(mu);
  Dev* d = dev(h);
  if (!d) return kInvalidArgument;
  if (d->fail == 3) return kNoPermission;
  if (mw < kMinLimitMw || mw > kMaxLimitMw) return kInvalidArgument;
  d->limit_mw = mw;
  d->limits_set.push_back(mw);
  return kSuccess;
}
int nvmlDeviceGetClockInfo(void*, int type, unsigned* mhz) {
  *mhz = type == 1 ? 1980 : 2619;
  return kSuccess;
}

}  // extern "C"
