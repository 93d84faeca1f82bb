#pragma once
// What energy sensors this machine shows, without using them: for `greenbatch info`.
#include <string>
#include <vector>

namespace greenbatch {

struct SensorProbe {
  std::string name;       // "nvml", "rapl"
  bool present = false;   // the library or the sysfs tree exists
  bool readable = false;  // and can be read by this process
  std::string detail;     // what was found, or why not
};

// NVML: dlopen of libnvidia-ml.so.1 (or $GREENBATCH_NVML_LIBRARY). RAPL: the powercap tree
// (/sys/class/powercap, or $GREENBATCH_POWERCAP_ROOT).
std::vector<SensorProbe> probe_sensors();

}  // namespace greenbatch
