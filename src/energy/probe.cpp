#include "energy/probe.hpp"

#include <dlfcn.h>
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "energy/nvml.hpp"
#include "energy/rapl.hpp"

namespace greenbatch {

namespace fs = std::filesystem;

namespace {

SensorProbe probe_nvml() {
  SensorProbe p{"nvml", false, false, {}};
  const std::string lib = Nvml::library_path();
  void* h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    p.detail = fmt::format("{} not found (no NVIDIA driver)", lib);
    return p;
  }
  p.present = true;
  p.readable = dlsym(h, "nvmlInit_v2") != nullptr;
  p.detail = p.readable ? fmt::format("{} loaded", lib) : fmt::format("{} has no nvmlInit_v2", lib);
  dlclose(h);
  return p;
}

SensorProbe probe_rapl() {
  SensorProbe p{"rapl", false, false, {}};
  const fs::path root = Rapl::default_root();
  std::error_code ec;
  std::vector<std::string> zones;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    const std::string n = e.path().filename().string();
    if ((n.rfind("intel-rapl:", 0) == 0 || n.rfind("amd-rapl:", 0) == 0) && fs::exists(e.path() / "energy_uj")) {
      zones.push_back(n);
    }
  }
  if (zones.empty()) {
    p.detail = fmt::format("no RAPL zones under {}", root.string());
    return p;
  }
  p.present = true;
  std::ifstream in(root / zones.front() / "energy_uj");
  long long v = 0;
  p.readable = static_cast<bool>(in >> v);
  p.detail = fmt::format("{} zone(s) under {}{}", zones.size(), root.string(),
                         p.readable ? "" : "; energy_uj is not readable (usually needs root)");
  return p;
}

}  // namespace

std::vector<SensorProbe> probe_sensors() { return {probe_nvml(), probe_rapl()}; }

}  // namespace greenbatch
