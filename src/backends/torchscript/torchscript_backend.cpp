#include "backends/torchscript/torchscript_backend.hpp"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <fmt/format.h>
#include <torch/cuda.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>

#ifdef GREENBATCH_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <thread>
#include <filesystem>
#include <fstream>
#include <map>

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

// The int8 export beside a model file: NAME.pt -> NAME.int8.pt.
std::string int8_path(const std::string& fp32_path, const std::string& model) {
  const fs::path p(fp32_path);
  const std::string path = (p.parent_path() / (p.stem().string() + ".int8.pt")).string();
  if (!fs::exists(path)) {
    throw UserError(fmt::format(
        "--precision int8: {} not found; export it with `/usr/bin/python3 scripts/export_models.py --int8 {}` (a "
        "model with no Linear layer has no int8 export: its convolutions stay fp32 under dynamic quantization)",
        path, recorded_model_name(model)));
  }
  return path;
}

// Chooses the quantized engine int8 weights are packed for, as scripts/export_models.py does:
// the first of FBGEMM, oneDNN, QNNPACK this LibTorch has.
std::string choose_quantized_engine() {
  const auto& supported = at::globalContext().supportedQEngines();
  for (const auto& [engine, name] : {std::pair{at::QEngine::FBGEMM, "fbgemm"}, std::pair{at::QEngine::ONEDNN, "onednn"},
                                    std::pair{at::QEngine::QNNPACK, "qnnpack"}}) {
    if (std::find(supported.begin(), supported.end(), engine) != supported.end()) {
      at::globalContext().setQEngine(engine);
      return name;
    }
  }
  throw UserError("--precision int8: this LibTorch has no quantized engine (FBGEMM, oneDNN or QNNPACK)");
}

// Autocast's state for one device type. LibTorch 2.4 made the calls device-generic and turned
// the old per-device ones into wrappers that warn at every call (every batch, here), so the
// generic ones are used wherever they exist.
namespace autocast_state {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void set_enabled(bool cuda, bool on) { at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on); }
at::ScalarType dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
void set_dtype(bool cuda, at::ScalarType t) { at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t); }
#else
bool enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_enabled(bool cuda, bool on) { cuda ? at::autocast::set_enabled(on) : at::autocast::set_cpu_enabled(on); }
at::ScalarType dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_dtype(bool cuda, at::ScalarType t) {
  cuda ? at::autocast::set_autocast_gpu_dtype(t) : at::autocast::set_autocast_cpu_dtype(t);
}
#endif
}  // namespace autocast_state

// LibTorch's autocast for the calling thread while it lives (bf16 or fp16 compute where autocast
// casts: convolutions and matrix products; reductions stay fp32). Autocast's state is
// thread-local: set at every batch, on whichever thread runs it.
class AutocastScope {
 public:
  AutocastScope(Precision p, bool cuda, bool cache) : cuda_(cuda) {
    on_ = p == Precision::kBf16 || p == Precision::kFp16;
    if (!on_) return;
    was_enabled_ = autocast_state::enabled(cuda);
    was_type_ = autocast_state::dtype(cuda);
    was_cache_ = at::autocast::is_autocast_cache_enabled();
    autocast_state::set_enabled(cuda, true);
    autocast_state::set_dtype(cuda, p == Precision::kBf16 ? at::kBFloat16 : at::kHalf);
    at::autocast::set_autocast_cache_enabled(cache);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_cache_enabled(was_cache_);
    autocast_state::set_enabled(cuda_, was_enabled_);
    autocast_state::set_dtype(cuda_, was_type_);
  }
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool on_ = false, cuda_ = false, was_enabled_ = false, was_cache_ = true;
  at::ScalarType was_type_ = at::kFloat;
};

