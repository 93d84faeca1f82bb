#pragma once
// Time in greenbatch is an integer count of nanoseconds since the start of a run.
// Integers keep the virtual clock exact: 1/64 s is 15'625'000 ns, no rounding drift.
#include <cstdint>
#include <string>

namespace greenbatch {

using TimeNs = std::int64_t;

inline constexpr TimeNs kNsPerUs = 1'000;
inline constexpr TimeNs kNsPerMs = 1'000'000;
inline constexpr TimeNs kNsPerS = 1'000'000'000;

// Seconds as a double; division (not multiplication by 1e-9) keeps whole-ms values exact.
inline double ns_to_s(TimeNs ns) { return static_cast<double>(ns) / 1e9; }

// Exact decimal seconds with nine digits ("0.015625000"), independent of the locale.
std::string format_seconds_exact(TimeNs ns);

}  // namespace greenbatch
