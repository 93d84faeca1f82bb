#pragma once
// Energy on a machine with no readable sensor, estimated and labelled so: this process's CPU
// time times a per-CPU power above idle, plus the idle power of the CPUs the process is allotted
// over the window (Cloud Carbon Footprint's linear model, per logical CPU:
// idle + utilisation x (max - idle)). The per-CPU power comes from the processor's TDP (a small
// table of common server and laptop CPUs, or estimate:tdp=W,idle=W), else from CCF's published
// per-vCPU averages. Its figures are never "measured": the record says estimated.
#include <functional>
#include <optional>
#include <string>

#include "energy/meter.hpp"

namespace greenbatch {

// What the estimate needs to know about this machine.
struct CpuFacts {
  std::string model_name;    // /proc/cpuinfo's "model name" ("unknown" when it has none)
  unsigned logical_cpus = 1;  // the CPUs this machine (or VM) shows
  double allotted_cpus = 1;   // the CPUs this process may use: affinity, and the cgroup's quota where set
  std::string allotted_from;  // "affinity" or "cgroup cpu.max"
};

// Reads CpuFacts under `root` ("/" on a real machine; a fake tree in tests): proc/cpuinfo,
// sys/fs/cgroup/cpu.max (cgroup v2: "QUOTA PERIOD" or "max PERIOD"), and the affinity mask
// (root "/" only). Missing files leave the defaults of what they would tell.
CpuFacts read_cpu_facts(const std::string& root = "/");

// Watts per logical CPU, idle and fully busy, and where the figures come from.
struct CpuPower {
  double idle_w_per_cpu = 0, max_w_per_cpu = 0;
  std::string source;  // for the record: the table's row and its source, the flags, or CCF's averages
};

// A known processor: a substring of /proc/cpuinfo's model name, its TDP and hardware threads.
struct KnownCpu {
  const char* name;
  double tdp_w;
  unsigned threads;
  const char* source;
};
// The table (docs/energy.md lists it with sources).
std::span<const KnownCpu> known_cpus();

// The per-CPU power: `tdp_w` (and `idle_w`, `threads`) when given; else the table's row for the
// model name; else CCF's per-vCPU averages (0.74 W idle, 3.5 W busy). Idle without a figure is
// the TDP times CCF's idle-to-busy ratio (0.74 / 3.5). Throws UserError on impossible figures.
CpuPower cpu_power(const CpuFacts& facts, std::optional<double> tdp_w, std::optional<double> idle_w,
                   std::optional<unsigned> threads);

class EstimateMeter final : public EnergyMeter {
 public:
  // `cpu_time_s`: this process's CPU time so far, every thread (CLOCK_PROCESS_CPUTIME_ID on a real
  // run; a fake in tests). `note`: why the estimate is used (auto found no sensor), or empty.
  EstimateMeter(CpuPower power, CpuFacts facts, std::function<double()> cpu_time_s, std::string spec, std::string note);
  std::string spec() const override { return spec_; }
  std::optional<double> measure_idle_w(TimeNs) override { return idle_w(); }
  void start(TimeNs now) override;
  Energy stop(TimeNs now, std::span<const BatchRecord> batches, std::size_t images) override;
  bool follows_clock() const override { return false; }  // CPU time is real time's
  std::optional<LiveEnergy> live(TimeNs now, TimeNs busy_ns, bool busy) override;

  // The idle share: idle power per CPU x the CPUs allotted.
  double idle_w() const { return power_.idle_w_per_cpu * facts_.allotted_cpus; }

 private:
  double joules(TimeNs window_ns, double cpu_s) const;
  CpuPower power_;
  CpuFacts facts_;
  std::function<double()> cpu_time_s_;
  std::string spec_, note_;
  TimeNs start_ns_ = 0;
  double start_cpu_s_ = 0;
  TimeNs last_ns_ = 0;
  double last_cpu_s_ = 0;
  std::mutex live_mu_;
  LiveJoulesFloor live_floor_;
};

// This process's CPU time in seconds, every thread.
double process_cpu_time_s();

}  // namespace greenbatch
