#include "energy/meter.hpp"

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/units.hpp"
#include "energy/estimate.hpp"
#include "energy/modelled.hpp"
#include "energy/sensor_meter.hpp"

namespace greenbatch {

Energy NoMeter::stop(TimeNs, std::span<const BatchRecord>, std::size_t) {
  Energy e;
  e.method = "none";
  e.measured = false;
  e.reason = reason_;
  return e;
}

namespace {

constexpr std::string_view kAccepted =
    "auto, none, nvml[:period=D,gpu=N], nvml-sampled[:period=D,gpu=N], rapl[:period=D,root=DIR], "
    "estimate[:tdp=W,idle=W,threads=N] (from CPU time, labelled estimated), "
    "modelled:idle=P,busy=P (e.g. modelled:idle=50W,busy=150W)";

struct Parsed {
  std::string name;
  std::map<std::string, std::string> kv;
  TimeNs period_ns = 10 * kNsPerMs;
};

Parsed parse(std::string_view spec) {
  const auto [name, rest] = split_spec(spec);
  const std::string what = fmt::format("--meter '{}'", spec);
  Parsed p;
  p.name = name;
  if (name == "none" || name == "auto") {
    if (!rest.empty()) throw UserError(fmt::format("{}: {} takes no parameter; accepted: {}", what, name, kAccepted));
  } else if (name == "modelled" || name == "modeled") {
    p.name = "modelled";
    p.kv = parse_key_values(rest, what, "idle,busy");
    if (!p.kv.contains("idle") || !p.kv.contains("busy")) {
      throw UserError(fmt::format("{}: the modelled meter needs both idle and busy power; accepted: {}", what, kAccepted));
    }
  } else if (name == "estimate") {
    p.kv = parse_key_values(rest, what, "tdp,idle,threads");
  } else if (name == "nvml" || name == "nvml-sampled") {
    p.kv = parse_key_values(rest, what, "period,gpu");
  } else if (name == "rapl") {
    p.kv = parse_key_values(rest, what, "period,root");
  } else {
    throw UserError(fmt::format("{}: unknown meter '{}'; accepted: {}", what, name, kAccepted));
  }
  if (auto it = p.kv.find("period"); it != p.kv.end()) {
    p.period_ns = parse_duration_ns(it->second, what);
    if (p.period_ns < 100 * kNsPerUs || p.period_ns > 60 * kNsPerS) {
      throw UserError(fmt::format("{}: the sampling period must be at least 100us and at most 60s", what));
    }
  }
  return p;
}

constexpr std::uint64_t kMaxGpuIndex = 1023;  // NVML's device indices (a GPU's, on one machine)

std::unique_ptr<EnergyMeter> make_nvml(const Parsed& p, const MeterContext& ctx, const std::string& spec) {
  unsigned index = 0;
  std::string uuid = ctx.device_uuid;
  if (auto it = p.kv.find("gpu"); it != p.kv.end()) {
    index = static_cast<unsigned>(parse_whole(it->second, fmt::format("--meter '{}': gpu", spec), 0, kMaxGpuIndex));
    uuid.clear();  // an explicit NVML index wins
  } else if (ctx.device.rfind("cuda", 0) != 0) {
    throw UserError(fmt::format("--meter '{}': NVML measures a GPU, but the model runs on '{}'; run on --device cuda:N, "
                                "or name the NVML device with {}:gpu=N",
                                spec, ctx.device, p.name));
  } else if (uuid.empty() && ctx.device.size() > 5) {
    index = static_cast<unsigned>(parse_whole(ctx.device.substr(5), "device index", 0, kMaxGpuIndex));
  }
  try {
    auto sensor = std::make_unique<NvmlSensor>(Nvml::open(), uuid, index);
    const auto primary = p.name == "nvml" ? SensorMeter::Primary::kCounter : SensorMeter::Primary::kSampled;
    return std::make_unique<SensorMeter>(p.name, primary, std::move(sensor), p.period_ns, spec);
  } catch (const NvmlError& e) {
    throw UserError(fmt::format("--meter '{}': {}", spec, e.what()));
  }
}

std::unique_ptr<EnergyMeter> make_rapl(const Parsed& p, const std::string& spec) {
  const auto it = p.kv.find("root");
  try {
    auto rapl = std::make_unique<Rapl>(it != p.kv.end() ? it->second : Rapl::default_root());
    return std::make_unique<SensorMeter>("rapl", SensorMeter::Primary::kCounter,
                                         std::make_unique<RaplSensor>(std::move(rapl)), p.period_ns, spec);
  } catch (const RaplError& e) {
    throw UserError(fmt::format("--meter '{}': {}", spec, e.what()));
  }
}

std::unique_ptr<EnergyMeter> make_estimate(const Parsed& p, const std::string& spec, std::string note) {
  const std::string what = fmt::format("--meter '{}'", spec);
  std::optional<double> tdp, idle;
  std::optional<unsigned> threads;
  if (auto it = p.kv.find("tdp"); it != p.kv.end()) tdp = parse_power_w(it->second, what);
  if (auto it = p.kv.find("idle"); it != p.kv.end()) idle = parse_power_w(it->second, what);
  if (auto it = p.kv.find("threads"); it != p.kv.end()) {
    threads = static_cast<unsigned>(parse_whole(it->second, what + ": threads", 1, 1u << 20));
  }
  CpuFacts facts = read_cpu_facts();
  CpuPower power = cpu_power(facts, tdp, idle, threads);
  return std::make_unique<EstimateMeter>(std::move(power), std::move(facts), process_cpu_time_s, spec, std::move(note));
}

}  // namespace

void check_meter_spec(std::string_view spec) { (void)parse(spec); }

std::unique_ptr<EnergyMeter> make_meter(std::string_view spec_view, const MeterContext& ctx) {
  const std::string spec(spec_view);
  const Parsed p = parse(spec);
  if (p.name == "none") return std::make_unique<NoMeter>("no energy meter was selected (--meter none)");
  if (p.name == "modelled") {
    const std::string what = fmt::format("--meter '{}'", spec);
    const double idle = parse_power_w(p.kv.at("idle"), what);
    const double busy = parse_power_w(p.kv.at("busy"), what);
    if (busy < idle) {
      throw UserError(fmt::format("{}: busy power ({} W) is below idle power ({} W)", what, busy, idle));
    }
    return std::make_unique<ModelledMeter>(idle, busy);
  }
  if (p.name == "nvml" || p.name == "nvml-sampled") return make_nvml(p, ctx, spec);
  if (p.name == "rapl") return make_rapl(p, spec);
  if (p.name == "estimate") return make_estimate(p, spec, "");
  // auto: NVML's counter on a CUDA device, RAPL on the CPU where readable, otherwise none.
  if (ctx.device == "synthetic") {
    return std::make_unique<NoMeter>("auto: a synthetic model has no hardware to measure (use modelled:idle=P,busy=P)");
  }
  Parsed sub = p;
  try {
    if (ctx.device.rfind("cuda", 0) == 0) {
      sub.name = "nvml";
      return make_nvml(sub, ctx, "nvml");
    }
    sub.name = "rapl";
    return make_rapl(sub, "rapl");
  } catch (const UserError& e) {
    const std::string why = fmt::format("auto: {} unavailable: {}", sub.name, e.what());
    if (sub.name == "rapl" && ctx.estimate_without_sensor) {
      Parsed est;
      est.name = "estimate";
      return make_estimate(est, "estimate", fmt::format("no sensor readable ({}); estimated from CPU time instead", why));
    }
    return std::make_unique<NoMeter>(why);
  }
}

}  // namespace greenbatch
