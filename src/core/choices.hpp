#pragma once
// The fixed choices of a run, typed: parsed once where the user gives them (flags, experiment
// files, records), then passed as enums. Each has one table of names, used to parse, to print
// and to tell what is accepted.
#include <array>
#include <string>
#include <string_view>
#include <utility>

namespace greenbatch {

enum class ClockKind { kReal, kVirtual };
enum class Preprocess { kCached, kPerRequest };  // decode and transform once, or per request
enum class HostMemory { kCached, kSystem };      // LibTorch's freed host memory kept, or glibc's defaults
enum class SweepOrder { kGrid, kRandom };
// A sweep's path to the model: in this process (run), through a greenbatch serve the sweep starts
// per model and policy, driven by load (serve); a server already running is a `target`.
enum class SweepMode { kRun, kServe };

template <typename E>
struct ChoiceNames;  // static constexpr std::array<std::pair<E, std::string_view>, N> names
template <>
struct ChoiceNames<ClockKind> {
  static constexpr std::array<std::pair<ClockKind, std::string_view>, 2> names = {
      {{ClockKind::kReal, "real"}, {ClockKind::kVirtual, "virtual"}}};
};
template <>
struct ChoiceNames<Preprocess> {
  static constexpr std::array<std::pair<Preprocess, std::string_view>, 2> names = {
      {{Preprocess::kCached, "cached"}, {Preprocess::kPerRequest, "per-request"}}};
};
template <>
struct ChoiceNames<HostMemory> {
  static constexpr std::array<std::pair<HostMemory, std::string_view>, 2> names = {
      {{HostMemory::kCached, "cached"}, {HostMemory::kSystem, "system"}}};
};
template <>
struct ChoiceNames<SweepMode> {
  static constexpr std::array<std::pair<SweepMode, std::string_view>, 2> names = {
      {{SweepMode::kRun, "run"}, {SweepMode::kServe, "serve"}}};
};
template <>
struct ChoiceNames<SweepOrder> {
  static constexpr std::array<std::pair<SweepOrder, std::string_view>, 2> names = {
      {{SweepOrder::kGrid, "grid"}, {SweepOrder::kRandom, "random"}}};
};

// The name of a choice ("per-request").
template <typename E>
constexpr std::string_view name_of(E value) {
  for (const auto& [v, name] : ChoiceNames<E>::names) {
    if (v == value) return name;
  }
  return "?";
}

// "cached, per-request": what is accepted.
template <typename E>
std::string accepted_names() {
  std::string out;
  for (const auto& [v, name] : ChoiceNames<E>::names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

// Throws UserError: "WHAT 'TEXT': accepted: a, b".
[[noreturn]] void bad_choice(std::string_view what, std::string_view text, const std::string& accepted);

template <typename E>
E parse_choice(std::string_view text, std::string_view what) {
  for (const auto& [v, name] : ChoiceNames<E>::names) {
    if (name == text) return v;
  }
  bad_choice(what, text, accepted_names<E>());
}

}  // namespace greenbatch
