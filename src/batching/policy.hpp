#pragma once
// Batching policies: functions of what a real server could know at time `now`: the arrival
// times of the requests waiting (oldest first) and whether the stream has ended. A policy never
// sees future arrivals, so the same object drives the replay harness and a server. It may learn
// from the batches it has seen complete (`observe`).
//
// Every policy kind is one header in this folder (fixed.hpp, greedy.hpp, timeout.hpp; the
// learning kinds adaptive and aimd share adaptive.hpp, with their code in adaptive.cpp) that
// defines its class and its `PolicyKind` (how to parse it, its label, its sort rank, the
// candidates the tuner tries); registry.cpp lists the kinds. A new policy is one such header
// and one line in registry.cpp.
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/records.hpp"
#include "core/time.hpp"

namespace greenbatch {

struct Decision {
  enum class Kind { kDispatch, kWaitUntil, kWaitForArrival };
  Kind kind = Kind::kWaitForArrival;
  std::size_t count = 0;  // kDispatch: the oldest `count` waiting requests
  TimeNs until = 0;       // kWaitUntil: wake at this time (or at the next arrival, if sooner)

  static Decision dispatch(std::size_t n) { return {Kind::kDispatch, n, 0}; }
  static Decision wait_until(TimeNs t) { return {Kind::kWaitUntil, 0, t}; }
  static Decision wait_for_arrival() { return {Kind::kWaitForArrival, 0, 0}; }
};

class BatchPolicy {
 public:
  virtual ~BatchPolicy() = default;
  // `waiting`: arrival times of the waiting requests, oldest first. `stream_closed`: no
  // request will arrive any more. With stream_closed and requests waiting, a policy must
  // dispatch (nothing else could ever happen).
  virtual Decision decide(std::span<const TimeNs> waiting, TimeNs now, bool stream_closed) const = 0;
  // A batch this policy dispatched has completed (its start, end, size): an adaptive policy
  // learns from it. The fixed policies ignore it.
  virtual void observe(const BatchRecord& /*batch*/) {}
  // Canonical spec, e.g. "fixed:16", "greedy:128", "timeout:32:50ms".
  virtual std::string spec() const = 0;
  // The short mark on figures and tables: "16", "G", "T32/50ms".
  virtual std::string label() const { return spec(); }
  // The largest batch this policy forms.
  virtual std::size_t max_batch() const = 0;
};

// What the tuner searches: batch sizes up to `cap`, and delays (ascending) for the policies
// that take one.
struct TuneSpace {
  std::size_t cap = 128;
  std::vector<TimeNs> delays_ns;
  std::string target;  // the latency target's text ("p99=200ms"), for the kinds that hold one
};

// One kind of policy, as the registry knows it.
struct PolicyKind {
  std::string_view name;      // the spec's prefix: "fixed"
  std::string_view accepted;  // its forms, for error messages: "fixed:N (dispatch when N wait)"
  int rank = 0;               // order in tables and figures: lower first
  // Parses the part after "name:" (empty when there is none). `spec` is the whole text, for
  // error messages (policy_error). Throws UserError.
  std::unique_ptr<BatchPolicy> (*parse)(std::string_view spec, std::string_view args) = nullptr;
  // The specs of this kind the tuner simulates, appended to `out`.
  void (*tune_candidates)(const TuneSpace& space, std::vector<std::string>& out) = nullptr;
};

// Every registered kind, in registration order (the tuner's and the help text's order).
const std::vector<const PolicyKind*>& policy_kinds();

// "fixed:N", "greedy" (CAP 128), "greedy:CAP", "timeout:N:D", ... Throws UserError saying what
// is accepted.
std::unique_ptr<BatchPolicy> parse_policy(std::string_view spec);
// The kind a spec names (nullptr when none does); no other check.
const PolicyKind* policy_kind_of(std::string_view spec);

// A comma-separated list of policies, split only where a comma begins a new policy (a registered
// kind's name, then ':', ',' or the end), so that a policy's own key=value list stays whole:
// "fixed:16,adaptive:p99=200ms,cap=64,greedy" is three. Items trimmed; empty ones dropped.
std::vector<std::string> split_policies(std::string_view list);

// For records read back (which may hold a spec this build does not know): the label and the
// sort key (kind's rank, then largest batch) of a spec; an unknown spec is its own label and
// sorts last.
std::string policy_label(std::string_view spec);
struct PolicyOrder {
  int rank = 0;
  std::size_t batch = 0;
  auto operator<=>(const PolicyOrder&) const = default;
};
PolicyOrder policy_order(std::string_view spec);

// Every candidate of every kind for the tuner, kinds in registration order.
std::vector<std::string> tune_candidates(const TuneSpace& space);

// Helpers for the kinds' parsers: an error that quotes the spec and lists what is accepted; a
// batch size from 1 to kMaxPolicyBatch; a duration.
inline constexpr std::size_t kMaxPolicyBatch = 65536;
[[noreturn]] void policy_error(std::string_view spec, std::string_view why);
std::size_t policy_batch_size(std::string_view spec, std::string_view text, std::string_view name);
TimeNs policy_duration(std::string_view spec, std::string_view text, std::string_view name);

}  // namespace greenbatch
