#include "backends/torchscript/torchscript_backend.hpp"

#include <ATen/Parallel.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#ifdef GREENBATCH_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <thread>
#include <filesystem>
#include <fstream>

#include "backends/prepare_pool.hpp"
#include "image/jpeg.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"
#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"

namespace greenbatch {

namespace fs = std::filesystem;

namespace {

// One line saying what went wrong: LibTorch errors carry a C++ backtrace after their first
// line; errors raised inside a TorchScript model end with the Python-level exception.
std::string short_error(const std::exception& e) {
  const auto* c10e = dynamic_cast<const c10::Error*>(&e);
  std::string msg = c10e ? c10e->what_without_backtrace() : e.what();
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < msg.size();) {
    std::size_t nl = msg.find('\n', start);
    if (nl == std::string::npos) nl = msg.size();
    if (msg.find_first_not_of(" \t", start) < nl) lines.push_back(msg.substr(start, nl - start));
    start = nl + 1;
  }
  if (lines.empty()) return msg;
  if (msg.find("Traceback of TorchScript") != std::string::npos) return lines.back();
  return lines.front();
}

// Whether this process keeps the host memory it frees (TorchScriptOptions::host_memory).
bool g_host_memory_cached = false;

void apply_host_memory(HostMemory mode) {
  if (mode == HostMemory::kSystem) {
    if (g_host_memory_cached) {
      throw UserError("--host-memory system: this process already keeps the memory it frees (cached, for an earlier "
                      "model); run system and cached in separate processes");
    }
    return;
  }
  if (g_host_memory_cached) return;
#ifdef __GLIBC__
  // No block is mapped on its own (so none is unmapped when freed), the heap's top is never
  // trimmed, and it grows 64 MiB at a time: after the first batches, a batch's tensors reuse
  // memory the process already touched.
  const bool ok = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max()) == 1 &&
                  mallopt(M_TOP_PAD, 64 << 20) == 1;
  if (!ok) throw UserError("--host-memory cached: the C library refused the settings (mallopt); use --host-memory system");
  g_host_memory_cached = true;
#else
  throw UserError("--host-memory cached: needs glibc's malloc; use --host-memory system");
#endif
}

torch::Device parse_device(const std::string& spec) {
  constexpr std::string_view kAccepted = "cpu, cuda, cuda:N";
  if (spec == "cpu") return torch::Device(torch::kCPU);
  if (spec != "cuda" && spec.rfind("cuda:", 0) != 0) {
    throw UserError(fmt::format("--device '{}': unknown device; accepted: {}", spec, kAccepted));
  }
  const long long index = spec == "cuda" ? 0 : parse_integer(spec.substr(5), fmt::format("--device '{}'", spec));
  if (!torch::cuda::is_available()) {
    throw UserError(fmt::format(
        "--device '{}': CUDA is not available: {}; use --device cpu", spec,
#ifdef GREENBATCH_TORCH_CUDA
        "no CUDA device is visible"
#else
        "this LibTorch build has no CUDA (Debian's libtorch is CPU-only; build against a CUDA LibTorch such as a "
        "torch wheel's)"
#endif
        ));
  }
  const auto count = static_cast<long long>(torch::cuda::device_count());
  if (index < 0 || index >= count) {
    throw UserError(fmt::format("--device '{}': there are {} CUDA devices (cuda:0 to cuda:{})", spec, count, count - 1));
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
}

// The cores this process may run on (its CPU affinity), at least 1. Some LibTorch builds
// (Debian's) default to one thread; greenbatch uses the whole machine unless told otherwise.
int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// The CUDA device's UUID in NVML's form ("GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"), so that
// the energy meter reads the same GPU whatever CUDA_VISIBLE_DEVICES did to the indices.
std::string cuda_device_uuid(int index) {
#ifdef GREENBATCH_TORCH_CUDA
  const auto* p = at::cuda::getDeviceProperties(index);
  const auto* b = reinterpret_cast<const unsigned char*>(p->uuid.bytes);
  std::string hex;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) hex += '-';
    hex += fmt::format("{:02x}", b[i]);
  }
  return "GPU-" + hex;
#else
  (void)index;
  return "";
#endif
}

