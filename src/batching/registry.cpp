// The policy registry: every kind greenbatch knows, in the order the tuner and the help list
// them. Registering a new policy is one line here (and its header beside this file).
#include <fmt/format.h>

#include "batching/adaptive.hpp"
#include "batching/fixed.hpp"
#include "batching/greedy.hpp"
#include "batching/policy.hpp"
#include "batching/switch.hpp"
#include "batching/timeout.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

const std::vector<const PolicyKind*>& policy_kinds() {
  static const std::vector<const PolicyKind*> kinds = {&kFixedKind,    &kGreedyKind, &kTimeoutKind,
                                                             &kAdaptiveKind, &kAimdKind,   &kSwitchKind};
  return kinds;
}

namespace {

std::string accepted() {
  std::string text;
  for (const PolicyKind* k : policy_kinds()) text += (text.empty() ? "" : ", ") + std::string(k->accepted);
  return fmt::format("{}; N and CAP from 1 to {}", text, kMaxPolicyBatch);
}

}  // namespace

void policy_error(std::string_view spec, std::string_view why) {
  throw UserError(fmt::format("--policy '{}': {}; accepted: {}", spec, why, accepted()));
}

std::size_t policy_batch_size(std::string_view spec, std::string_view text, std::string_view name) {
  long long v = 0;
  try {
    v = parse_integer(text, name);
  } catch (const UserError&) {
    policy_error(spec, fmt::format("{} '{}' is not a whole number", name, text));
  }
  if (v < 1 || static_cast<unsigned long long>(v) > kMaxPolicyBatch) {
    policy_error(spec, fmt::format("{} must be from 1 to {}, not {}", name, kMaxPolicyBatch, v));
  }
  return static_cast<std::size_t>(v);
}

TimeNs policy_duration(std::string_view spec, std::string_view text, std::string_view name) {
  try {
    return parse_duration_ns(text, name);
  } catch (const UserError& e) {
    policy_error(spec, e.what());
  }
}

const PolicyKind* policy_kind_of(std::string_view spec) {
  const std::string name = split_spec(spec).first;
  for (const PolicyKind* k : policy_kinds()) {
    if (k->name == name) return k;
  }
  return nullptr;
}

std::unique_ptr<BatchPolicy> parse_policy(std::string_view spec) {
  const auto [name, rest] = split_spec(spec);
  const PolicyKind* kind = policy_kind_of(spec);
  if (!kind) policy_error(spec, fmt::format("unknown policy '{}'", name));
  return kind->parse(spec, rest);
}

std::vector<std::string> split_policies(std::string_view list) {
  const auto begins_policy = [](std::string_view rest) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    for (const PolicyKind* k : policy_kinds()) {
      if (rest.starts_with(k->name) &&
          (rest.size() == k->name.size() || rest[k->name.size()] == ':' || rest[k->name.size()] == ',')) {
        return true;
      }
    }
    return false;
  };
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= list.size(); ++i) {
    if (i < list.size() && (list[i] != ',' || !begins_policy(list.substr(i + 1)))) continue;
    std::string_view item = list.substr(start, i - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = i + 1;
  }
  return out;
}

std::string policy_label(std::string_view spec) {
  try {
    return parse_policy(spec)->label();
  } catch (const UserError&) {
    return std::string(spec);
  }
}

PolicyOrder policy_order(std::string_view spec) {
  const PolicyKind* kind = policy_kind_of(spec);
  if (!kind) return {static_cast<int>(policy_kinds().size()), 0};
  try {
    return {kind->rank, parse_policy(spec)->max_batch()};
  } catch (const UserError&) {
    return {kind->rank, 0};
  }
}

std::vector<std::string> tune_candidates(const TuneSpace& space) {
  std::vector<std::string> out;
  for (const PolicyKind* k : policy_kinds()) k->tune_candidates(space, out);
  return out;
}

}  // namespace greenbatch
