// greenbatch info: what this build and this machine offer.
#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "build_info.hpp"
#include "cli/commands.hpp"
#include "core/sysinfo.hpp"
#include "energy/probe.hpp"
#ifdef GREENBATCH_WITH_TORCH
#include "backends/torchscript/torchscript_backend.hpp"
#endif

namespace greenbatch::cli {

namespace {

nlohmann::json collect() {
  nlohmann::json j;
  j["tool_version"] = build::kVersion;
  j["git_rev"] = build::kGitRev;
  j["host"] = hostname();
  j["cpu"] = {{"model", cpu_model()}, {"cores", std::thread::hardware_concurrency()}};
#ifdef GREENBATCH_WITH_TORCH
  j["libtorch"] = torch_runtime_info();
#else
  j["libtorch"] = nullptr;
#endif
  j["meters"] = {"auto", "nvml", "nvml-sampled", "rapl", "modelled", "none"};
  nlohmann::json sensors = nlohmann::json::array();
  for (const SensorProbe& p : probe_sensors()) {
    sensors.push_back({{"name", p.name}, {"present", p.present}, {"readable", p.readable}, {"detail", p.detail}});
  }
  j["sensors"] = sensors;
  return j;
}

int print_info(bool as_json) {
  const nlohmann::json j = collect();
  if (as_json) {
    fmt::print("{}\n", j.dump(2));
    return 0;
  }
  fmt::print("greenbatch {} ({})\n", j["tool_version"].get<std::string>(), j["git_rev"].get<std::string>());
  fmt::print("host      {}\n", j["host"].get<std::string>());
  fmt::print("cpu       {} ({} cores)\n", j["cpu"]["model"].get<std::string>(), j["cpu"]["cores"].get<unsigned>());
  if (j["libtorch"].is_null()) {
    fmt::print("libtorch  not built in (GREENBATCH_WITH_TORCH=OFF): synthetic models only\n");
  } else {
    const auto& t = j["libtorch"];
    fmt::print("libtorch  {} ({} build), {} CPU threads by default\n", t["libtorch_version"].get<std::string>(),
               t["cuda_build"].get<bool>() ? "CUDA" : "CPU-only", t["default_threads"].get<int>());
    const auto& blas = t["blas"];
    fmt::print("blas      {}{}{}\n", blas["name"].get<std::string>(),
               blas["threads"].is_null() ? "" : fmt::format(", {} thread{}", blas["threads"].get<int>(), blas["threads"].get<int>() == 1 ? "" : "s"),
               blas["library"].get<std::string>().empty() ? "" : ": " + blas["library"].get<std::string>());
    if (blas.contains("config")) fmt::print("          {}\n", blas["config"].get<std::string>());
    fmt::print("onednn    {}\n", !t["onednn"]["built"].get<bool>() ? "not built in"
                                   : t["onednn"]["enabled"].get<bool>() ? "built in, enabled" : "built in, disabled");
    if (t["cuda_devices"].empty()) {
      fmt::print("cuda      no devices\n");
    } else {
      for (const auto& d : t["cuda_devices"]) {
        fmt::print("cuda:{}    {}\n", d["index"].get<int>(), d["name"].get<std::string>());
      }
      const auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
      fmt::print("cuda      CUDA {}, cuDNN {}\n", text(t["cuda_version"]), text(t["cudnn_version"]));
    }
  }
  fmt::print("meters    auto, nvml, nvml-sampled, rapl, modelled:idle=P,busy=P, none\n");
  for (const auto& s : j["sensors"]) {
    fmt::print("sensor    {}: {}\n", s["name"].get<std::string>(), s["detail"].get<std::string>());
  }
  return 0;
}

}  // namespace

void add_info_command(CLI::App& app, Action& action) {
  auto as_json = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("info", "Show the LibTorch build, CUDA devices, CPU, and the energy sensors seen");
  sub->add_flag("--json", *as_json, "Print JSON instead of text");
  sub->callback([&action, as_json] { action = [as_json] { return print_info(*as_json); }; });
}

}  // namespace greenbatch::cli
