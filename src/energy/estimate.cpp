#include "energy/estimate.hpp"

#include <fmt/format.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/sysinfo.hpp"
#include "core/units.hpp"
#include "energy/energy_math.hpp"

namespace greenbatch {

namespace {

// Cloud Carbon Footprint's methodology, Appendix I (AWS): average watts per vCPU at 0 % and at
// 100 % CPU utilisation (from SPECpower results).
constexpr double kCcfIdleW = 0.74;
constexpr double kCcfMaxW = 3.5;

// TDP (the vendor's thermal design power, or processor base power) and hardware threads, from
// each vendor's product page (Intel ARK: ark.intel.com; AMD: amd.com/en/products).
constexpr std::array<KnownCpu, 19> kKnown = {{
    {"Xeon(R) Platinum 8480+", 350, 112, "Intel ARK, Xeon Platinum 8480+"},
    {"Xeon(R) Platinum 8380", 270, 80, "Intel ARK, Xeon Platinum 8380"},
    {"Xeon(R) Platinum 8280", 205, 56, "Intel ARK, Xeon Platinum 8280"},
    {"Xeon(R) Gold 6248", 150, 40, "Intel ARK, Xeon Gold 6248"},
    {"Xeon(R) Gold 6148", 150, 40, "Intel ARK, Xeon Gold 6148"},
    {"Xeon(R) Gold 6130", 125, 32, "Intel ARK, Xeon Gold 6130"},
    {"Xeon(R) CPU E5-2690 v4", 135, 28, "Intel ARK, Xeon E5-2690 v4"},
    {"Core(TM) i9-13900K", 125, 32, "Intel ARK, Core i9-13900K (processor base power)"},
    {"Core(TM) i7-12700H", 45, 20, "Intel ARK, Core i7-12700H (processor base power)"},
    {"Core(TM) i7-1165G7", 28, 8, "Intel ARK, Core i7-1165G7 (configurable TDP-up)"},
    {"Core(TM) i7-8650U", 15, 8, "Intel ARK, Core i7-8650U"},
    {"EPYC 9654", 360, 192, "AMD, EPYC 9654"},
    {"EPYC 9554", 360, 128, "AMD, EPYC 9554"},
    {"EPYC 7763", 280, 128, "AMD, EPYC 7763"},
    {"EPYC 7742", 225, 128, "AMD, EPYC 7742"},
    {"EPYC 7543", 225, 64, "AMD, EPYC 7543"},
    {"Ryzen 9 7950X", 170, 32, "AMD, Ryzen 9 7950X"},
    {"Ryzen 7 5800X", 105, 16, "AMD, Ryzen 7 5800X"},
    {"Ryzen 7 PRO 4750U", 15, 16, "AMD, Ryzen 7 PRO 4750U"},
}};

// `name` in `model` as a whole word: "Platinum 8380" is not "Platinum 8380H".
bool names(const std::string& model, std::string_view name) {
  for (std::size_t at = model.find(name); at != std::string::npos; at = model.find(name, at + 1)) {
    const std::size_t end = at + name.size();
    if (end == model.size() || !(std::isalnum(static_cast<unsigned char>(model[end])) || model[end] == '+')) return true;
  }
  return false;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream f(p);
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace

std::span<const KnownCpu> known_cpus() { return kKnown; }

CpuFacts read_cpu_facts(const std::string& root) {
  const std::filesystem::path r(root);
  CpuFacts f;
  f.model_name = cpu_model((r / "proc/cpuinfo").string());  // "unknown" when it is not there
  std::istringstream cpuinfo(read_text(r / "proc/cpuinfo"));
  unsigned processors = 0;
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("processor", 0) == 0) ++processors;
  }
  f.logical_cpus = std::max(processors, 1u);
  f.allotted_cpus = f.logical_cpus;
  f.allotted_from = "every CPU";
  if (root == "/") {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
      f.allotted_cpus = std::min<double>(f.allotted_cpus, CPU_COUNT(&set));
      f.allotted_from = "affinity";
    }
  }
  // cgroup v2: "QUOTA PERIOD" (microseconds) or "max PERIOD".
  std::istringstream cpu_max(read_text(r / "sys/fs/cgroup/cpu.max"));
  std::string quota;
  double period = 0;
  if (cpu_max >> quota >> period && quota != "max" && period > 0) {
    char* end = nullptr;
    const double q = std::strtod(quota.c_str(), &end);
    if (end && *end == '\0' && q > 0 && q / period < f.allotted_cpus) {
      f.allotted_cpus = q / period;
      f.allotted_from = "cgroup cpu.max";
    }
  }
  return f;
}

