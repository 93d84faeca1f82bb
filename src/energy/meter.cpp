#include "energy/meter.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/units.hpp"
#include "energy/modelled.hpp"

namespace greenbatch {

Energy NoMeter::stop(TimeNs, std::span<const BatchRecord>, std::size_t) {
  Energy e;
  e.method = "none";
  e.measured = false;
  e.reason = reason_;
  return e;
}

std::unique_ptr<EnergyMeter> parse_meter(std::string_view spec) {
  constexpr std::string_view kAccepted = "none, modelled:idle=P,busy=P (powers in W, e.g. modelled:idle=50W,busy=150W)";
  const auto [name, rest] = split_spec(spec);
  const std::string what = fmt::format("--meter '{}'", spec);
  if (name == "none") {
    if (!rest.empty()) throw UserError(fmt::format("{}: none takes no parameter; accepted: {}", what, kAccepted));
    return std::make_unique<NoMeter>("no energy meter was selected (--meter none)");
  }
  if (name == "modelled" || name == "modeled") {
    const auto kv = parse_key_values(rest, what, "idle,busy");
    if (!kv.contains("idle") || !kv.contains("busy")) {
      throw UserError(fmt::format("{}: the modelled meter needs both idle and busy power; accepted: {}", what, kAccepted));
    }
    const double idle = parse_power_w(kv.at("idle"), what);
    const double busy = parse_power_w(kv.at("busy"), what);
    if (busy < idle) {
      throw UserError(fmt::format("{}: busy power ({} W) is below idle power ({} W)", what, busy, idle));
    }
    return std::make_unique<ModelledMeter>(idle, busy);
  }
  throw UserError(fmt::format("{}: unknown meter '{}'; accepted: {}", what, name, kAccepted));
}

}  // namespace greenbatch
