#pragma once
// The real-network backend: a TorchScript model run through LibTorch on the CPU or a CUDA
// device. This header exposes no LibTorch type, so the rest of greenbatch builds without it.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/choices.hpp"
#include "core/knobs.hpp"

#include "backends/backend.hpp"

namespace greenbatch {

struct TorchScriptOptions {
  std::string model;                 // a name (models_dir/NAME.pt) or a path to a .pt file
  std::string models_dir = "models";
  std::string device = "cpu";        // cpu, cuda, cuda:N
  int threads = 0;                   // CPU intra-op threads; 0 = every core this process may use
  bool optimize = false;             // TorchScript graph-executor optimisation
  Preprocess preprocess = Preprocess::kCached;  // decode once, or per request (in the serving path)
  // Per request: worker threads that decode and transform each request as it arrives, off the
  // batch's critical path. -1: chosen from the cores (a quarter of them for a CPU model, which
  // needs the rest; half of them, at most 8, for a GPU model), at least 2 (measured on 2 cores at
  // saturation: 269 images/s with 2 workers, 250 with 1, 237 with none; docs/measurements/
  // preprocess.md). 0: none, each batch prepares its own requests when it runs (on its
  // critical path).
  int preprocess_threads = -1;
  std::string images_dir = "data/images";
  // What becomes of the host memory LibTorch frees (process-wide, set when a model loads).
  // cached: it stays in the process for the next batch (glibc: no mmap for large blocks, no
  // trimming), as a caching allocator (PyTorch's on a GPU, jemalloc or tcmalloc in serving)
  // keeps it. system: glibc's defaults, where each batch's large tensors are mapped and
  // unmapped again and pay the kernel a page fault per 4 KiB page (docs/measurements/
  // host-memory.md: 28 to 44 % of a CPU batch's time from batch 16 up). A process that cached
  // cannot go back.
  HostMemory host_memory = HostMemory::kCached;
  // The numeric path (core/knobs.hpp): precision (bf16 and fp16 under LibTorch's autocast; int8
  // the model's dynamically quantized export, models_dir/NAME.int8.pt), memory format
  // (channels_last: the 4-D weights and every batch), CUDA graphs (a CUDA build only). A model
  // that cannot take them fails to load, saying why. The power limit is the engine's.
  Knobs knobs;
};

// True when `model` names a TorchScript model rather than a synthetic one.
bool is_torchscript_model(const std::string& model);

// Loads and checks the model (it must accept a 1x3x224x224 batch). Throws UserError with what
// was wrong: missing file, not TorchScript, rejected input, unknown device, no CUDA.
std::unique_ptr<Backend> make_torchscript_backend(const TorchScriptOptions& options);

// LibTorch, CUDA and cuDNN versions, CUDA devices, default threads (for `greenbatch info`).
nlohmann::json torch_runtime_info();

}  // namespace greenbatch
