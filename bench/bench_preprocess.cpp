// Per-image cost of the request preprocessing without LibTorch (src/image), one thread, in ms per
// image: decode only; resize + crop only (on an already decoded image); normalize only (224 x 224
// crop bytes -> CHW floats); and the whole per-request path (JPEG bytes -> crop bytes -> floats).
// scripts/bench-preprocess.sh runs it beside Pillow + torchvision on the same files.
// With --benchmark_repetitions, a "min" aggregate is reported beside mean, median and stddev.
// Usage: bench_preprocess [GOOGLE BENCHMARK FLAGS] IMAGE.jpg...
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "image/jpeg.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"
#include "image/resize.hpp"

using namespace greenbatch;

namespace {

// One image's inputs, kept for the whole run.
struct Input {
  std::string name;
  std::vector<std::uint8_t> jpeg;
  RgbImage decoded;
};

void set_counters(benchmark::State& state, const Input& in) {
  state.counters["width"] = in.decoded.width;
  state.counters["height"] = in.decoded.height;
  state.counters["jpeg_bytes"] = static_cast<double>(in.jpeg.size());
}

void bm_decode(benchmark::State& state, const Input* in) {
  RgbImage img;
  for (auto _ : state) {
    decode_jpeg(in->jpeg, in->name, img);
    benchmark::DoNotOptimize(img.pixels.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, *in);
}

void bm_resize_crop(benchmark::State& state, const Input* in) {
  const ResizeCrop plan(in->decoded.width, in->decoded.height);
  ResizeScratch scratch;
  std::vector<std::uint8_t> crop(static_cast<std::size_t>(plan.crop()) * plan.crop() * 3);
  for (auto _ : state) {
    plan(in->decoded.pixels.data(), crop.data(), scratch);
    benchmark::DoNotOptimize(crop.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, *in);
}

void bm_normalize(benchmark::State& state, const Input* in) {
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  pre.rgb_to_crop(in->decoded, crop.data());
  const std::size_t pixels = crop.size() / 3;
  std::vector<float> chw(crop.size());
  const Normalizer& norm = imagenet_normalizer();
  for (auto _ : state) {
    norm(crop.data(), pixels, chw.data());
    benchmark::DoNotOptimize(chw.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, *in);
}

// What a request costs: JPEG bytes -> crop bytes (the plan cached, as a server's is after its
// first image of that size) -> the model's floats.
void bm_total(benchmark::State& state, const Input* in) {
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  const std::size_t pixels = crop.size() / 3;
  std::vector<float> chw(crop.size());
  const Normalizer& norm = imagenet_normalizer();
  for (auto _ : state) {
    pre.jpeg_to_crop(in->jpeg, in->name, crop.data());
    norm(crop.data(), pixels, chw.data());
    benchmark::DoNotOptimize(chw.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, *in);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);  // removes the flags it knows; the rest are images
  if (argc < 2) {
    fmt::print(stderr, "usage: {} [--benchmark_... flags] IMAGE.jpg...\n", argv[0]);
    return 2;
  }
  std::vector<std::unique_ptr<Input>> inputs;
  try {
    for (int i = 1; i < argc; ++i) {
      auto in = std::make_unique<Input>();
      in->name = std::filesystem::path(argv[i]).filename().string();
      in->jpeg = read_file_bytes(argv[i]);
      decode_jpeg(in->jpeg, in->name, in->decoded);
      inputs.push_back(std::move(in));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_preprocess: {}\n", e.what());
    return 2;
  }
  for (const auto& in : inputs) {
    const Input* p = in.get();
    using Fn = void (*)(benchmark::State&, const Input*);
    const std::pair<const char*, Fn> stages[] = {
        {"decode", bm_decode}, {"resize_crop", bm_resize_crop}, {"normalize", bm_normalize}, {"total", bm_total}};
    for (const auto& [stage, fn] : stages) {
      benchmark::RegisterBenchmark(fmt::format("{}/{}", stage, p->name).c_str(), fn, p)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->ComputeStatistics("min", [](const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); });
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
