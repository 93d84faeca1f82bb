#pragma once
// The real-network backend: a TorchScript model run through LibTorch on the CPU or a CUDA
// device. This header exposes no LibTorch type, so the rest of greenbatch builds without it.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "backends/backend.hpp"

namespace greenbatch {

struct TorchScriptOptions {
  std::string model;                 // a name (models_dir/NAME.pt) or a path to a .pt file
  std::string models_dir = "models";
  std::string device = "cpu";        // cpu, cuda, cuda:N
  int threads = 0;                   // CPU intra-op threads; 0 = every core this process may use
  bool optimize = false;             // TorchScript graph-executor optimisation
  std::string preprocess = "cached"; // cached (decode once) or per-request (in the serving path)
  std::string images_dir = "data/images";
};

// True when `model` names a TorchScript model rather than a synthetic one.
bool is_torchscript_model(const std::string& model);

// Loads and checks the model (it must accept a 1x3x224x224 batch). Throws UserError with what
// was wrong: missing file, not TorchScript, rejected input, unknown device, no CUDA.
std::unique_ptr<Backend> make_torchscript_backend(const TorchScriptOptions& options);

// LibTorch, CUDA and cuDNN versions, CUDA devices, default threads (for `greenbatch info`).
nlohmann::json torch_runtime_info();

}  // namespace greenbatch
