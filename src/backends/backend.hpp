#pragma once
// The system under test: runs one batch and returns only when its outputs are complete.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "core/records.hpp"
#include "core/time.hpp"

namespace greenbatch {

// A front end's payload for one request (what Request::data points to): its image already
// prepared, as the crop's pixels (crop x crop x 3 bytes, RGB, as image/preprocess.hpp gives them)
// or as the model's input (3 x crop x crop floats, normalised). The front end checked its size
// and keeps it alive until the request's batch is done.
struct Payload {
  enum class Kind { kPixels, kTensor };
  Kind kind = Kind::kPixels;
  const std::uint8_t* pixels = nullptr;  // kPixels
  const float* tensor = nullptr;         // kTensor
};

// What a batch gives back when its caller asks (a server answers with it): one row of `width`
// values per request, in the batch's order.
struct BatchOutput {
  std::size_t width = 0;      // values per request (a classifier's logits: its classes); 0: none
  std::vector<float> values;  // batch size x width, row-major
};

class Backend {
 public:
  virtual ~Backend() = default;
  // Runs the requests as one batch (their inputs: Request::input, or Request::data where a front
  // end supplies the payload itself).
  virtual void run(std::span<const Request> batch) = 0;
  // The same, keeping each request's output (the network's logits). A backend whose batches
  // compute nothing to give back (synthetic, profile) gives none: width 0.
  virtual void run_outputs(std::span<const Request> batch, BatchOutput& out) {
    run(batch);
    out.width = 0;
    out.values.clear();
  }
  // Requests reach a backend twice: when they arrive (arrived(), in arrival order, before they
  // are queued) and when their batch runs (run()). A backend that prepares its inputs per
  // request (decoding images) does it in between, off the batch's critical path. A run starts
  // with start_requests() (request ids start again at 0). These do nothing by default.
  virtual void start_requests() {}
  virtual void arrived(const Request& /*request*/) {}
  // Time spent preparing each request of the current run, indexed by id (ns; 0: not prepared);
  // empty for a backend that prepares nothing per request.
  virtual std::vector<TimeNs> prepare_times() const { return {}; }
  // The model as the user named it, in canonical form (for records).
  virtual std::string model() const = 0;
  // Where it runs: "synthetic", "cpu", "cuda:0".
  virtual std::string device() const = 0;
  // True when its service time follows the engine's clock (so a virtual clock is allowed).
  virtual bool follows_clock() const = 0;
  // Runs `batches` batches of `batch_size` before measuring (start-up, caches, kernels).
  virtual void warmup(std::size_t /*batches*/, std::size_t /*batch_size*/) {}
  // Self-description for the run record: versions, device, threads, model facts.
  virtual nlohmann::json facts() const { return nlohmann::json::object(); }
};

// The name a model file is recorded under: a path (with a '/' or ending in .pt) by its file's
// stem, a bare name (models/NAME.pt) as given. The TorchScript backend's model() and the run
// record's canonical model both use it.
// True when `model` is a path to a model file (with a '/' or ending in .pt), not a name to look up
// in the models folder.
inline bool is_model_path(const std::string& model) { return model.find('/') != std::string::npos || model.ends_with(".pt"); }

inline std::string recorded_model_name(const std::string& model) {
  if (!is_model_path(model)) return model;
  return std::filesystem::path(model).stem().string();
}

}  // namespace greenbatch
