#include "backends/synthetic/synthetic.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

void SyntheticBackend::run(std::size_t, std::size_t count) {
  const TimeNs service = params_.service_ns(count);
  if (service > 0) clock_.sleep_until(clock_.now() + service);
}

std::string SyntheticBackend::model() const {
  return fmt::format("synthetic:base={},per_item={}", duration_spec(params_.base_ns),
                     duration_spec(params_.per_item_ns));
}

bool is_synthetic_spec(std::string_view spec) { return split_spec(spec).first == "synthetic"; }

SyntheticParams parse_synthetic(std::string_view spec) {
  const auto [name, rest] = split_spec(spec);
  const std::string what = fmt::format("--model '{}'", spec);
  if (name != "synthetic") throw UserError(fmt::format("{}: not a synthetic model", what));
  SyntheticParams p;
  const auto kv = parse_key_values(rest, what, "base,per_item");
  if (auto it = kv.find("base"); it != kv.end()) p.base_ns = parse_duration_ns(it->second, what);
  if (auto it = kv.find("per_item"); it != kv.end()) p.per_item_ns = parse_duration_ns(it->second, what);
  return p;
}

}  // namespace greenbatch