std::string cuda_device_name(int index) {
#ifdef GREENBATCH_TORCH_CUDA
  return at::cuda::getDeviceProperties(index)->name;
#else
  (void)index;
  return "unknown";
#endif
}

// models_dir/NAME.pt for a bare name, else the path itself.
std::string resolve_model_path(const TorchScriptOptions& o) {
  const bool is_path = is_model_path(o.model);
  const std::string path = is_path ? o.model : (fs::path(o.models_dir) / (o.model + ".pt")).string();
  if (!fs::exists(path)) {
    if (is_path) throw UserError(fmt::format("--model '{}': no such file", o.model));
    throw UserError(fmt::format(
        "--model '{}': {} not found; export it with `/usr/bin/python3 scripts/export_models.py {}` (any Python with "
        "torch and torchvision), give --models-dir, or give the path of a TorchScript file",
        o.model, path, o.model));
  }
  if (fs::is_directory(path)) throw UserError(fmt::format("--model '{}': {} is a folder, not a TorchScript file", o.model, path));
  return path;
}

class TorchScriptBackend final : public Backend {
 public:
  explicit TorchScriptBackend(const TorchScriptOptions& o) : options_(o), device_(parse_device(o.device)) {
    if (o.threads < 0) throw UserError("--threads: must be 0 (every core this process may use) or more");
    apply_host_memory(o.host_memory);
    const int intra_op_threads = o.threads > 0 ? o.threads : usable_cores();
    at::set_num_threads(intra_op_threads);
    path_ = resolve_model_path(o);
    name_ = recorded_model_name(o.model);
    torch::jit::setGraphExecutorOptimize(o.optimize);
    try {
      module_ = torch::jit::load(path_, device_);
    } catch (const std::exception& e) {
      throw UserError(fmt::format("--model '{}': {} is not a TorchScript file LibTorch {} can load ({})", o.model, path_,
                                  TORCH_VERSION, short_error(e)));
    }
    module_.eval();
    load_sidecar();
    load_images();
    // The model must take what the study feeds it: a batch of 3x224x224 images. Checked on one
    // intra-op thread: a parallel region here would give the loading thread an OpenMP team of
    // its own, and when another thread runs the batches (a server's inference thread) libgomp,
    // counting both teams' threads against the cores, stops spinning at its barriers and
    // sleeps and wakes through the kernel at every parallel region (a served batch of
    // ShuffleNetV2 on two vCPUs took 64 ms instead of 35 ms).
    at::set_num_threads(1);
    try {
      forward(consecutive_requests(0, 1));
    } catch (const std::exception& e) {
      at::set_num_threads(intra_op_threads);
      throw UserError(fmt::format("--model '{}': the model rejects a 1x3x224x224 input: {}", o.model, short_error(e)));
    }
    at::set_num_threads(intra_op_threads);
  }

  void run(std::span<const Request> batch) override {
    at_batch_size(batch.size(), [&] { forward(batch); });
  }