class TorchScriptBackend final : public Backend {
 public:
  explicit TorchScriptBackend(const TorchScriptOptions& o) : options_(o), device_(parse_device(o.device)) {
    if (o.threads < 0) throw UserError("--threads: must be 0 (every core this process may use) or more");
    apply_host_memory(o.host_memory);
    const int intra_op_threads = o.threads > 0 ? o.threads : usable_cores();
    at::set_num_threads(intra_op_threads);
    check_knobs(o.knobs, o.device);
    path_ = resolve_model_path(o);
    name_ = recorded_model_name(o.model);
    torch::jit::setGraphExecutorOptimize(o.optimize);
    module_ = load_module(path_);
    load_sidecar();
    load_images();
    // The knobs: the fp32 outputs on the shipped images first (the agreement's reference), then
    // the model as the knobs make it.
    const bool numeric_knobs = o.knobs.precision != Precision::kFp32 ||
                               o.knobs.memory_format != MemoryFormat::kContiguous || o.knobs.cuda_graphs;
    torch::Tensor reference;
    if (numeric_knobs) {
      at::set_num_threads(1);  // as for the input check below
      reference = outputs_of_images(/*with_knobs=*/false);
      at::set_num_threads(intra_op_threads);
    }
    if (o.knobs.precision == Precision::kInt8) {
      quantized_engine_ = choose_quantized_engine();
      fp32_path_ = path_;
      path_ = int8_path(path_, o.model);
      module_ = load_module(path_);
    }
    if (o.knobs.memory_format == MemoryFormat::kChannelsLast) to_channels_last();
    // The model must take what the study feeds it: a batch of 3x224x224 images. Checked on one
    // intra-op thread: a parallel region here would give the loading thread an OpenMP team of
    // its own, and when another thread runs the batches (a server's inference thread) libgomp,
    // counting both teams' threads against the cores, stops spinning at its barriers and
    // sleeps and wakes through the kernel at every parallel region (a served batch of
    // ShuffleNetV2 on two vCPUs took 64 ms instead of 35 ms).
    at::set_num_threads(1);
    try {
      forward(consecutive_requests(0, 1), /*graphs=*/false);
    } catch (const std::exception& e) {
      at::set_num_threads(intra_op_threads);
      if (!numeric_knobs) {
        throw UserError(fmt::format("--model '{}': the model rejects a 1x3x224x224 input: {}", o.model, short_error(e)));
      }
      throw UserError(fmt::format("--model '{}' cannot run with {}: {}", o.model, o.knobs.text(), short_error(e)));
    }
    if (numeric_knobs) {
      try {
        agreement_ = agreement(reference, outputs_of_images(/*with_knobs=*/true));
      } catch (const std::exception& e) {
        at::set_num_threads(intra_op_threads);
        throw UserError(fmt::format("--model '{}' cannot run with {}: {}", o.model, o.knobs.text(), short_error(e)));
      }
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
    f["knobs"] = options_.knobs.to_json();
    if (!quantized_engine_.empty()) {
      f["quantized_engine"] = quantized_engine_;
      f["fp32_model_path"] = fp32_path_;
    }
    if (!agreement_.is_null()) f["agreement"] = agreement_;
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

  torch::jit::script::Module load_module(const std::string& path) const {
    torch::jit::script::Module m;
    try {
      m = torch::jit::load(path, device_);
    } catch (const std::exception& e) {
      throw UserError(fmt::format("--model '{}': {} is not a TorchScript file LibTorch {} can load ({})", options_.model,
                                  path, TORCH_VERSION, short_error(e)));
    }
    m.eval();
    return m;
  }

  // The 4-D weights (convolutions') in channels-last order; every batch follows (forward()).
  void to_channels_last() {
    c10::InferenceMode guard;
    for (torch::Tensor p : module_.parameters(/*recurse=*/true)) {
      if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
    }
  }

  // The model's outputs (float32, on the CPU) for each shipped image, one batch of them, as
  // exported (fp32, contiguous) or with the knobs.
  torch::Tensor outputs_of_images(bool with_knobs) {
    const auto requests = consecutive_requests(0, cached_.size());
    torch::jit::IValue y;
    if (with_knobs) {
      y = forward(requests, /*graphs=*/false);
    } else {
      c10::InferenceMode guard;
      y = module_.forward({input_batch(requests).to(device_)});
    }
    if (!y.isTensor()) throw std::runtime_error(fmt::format("the model's output is a {}, not a tensor", y.tagKind()));
    return y.toTensor().to(torch::kCPU, torch::kFloat32).reshape({static_cast<std::int64_t>(requests.size()), -1});
  }

  // How far the knobs' outputs are from fp32's on the shipped images: the largest absolute
  // difference of a logit, and the share of images whose top-1 class is the same.
  nlohmann::json agreement(const torch::Tensor& want, const torch::Tensor& got) const {
    const auto n = want.size(0);
    const double max_diff = (got - want).abs().max().item<double>();
    const auto same = (got.argmax(1) == want.argmax(1)).sum().item<std::int64_t>();
    return {{"reference", "fp32 contiguous, on the shipped images"},
            {"images", n},
            {"max_abs_logit_diff", max_diff},
            {"max_abs_logit", want.abs().max().item<double>()},
            {"top1_same", same},
            {"top1_agreement", n > 0 ? static_cast<double>(same) / static_cast<double>(n) : 1.0}};
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

  // Runs one batch with the knobs: its input (input_batch()) in the memory format, under the
  // precision's autocast, through the batch size's CUDA graph (with `graphs` and --cuda-graphs).
  torch::jit::IValue forward(std::span<const Request> batch, bool graphs = true) {
    c10::InferenceMode guard;
    // The graph executor's optimisation switch is thread-local in LibTorch: a batch run on
    // another thread than the one that loaded the model (a server's inference thread) would
    // otherwise run with LibTorch's default (on), not --graph-optimize's choice.
    torch::jit::setGraphExecutorOptimize(options_.optimize);
    torch::Tensor x = input_batch(batch);
    const Knobs& k = options_.knobs;
    if (k.memory_format == MemoryFormat::kChannelsLast) x = x.contiguous(at::MemoryFormat::ChannelsLast);
    // A graph's capture keeps no autocast cache (a cached cast would be a tensor of the capture).
    AutocastScope autocast(k.precision, device_.is_cuda(), /*cache=*/!k.cuda_graphs);
#ifdef GREENBATCH_TORCH_CUDA
    if (graphs && k.cuda_graphs && device_.is_cuda()) return graphed(x);
#else
    (void)graphs;
#endif
    if (device_.is_cuda()) x = x.to(device_, /*non_blocking=*/true);
    torch::jit::IValue out = module_.forward({x});
    // Outputs are complete only once the device has finished.
    if (device_.is_cuda()) torch::cuda::synchronize(device_.index());
    return out;
  }

#ifdef GREENBATCH_TORCH_CUDA
  // --cuda-graphs: one graph per batch size, captured at the size's first batch (after the
  // warm-up, which runs at its own size: a size first seen in the run pays its capture once).
  // The batch is copied into the graph's static input; its static output is the graph's.
  torch::jit::IValue graphed(const torch::Tensor& host) {
    const auto size = static_cast<std::size_t>(host.size(0));
    auto& g = graphs_[size];
    if (!g) {
      auto made = std::make_unique<CudaGraph>();
      made->input = torch::empty_like(host, host.options().device(device_).pinned_memory(false));
      made->input.copy_(host);
      const c10::cuda::CUDAGuard device_guard(device_.index());
      c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, device_.index());
      {
        const c10::cuda::CUDAStreamGuard stream_guard(side);
        for (int i = 0; i < 3; ++i) module_.forward({made->input});  // as PyTorch's own capture warms up
        side.synchronize();
        made->graph.capture_begin();
        made->output = module_.forward({made->input}).toTensor();
        made->graph.capture_end();
      }
      torch::cuda::synchronize(device_.index());
      g = std::move(made);
    }
    g->input.copy_(host, /*non_blocking=*/true);
    g->graph.replay();
    torch::cuda::synchronize(device_.index());
    return g->output;
  }
  struct CudaGraph {
    at::cuda::CUDAGraph graph;
    torch::Tensor input, output;
  };
  std::map<std::size_t, std::unique_ptr<CudaGraph>> graphs_;
#endif

  // The batch's input tensor, float32 on the host: each request's image (input mod the number
  // of images), prepared per request (the pool) or once (cached), normalised.
  torch::Tensor input_batch(std::span<const Request> batch) {
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
    return x;
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
  std::string quantized_engine_, fp32_path_;       // --precision int8: the engine, the fp32 model
  nlohmann::json agreement_;                       // the knobs against fp32 on the images (null: fp32)
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
