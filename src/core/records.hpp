#pragma once
// A request as the batching core queues it and a backend runs it, and what a run records per
// batch. Batches are formed first-in first-out, so batch b holds the contiguous requests
// [first_request, first_request + size).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/time.hpp"

namespace greenbatch {

struct Request {
  std::uint64_t id = 0;     // numbered from 0 in arrival order
  TimeNs arrival_ns = 0;    // scheduled (replay) or received (server): latency is measured from it
  std::uint64_t input = 0;  // which of the backend's inputs the request carries (replay: its number)
  const void* data = nullptr;  // a payload owned by the front end until its batch is done (a server's)
};

// Requests [first, first + count), each carrying the input of its own number, as a replay
// numbers them (for warm-ups, probes, tests and benchmarks).
inline std::vector<Request> consecutive_requests(std::uint64_t first, std::size_t count) {
  std::vector<Request> out(count);
  for (std::size_t i = 0; i < count; ++i) out[i] = Request{first + i, 0, first + i, nullptr};
  return out;
}

struct BatchRecord {
  TimeNs start_ns = 0;  // dispatch: the backend was called
  TimeNs end_ns = 0;    // the backend returned (outputs complete)
  TimeNs late_ns = 0;   // dispatch minus the time the engine meant to dispatch (engine.hpp)
  std::uint64_t first_request = 0;
  std::uint32_t size = 0;
};

}  // namespace greenbatch
