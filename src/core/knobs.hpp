#pragma once
// The numeric path's knobs (issue 23), beside the batching policy: a run's precision, its
// tensors' memory layout, CUDA graphs and the GPU's power limit. Part of a run's identity when
// not the defaults (fp32, contiguous, no graphs, the device's own limit), so that records of
// earlier versions keep theirs.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/choices.hpp"

namespace greenbatch {

enum class Precision { kFp32, kBf16, kFp16, kInt8 };
enum class MemoryFormat { kContiguous, kChannelsLast };

template <>
struct ChoiceNames<Precision> {
  static constexpr std::array<std::pair<Precision, std::string_view>, 4> names = {
      {{Precision::kFp32, "fp32"}, {Precision::kBf16, "bf16"}, {Precision::kFp16, "fp16"}, {Precision::kInt8, "int8"}}};
};
template <>
struct ChoiceNames<MemoryFormat> {
  static constexpr std::array<std::pair<MemoryFormat, std::string_view>, 2> names = {
      {{MemoryFormat::kContiguous, "contiguous"}, {MemoryFormat::kChannelsLast, "channels_last"}}};
};

// The power limits NVML is asked for are whole watts from 1 to this.
inline constexpr double kMaxPowerLimitW = 10000;

struct Knobs {
  // fp32: as exported. bf16, fp16: the network under LibTorch's autocast to that type (fp16 on
  // CUDA only). int8: the model's dynamically quantized export (NAME.int8.pt; CPU only).
  Precision precision = Precision::kFp32;
  MemoryFormat memory_format = MemoryFormat::kContiguous;
  bool cuda_graphs = false;             // one CUDA graph per batch size, captured after warm-up
  std::optional<double> power_limit_w;  // the GPU's power limit for the run (NVML), restored after

  bool is_default() const { return *this == Knobs{}; }
  bool operator==(const Knobs&) const = default;
  // The canonical text: the knobs that differ from the defaults, comma-separated
  // ("precision=bf16,memory_format=channels_last,cuda_graphs,power_limit=250W"); "" for none.
  std::string text() const;
  // A short label for tables: "bf16 channels_last graphs 250W", or "fp32" for the defaults.
  std::string label() const;
  // {precision, memory_format, cuda_graphs, power_limit_w}: every knob, defaults included.
  nlohmann::json to_json() const;
  // Reads to_json's object; a missing key is its default. Throws UserError naming the key.
  static Knobs from_json(const nlohmann::json& j);
  // A record's or profile's backend facts: its `knobs`, and the power limit its `power_limit`
  // facts say was set (a synthetic model's backend has no knobs of its own, only the limit).
  static Knobs from_backend(const nlohmann::json& backend);
};

// Parses text()'s form (also "fp32" alone for the defaults). Throws UserError saying what is
// accepted.
Knobs parse_knobs(std::string_view text);

// Refuses knobs the device cannot take, saying what would be accepted: fp16, CUDA graphs and a
// power limit on the CPU; int8 on a CUDA device (LibTorch's quantized kernels are the CPU's);
// a power limit not from 1 to kMaxPowerLimitW W. A synthetic model (`device` "synthetic") takes
// none but a power limit, set on NVML's device 0 (the GPU its NVML meter reads). `device` is
// cpu, cuda, cuda:N or synthetic.
void check_knobs(const Knobs& knobs, std::string_view device);

}  // namespace greenbatch
