#include "core/knobs.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace greenbatch {

namespace {

constexpr std::string_view kAccepted =
    "comma-separated precision=fp32|bf16|fp16|int8, memory_format=contiguous|channels_last, cuda_graphs, "
    "power_limit=W (or fp32 alone for the defaults)";

std::string watts(double w) { return fmt::format("{}W", w); }

}  // namespace

std::string Knobs::text() const {
  std::vector<std::string> parts;
  if (precision != Precision::kFp32) parts.push_back(fmt::format("precision={}", name_of(precision)));
  if (memory_format != MemoryFormat::kContiguous) parts.push_back(fmt::format("memory_format={}", name_of(memory_format)));
  if (cuda_graphs) parts.push_back("cuda_graphs");
  if (power_limit_w) parts.push_back("power_limit=" + watts(*power_limit_w));
  return fmt::format("{}", fmt::join(parts, ","));
}

std::string Knobs::label() const {
  std::vector<std::string> parts{std::string(name_of(precision))};
  if (memory_format != MemoryFormat::kContiguous) parts.emplace_back(name_of(memory_format));
  if (cuda_graphs) parts.push_back("graphs");
  if (power_limit_w) parts.push_back(watts(*power_limit_w));
  return fmt::format("{}", fmt::join(parts, " "));
}

nlohmann::json Knobs::to_json() const {
  return {{"precision", name_of(precision)},
          {"memory_format", name_of(memory_format)},
          {"cuda_graphs", cuda_graphs},
          {"power_limit_w", power_limit_w ? nlohmann::json(*power_limit_w) : nlohmann::json(nullptr)}};
}

Knobs Knobs::from_json(const nlohmann::json& j) {
  Knobs k;
  if (j.is_null()) return k;
  if (!j.is_object()) throw UserError("record key 'knobs': expected an object");
  const auto text = [&](const char* key) -> std::optional<std::string> {
    if (!j.contains(key) || j[key].is_null()) return std::nullopt;
    if (!j[key].is_string()) throw UserError(fmt::format("record key 'knobs.{}': expected a string", key));
    return j[key].get<std::string>();
  };
  if (const auto p = text("precision")) k.precision = parse_choice<Precision>(*p, "record key 'knobs.precision'");
  if (const auto m = text("memory_format")) k.memory_format = parse_choice<MemoryFormat>(*m, "record key 'knobs.memory_format'");
  if (j.contains("cuda_graphs") && !j["cuda_graphs"].is_null()) {
    if (!j["cuda_graphs"].is_boolean()) throw UserError("record key 'knobs.cuda_graphs': expected true or false");
    k.cuda_graphs = j["cuda_graphs"].get<bool>();
  }
  if (j.contains("power_limit_w") && !j["power_limit_w"].is_null()) {
    if (!j["power_limit_w"].is_number()) throw UserError("record key 'knobs.power_limit_w': expected a number of watts");
    k.power_limit_w = j["power_limit_w"].get<double>();
  }
  return k;
}

Knobs Knobs::from_backend(const nlohmann::json& backend) {
  Knobs k;
  if (!backend.is_object()) return k;
  if (backend.contains("knobs")) k = from_json(backend["knobs"]);
  if (!k.power_limit_w && backend.contains("power_limit") && backend["power_limit"].is_object()) {
    const nlohmann::json& limit = backend["power_limit"];
    if (limit.contains("requested_w") && limit["requested_w"].is_number()) k.power_limit_w = limit["requested_w"].get<double>();
  }
  return k;
}

Knobs parse_knobs(std::string_view text) {
  Knobs k;
  if (text.empty() || text == "fp32") return k;
  std::size_t start = 0;
  std::vector<std::string> seen;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view part = text.substr(start, comma - start);
    const std::size_t eq = part.find('=');
    const std::string key(part.substr(0, eq));
    const std::string value(eq == std::string_view::npos ? "" : part.substr(eq + 1));
    for (const auto& s : seen) {
      if (s == key) throw UserError(fmt::format("knobs '{}': '{}' given twice; accepted: {}", text, key, kAccepted));
    }
    seen.push_back(key);
    if (key == "precision" && eq != std::string_view::npos) {
      k.precision = parse_choice<Precision>(value, "knobs precision");
    } else if (key == "memory_format" && eq != std::string_view::npos) {
      k.memory_format = parse_choice<MemoryFormat>(value, "knobs memory_format");
    } else if (key == "cuda_graphs" && eq == std::string_view::npos) {
      k.cuda_graphs = true;
    } else if (key == "power_limit" && eq != std::string_view::npos) {
      std::string number = value;
      if (number.size() > 1 && number.back() == 'W') number.pop_back();
      std::size_t used = 0;
      double w = 0;
      try {
        w = std::stod(number, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != number.size()) {
        throw UserError(fmt::format("knobs '{}': power_limit '{}' is not a number of watts (e.g. 250W)", text, value));
      }
      k.power_limit_w = w;
    } else {
      throw UserError(fmt::format("knobs '{}': '{}' is not a knob; accepted: {}", text, part, kAccepted));
    }
    start = comma + 1;
  }
  return k;
}

void check_knobs(const Knobs& k, std::string_view device) {
  const bool synthetic = device == "synthetic";
  const bool cuda = device == "cuda" || device.rfind("cuda:", 0) == 0;
  if (k.power_limit_w && !(std::isfinite(*k.power_limit_w) && *k.power_limit_w >= 1 && *k.power_limit_w <= kMaxPowerLimitW)) {
    throw UserError(fmt::format("--power-limit {}: must be from 1 to {} W (NVML also checks it against the device's own "
                                "range when it is set)",
                                *k.power_limit_w, kMaxPowerLimitW));
  }
  if (synthetic) {
    if (k.precision != Precision::kFp32 || k.memory_format != MemoryFormat::kContiguous || k.cuda_graphs) {
      throw UserError(fmt::format("knobs '{}': a synthetic model has no numeric path; it takes only --power-limit "
                                  "(on NVML's device 0); give a real network for --precision, --memory-format or "
                                  "--cuda-graphs",
                                  k.text()));
    }
    return;
  }
  if (cuda) {
    if (k.precision == Precision::kInt8) {
      throw UserError(fmt::format("--precision int8 --device {}: LibTorch's quantized kernels run on the CPU only; "
                                  "accepted on CUDA: fp32, bf16, fp16",
                                  device));
    }
    return;
  }
  if (k.precision == Precision::kFp16) {
    throw UserError(fmt::format("--precision fp16 --device {}: half precision is for CUDA devices (the CPU has no fast "
                                "fp16 path in LibTorch 1.13); accepted on the CPU: fp32, bf16, int8",
                                device));
  }
  if (k.cuda_graphs) {
    throw UserError(fmt::format("--cuda-graphs --device {}: CUDA graphs need a CUDA device (--device cuda or cuda:N)", device));
  }
  if (k.power_limit_w) {
    throw UserError(fmt::format("--power-limit --device {}: the power limit is a GPU's, set through NVML; it needs "
                                "--device cuda or cuda:N",
                                device));
  }
}

}  // namespace greenbatch
