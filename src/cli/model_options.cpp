// The flags that name a model and its backend, and the energy meter: run and serve mean the
// same by them.
#include "cli/commands.hpp"
#include "cli/numbers.hpp"
#include "batching/policy.hpp"
#include "core/units.hpp"
#include "engine/execute.hpp"

namespace greenbatch::cli {

void add_model_options(CLI::App* sub, RunSpec& spec) {
  sub->add_option("--model", spec.model,
                  "Model: NAME (models/NAME.pt, see scripts/export_models.py), PATH.pt (any TorchScript file), "
                  "synthetic (null backend) or synthetic:base=D,per_item=D (service time = base + per_item x batch "
                  "size)")
      ->capture_default_str();
  sub->add_option("--device", spec.device, "Where a real network runs: cpu, cuda, cuda:N")->capture_default_str();
  add_whole(sub, "--threads", spec.threads, "CPU intra-op threads for LibTorch (0: every core this process may use)",
            0, limits::kMaxThreads);
  sub->add_flag("--graph-optimize", spec.graph_optimize,
                "Turn TorchScript's graph-executor optimisation on (off by default: on a GPU its profiling runs "
                "can stall the first batches for minutes)");
  add_choice(sub, "--preprocess", spec.preprocess,
             "cached: decode and transform the images once, measure the network alone; per-request: decode "
             "and transform every request in the serving path, as the study did");
  add_preprocess_threads(sub, spec.preprocess_threads);
  add_choice(sub, "--host-memory", spec.host_memory,
             "cached: host memory LibTorch frees stays in the process for the next batch, as a caching "
             "allocator keeps it; system: glibc's defaults, where each batch's large tensors are mapped anew "
             "and pay the kernel's page faults");
  sub->add_option("--models-dir", spec.models_dir, "Where --model NAME is looked up")->capture_default_str();
  sub->add_option("--images", spec.images_dir, "Folder of JPEG images cycled through by the requests")
      ->capture_default_str();
  add_whole(sub, "--warmup-batches", spec.warmup_batches, "Batches run before measuring (real networks)", 0,
            limits::kMaxWarmupBatches);
  add_whole(sub, "--warmup-batch-size", spec.warmup_batch_size, "Size of the warm-up batches", 0, kMaxPolicyBatch);
  add_knob_options(sub, spec.knobs);
}

void add_knob_options(CLI::App* sub, Knobs& knobs) {
  add_choice(sub, "--precision", knobs.precision,
             "fp32 (as exported); bf16 or fp16 under LibTorch's autocast (fp16 on CUDA only); int8: the model's "
             "dynamically quantized export, NAME.int8.pt (scripts/export_models.py --int8; CPU only). Runs other "
             "than fp32 record their agreement with fp32 on the shipped images");
  add_choice(sub, "--memory-format", knobs.memory_format,
             "contiguous, or channels_last (the convolution weights and every batch in NHWC order)");
  sub->add_flag("--cuda-graphs", knobs.cuda_graphs,
                "Run each batch size through a CUDA graph captured at its first batch (CUDA devices, CUDA builds)");
  sub->add_option_function<double>(
         "--power-limit", [&knobs](double w) { knobs.power_limit_w = w; },
         "Set the GPU's power limit to W watts through NVML for the run, restored afterwards (needs root)")
      ->type_name("W");
}

void add_meter_options(CLI::App* sub, RunSpec& spec, std::string& idle_window) {
  sub->add_option("--meter", spec.meter,
                  "Energy meter: auto (NVML on a CUDA device, RAPL on the CPU where readable, else on the CPU the "
                  "estimate, saying so), nvml (the GPU's energy counter), nvml-sampled (power sampled every 10 ms, "
                  "the study's method), rapl, estimate[:tdp=W,idle=W,threads=N] (from CPU time: estimated, not "
                  "measured), modelled:idle=P,busy=P, none; nvml and rapl take :period=D")
      ->capture_default_str();
  sub->add_option("--carbon-intensity", spec.carbon_intensity,
                  "The grid's carbon intensity: gCO2e per kWh (e.g. 350), or a CSV file of time,intensity rows (a "
                  "grid operator's export), averaged over the run's window; the record gets grams of CO2e");
  sub->add_option("--idle-window", idle_window, "How long idle power is measured before the run (0s: not at all)")
      ->capture_default_str();
}

}  // namespace greenbatch::cli