CpuPower cpu_power(const CpuFacts& facts, std::optional<double> tdp_w, std::optional<double> idle_w,
                   std::optional<unsigned> threads) {
  const double ratio = kCcfIdleW / kCcfMaxW;
  CpuPower p;
  if (tdp_w) {
    const unsigned n = threads.value_or(facts.logical_cpus);
    if (!(*tdp_w > 0) || n == 0) throw UserError("--meter estimate: tdp must be above 0 W and threads at least 1");
    const double idle = idle_w.value_or(*tdp_w * ratio);
    if (!(idle >= 0) || idle > *tdp_w) {
      throw UserError(fmt::format("--meter estimate: idle ({} W) must be from 0 to the TDP ({} W)", idle, *tdp_w));
    }
    p.max_w_per_cpu = *tdp_w / n;
    p.idle_w_per_cpu = idle / n;
    p.source = fmt::format("given: TDP {} W, idle {} W{}, over {} threads", *tdp_w, idle,
                           idle_w ? "" : " (TDP x CCF's idle/busy ratio 0.74/3.5)", n);
    return p;
  }
  if (idle_w || threads) throw UserError("--meter estimate: idle and threads go with tdp (estimate:tdp=W[,idle=W][,threads=N])");
  for (const KnownCpu& k : kKnown) {
    if (names(facts.model_name, k.name)) {
      p.max_w_per_cpu = k.tdp_w / k.threads;
      p.idle_w_per_cpu = p.max_w_per_cpu * ratio;
      p.source = fmt::format("table: {} W TDP over {} threads ({}); idle: TDP x CCF's idle/busy ratio 0.74/3.5",
                             k.tdp_w, k.threads, k.source);
      return p;
    }
  }
  p.idle_w_per_cpu = kCcfIdleW;
  p.max_w_per_cpu = kCcfMaxW;
  p.source = fmt::format("'{}' is not in the table: Cloud Carbon Footprint's average watts per vCPU (AWS, 0.74 W "
                         "idle, 3.5 W busy); give estimate:tdp=W for this processor",
                         facts.model_name);
  return p;
}

double process_cpu_time_s() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

EstimateMeter::EstimateMeter(CpuPower power, CpuFacts facts, std::function<double()> cpu_time_s, std::string spec,
                             std::string note)
    : power_(std::move(power)),
      facts_(std::move(facts)),
      cpu_time_s_(std::move(cpu_time_s)),
      spec_(std::move(spec)),
      note_(std::move(note)) {}

void EstimateMeter::start(TimeNs now) {
  std::lock_guard<std::mutex> lock(live_mu_);
  start_ns_ = last_ns_ = now;
  start_cpu_s_ = last_cpu_s_ = cpu_time_s_();
  live_floor_.reset();
}

double EstimateMeter::joules(TimeNs window_ns, double cpu_s) const {
  return idle_plus_busy_joules(idle_w(), window_ns, (power_.max_w_per_cpu - power_.idle_w_per_cpu) * cpu_s);
}

std::optional<LiveEnergy> EstimateMeter::live(TimeNs now, TimeNs, bool) {
  std::lock_guard<std::mutex> lock(live_mu_);
  const double cpu = cpu_time_s_();
  LiveEnergy e;
  e.joules = live_floor_.raise(joules(std::max<TimeNs>(now - start_ns_, 0), std::max(cpu - start_cpu_s_, 0.0)));
  // Power since the previous reading: the idle share and the CPU time spent since.
  if (now > last_ns_) {
    e.power_w = idle_w() + (power_.max_w_per_cpu - power_.idle_w_per_cpu) * std::max(cpu - last_cpu_s_, 0.0) /
                               ns_to_s(now - last_ns_);
    last_ns_ = now;
    last_cpu_s_ = cpu;
  }
  return e;
}

Energy EstimateMeter::stop(TimeNs now, std::span<const BatchRecord>, std::size_t images) {
  const double cpu_s = std::max(cpu_time_s_() - start_cpu_s_, 0.0);
  const TimeNs window_ns = std::max<TimeNs>(now - start_ns_, 0);
  Energy e;
  e.method = "estimate";
  e.measured = false;
  e.estimated = true;
  e.reason = note_.empty() ? "estimated from CPU time (--meter estimate), not measured" : note_;
  const double dynamic_j = (power_.max_w_per_cpu - power_.idle_w_per_cpu) * cpu_s;
  fill_totals(e, joules(window_ns, cpu_s), window_ns, images, dynamic_j);
  e.idle_power_w = idle_w();
  e.sensor = {{"cpu_model", facts_.model_name},
              {"logical_cpus", facts_.logical_cpus},
              {"allotted_cpus", facts_.allotted_cpus},
              {"allotted_from", facts_.allotted_from},
              {"idle_w_per_cpu", power_.idle_w_per_cpu},
              {"max_w_per_cpu", power_.max_w_per_cpu},
              {"cpu_time_s", cpu_s},
              {"source", power_.source}};
  e.warnings.push_back(fmt::format("estimated, not measured: this process's CPU time ({:.3g} s) x {:.3g} W per CPU "
                                   "above idle + {:.3g} W idle share; {}",
                                   cpu_s, power_.max_w_per_cpu - power_.idle_w_per_cpu, idle_w(), power_.source));
  return e;
}

}  // namespace greenbatch