  void run_outputs(std::span<const Request> batch, BatchOutput& out) override {
    at_batch_size(batch.size(), [&] {
      const torch::jit::IValue y = forward(batch);
      if (!y.isTensor()) throw std::runtime_error(fmt::format("the model's output is a {}, not a tensor", y.tagKind()));
      const torch::Tensor t = y.toTensor().to(torch::kCPU, torch::kFloat32).contiguous();
      if (t.dim() < 1 || t.size(0) != static_cast<std::int64_t>(batch.size())) {
        throw std::runtime_error(fmt::format("the model's output has shape {}, not one row per request", fmt::join(t.sizes(), "x")));
      }
      out.width = batch.empty() ? 0 : static_cast<std::size_t>(t.numel()) / batch.size();
      out.values.assign(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
    });
  }

  void start_requests() override {
    if (pool_) pool_->reset();
  }
  void arrived(const Request& request) override {
    if (pool_) pool_->arrived(request);
  }
  std::vector<TimeNs> prepare_times() const override { return pool_ ? pool_->durations() : std::vector<TimeNs>{}; }

  void warmup(std::size_t batches, std::size_t batch_size) override {
    if (pool_) pool_->reset();
    for (std::size_t b = 0; b < batches; ++b) {
      try {
        forward(consecutive_requests(b * batch_size, batch_size));
      } catch (const std::exception& e) {
        throw UserError(fmt::format("warm-up failed at batch size {} (batch {} of {}): {}; choose a smaller "
                                    "--warmup-batch-size",
                                    batch_size, b + 1, batches, short_error(e)));
      }
    }
  }

  std::string model() const override { return name_; }
  std::string device() const override { return device_.str(); }
  bool follows_clock() const override { return false; }

  nlohmann::json facts() const override {
    nlohmann::json f = torch_runtime_info();
    f["backend"] = "torchscript";
    f["model_path"] = path_;
    f["threads"] = at::get_num_threads();
    f["cpu_model"] = cpu_model();
    f["graph_optimize"] = options_.optimize;
    f["preprocess"] = name_of(options_.preprocess);
    if (pool_) {
      f["preprocess_threads"] = pool_->threads();
      f["preprocess_ahead"] = pool_->capacity();
    }
    f["host_memory"] = name_of(g_host_memory_cached ? HostMemory::kCached : HostMemory::kSystem);
    f["images"] = image_names_;
    if (device_.is_cuda()) {
      f["device_name"] = cuda_device_name(device_.index());
      const std::string uuid = cuda_device_uuid(device_.index());
      if (!uuid.empty()) f["device_uuid"] = uuid;
    }
    f["model_info"] = sidecar_;
    return f;
  }

 private:
  // Runs `f` (a batch); its error, if any, is rethrown in one line naming the batch size.
  template <typename F>
  static void at_batch_size(std::size_t size, F&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      throw std::runtime_error(fmt::format("{} at batch size {}", short_error(e), size));
    }
  }

  void load_sidecar() {
    const fs::path side = fs::path(path_).replace_extension(".json");
    sidecar_ = nullptr;
    if (!fs::exists(side)) return;
    try {
      std::ifstream in(side);
      sidecar_ = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("model sidecar {}: not valid JSON ({})", side.string(), e.what()));
    }
  }

  void load_images() {
    std::vector<fs::path> files;
    if (fs::is_directory(options_.images_dir)) {
      for (const auto& entry : fs::directory_iterator(options_.images_dir)) {
        auto ext = entry.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
        if (entry.is_regular_file() && (ext == ".jpg" || ext == ".jpeg")) files.push_back(entry.path());
      }
    }
    if (files.empty()) {
      throw UserError(fmt::format("--images '{}': no JPEG images found (the repository ships three in data/images)",
                                  options_.images_dir));
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) {
      image_names_.push_back(f.filename().string());
      jpegs_.push_back(read_file_bytes(f.string()));
      cached_.emplace_back(preprocessor_.crop_bytes());
      preprocessor_.jpeg_to_crop(jpegs_.back(), f.string(), cached_.back().data());
    }
    if (options_.preprocess == Preprocess::kPerRequest) {
      const int threads = options_.preprocess_threads >= 0 ? options_.preprocess_threads
                          : device_.is_cuda()              ? std::clamp(usable_cores() / 2, 2, 8)
                                                           : std::max(2, usable_cores() / 4);
      // Up to 1024 requests prepared ahead of their batch (147 MiB of 224 x 224 x 3 bytes).
      pool_ = std::make_unique<PreparePool>(
          [this](const Request& r, std::uint8_t* out) {
            const std::size_t i = r.input % jpegs_.size();
            preprocessor_.jpeg_to_crop(jpegs_[i], image_names_[i], out);
          },
          preprocessor_.crop_bytes(), threads, 1024);
    }
  }

  // Runs one batch: each request's image (input mod the number of images), prepared per request
  // (the pool) or once (cached), normalised into the batch's input tensor.
  torch::jit::IValue forward(std::span<const Request> batch) {
    c10::InferenceMode guard;
    // The graph executor's optimisation switch is thread-local in LibTorch: a batch run on
    // another thread than the one that loaded the model (a server's inference thread) would
    // otherwise run with LibTorch's default (on), not --graph-optimize's choice.
    torch::jit::setGraphExecutorOptimize(options_.optimize);
    const int crop = preprocessor_.crop();
    const std::size_t plane = static_cast<std::size_t>(crop) * crop;
    // For a GPU, the batch is assembled in pinned host memory (LibTorch's caching host allocator
    // keeps it) and copied without blocking, ordered before the forward pass on the same stream.
    torch::Tensor x = torch::empty({static_cast<std::int64_t>(batch.size()), 3, crop, crop},
                                   torch::TensorOptions().dtype(torch::kFloat32).pinned_memory(device_.is_cuda()));
    float* dst = x.data_ptr<float>();
    const Normalizer& normalize = imagenet_normalizer();
    if (!batch.empty() && batch.front().data != nullptr) {
      // A front end's requests (a server's): each brings its image, prepared.
      for (std::size_t k = 0; k < batch.size(); ++k) {
        const auto* p = static_cast<const Payload*>(batch[k].data);
        if (p == nullptr) throw std::logic_error("a batch mixes requests with and without a payload");
        if (p->kind == Payload::Kind::kTensor) {
          std::memcpy(dst + k * 3 * plane, p->tensor, 3 * plane * sizeof(float));
        } else {
          normalize(p->pixels, plane, dst + k * 3 * plane);
        }
      }
    } else if (pool_) {
      pool_->collect(batch, [&](std::size_t k, const std::uint8_t* crop_bytes) {
        normalize(crop_bytes, plane, dst + k * 3 * plane);
      });
    } else {
      for (std::size_t k = 0; k < batch.size(); ++k) {
        normalize(cached_[batch[k].input % cached_.size()].data(), plane, dst + k * 3 * plane);
      }
    }
    if (device_.is_cuda()) x = x.to(device_, /*non_blocking=*/true);
    torch::jit::IValue out = module_.forward({x});
    // Outputs are complete only once the device has finished.
    if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
    return out;
  }

  TorchScriptOptions options_;
  torch::Device device_;
  std::string path_, name_;
  torch::jit::script::Module module_;
  nlohmann::json sidecar_;
  ImagePreprocessor preprocessor_;
  std::vector<std::string> image_names_;
  std::vector<std::vector<std::uint8_t>> jpegs_;
  std::vector<std::vector<std::uint8_t>> cached_;  // each image resized and cropped once
  std::unique_ptr<PreparePool> pool_;              // per-request preprocessing (none: cached)
};

}  // namespace

