#pragma once
// What a run records per batch. Batches are formed first-in first-out, so batch b holds the
// contiguous requests [first_request, first_request + size).
#include <cstddef>
#include <cstdint>

#include "core/time.hpp"

namespace greenbatch {

struct BatchRecord {
  TimeNs start_ns = 0;  // dispatch: the backend was called
  TimeNs end_ns = 0;    // the backend returned (outputs complete)
  TimeNs late_ns = 0;   // dispatch minus the time the engine meant to dispatch (engine.hpp)
  std::uint64_t first_request = 0;
  std::uint32_t size = 0;
};

}  // namespace greenbatch
