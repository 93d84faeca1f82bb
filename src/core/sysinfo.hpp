#pragma once
// Facts about the machine and the moment, for self-describing results.
#include <string>

namespace greenbatch {

std::string hostname();
// Current UTC time as ISO 8601 with seconds, e.g. "2026-11-26T14:11:09Z".
std::string utc_now_iso8601();
// "model name" from /proc/cpuinfo, or "unknown".
std::string cpu_model();

}  // namespace greenbatch