bool is_torchscript_model(const std::string& model) { return split_spec(model).first != "synthetic"; }

std::unique_ptr<Backend> make_torchscript_backend(const TorchScriptOptions& options) {
  return std::make_unique<TorchScriptBackend>(options);
}

nlohmann::json torch_runtime_info() {
  nlohmann::json j;
  j["libtorch_version"] = TORCH_VERSION;
  j["cuda_available"] = torch::cuda::is_available();
  j["cuda_version"] = nullptr;
  j["cudnn_version"] = nullptr;
#ifdef GREENBATCH_TORCH_CUDA
  j["cuda_build"] = true;
  const auto& hooks = at::detail::getCUDAHooks();
  if (torch::cuda::is_available()) {
    const long rt = hooks.versionCUDART();
    j["cuda_version"] = fmt::format("{}.{}", rt / 1000, (rt % 1000) / 10);
    if (torch::cuda::cudnn_is_available()) j["cudnn_version"] = hooks.versionCuDNN();
  }
#else
  j["cuda_build"] = false;
#endif
  nlohmann::json devices = nlohmann::json::array();
  if (torch::cuda::is_available()) {
    for (std::size_t i = 0; i < static_cast<std::size_t>(torch::cuda::device_count()); ++i) {
      devices.push_back({{"index", i}, {"name", cuda_device_name(static_cast<int>(i))}});
    }
  }
  j["cuda_devices"] = devices;
  j["default_threads"] = at::get_num_threads();
  // The CPU's numeric path: the BLAS behind matrix products (and convolutions oneDNN does not
  // take), and oneDNN, which LibTorch uses for most convolutions when built with it and enabled.
  const BlasInfo blas = loaded_blas();
  j["blas"] = {{"name", blas.name}, {"library", blas.library}};
  j["blas"]["threads"] = blas.threads ? nlohmann::json(*blas.threads) : nlohmann::json(nullptr);
  if (!blas.config.empty()) j["blas"]["config"] = blas.config;
  j["onednn"] = {{"built", at::hasMKLDNN()}, {"enabled", at::globalContext().userEnabledMkldnn()}};
  return j;
}

}  // namespace greenbatch
