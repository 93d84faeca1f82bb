#pragma once
// The open-loop HTTP client of `greenbatch load`: request i is sent at start + schedule[i] on the
// real clock (steady_clock), whatever the earlier requests are doing, over a pool of keep-alive
// connections that grows on demand up to a maximum. A request due while every connection is busy
// waits for the first one free; that wait is in its latency, which is always measured from its
// scheduled time (never from the send), so an overloaded server cannot slow the load and hide
// its queueing. Every request ends with an outcome: an HTTP status, a timeout or a connection
// error; none is dropped. A request failed by a kept-alive connection the server had closed
// (before any byte of an answer) is sent once more on another connection. Memory: one record per request, the bodies, one parser per connection.
// Sends are punctual: the io thread sleeps on a timer (timer slack 1 ns) until a margin of 20 to
// 80 us before the next scheduled time (learnt from its wake-ups, as RealClock does), then spins
// to that time, handling the sockets' ready events meanwhile, and writes at once. It does not
// spin while nothing is due within the margin, nor longer than a quarter of the gap between two
// scheduled sends.
#include <atomic>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/time.hpp"
#include "load/target.hpp"

namespace greenbatch::load {

// One request body and its headers.
struct Body {
  std::string content;
  std::string content_type = "application/json";
  std::optional<std::size_t> header_length;  // Triton's Inference-Header-Content-Length
};

enum class Outcome : std::uint8_t {
  kPending,          // not finished (never left in a result of run_open_loop)
  kHttp,             // answered: `status` holds the HTTP status
  kTimeout,          // no complete answer within the timeout after it was sent (its connection closed)
  kConnectionError,  // connecting, sending or reading failed (refused, reset, closed early)
};

// Times in ns from the start of the run (the schedule's zero).
struct RequestRecord {
  TimeNs scheduled = 0;
  TimeNs sent = -1;  // when its bytes were handed to a connected socket; -1: never sent
  TimeNs done = -1;  // when its outcome was known (the answer complete, the timeout, the error)
  int status = 0;    // kHttp: the HTTP status
  Outcome outcome = Outcome::kPending;
};

struct OpenLoopConfig {
  Target target;
  std::string path;          // e.g. /v2/models/NAME/infer
  std::vector<Body> bodies;  // request i sends bodies[i % size]; not empty
  std::size_t connections = 64;
  TimeNs timeout = 10 * kNsPerS;  // per request, from its send (connecting included)
  // Set (from another thread or a signal handler): the run stops within 50 ms; requests not
  // finished are left pending (a cancelled run is not a result).
  const std::atomic<bool>* cancel = nullptr;
};

// Runs the whole schedule (ascending, from 0) on one io thread (the caller's) and returns one
// record per request, in schedule order. Throws std::invalid_argument on an empty body list, a
// zero connection count or a schedule not ascending.
std::vector<RequestRecord> run_open_loop(const OpenLoopConfig& config, std::span<const TimeNs> schedule);

struct HttpReply {
  int status = 0;
  std::string body;
};

// One GET over a fresh connection, bounded by `timeout`. A connection that cannot be made (or is
// closed, or times out) throws UserError "cannot connect to http://HOST:PORT: REASON".
HttpReply http_get(const Target& target, const std::string& path, TimeNs timeout);

}  // namespace greenbatch::load
