#pragma once
// RAPL energy counters through Linux's powercap tree (/sys/class/powercap, or another root for
// tests): every package zone (intel-rapl:N, also amd-rapl:N) and its DRAM subzone; the core
// and uncore subzones are parts of the package and psys overlaps it, so they are not added.
// Counters wrap at max_energy_range_uj; the wrap is undone as long as reads come more often
// than one wrap period (the sampler reads every few ms).
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace greenbatch {

class RaplError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Rapl {
 public:
  // Reads a whole small file; returns its text, or throws RaplError. Replaceable in tests.
  using ReadFile = std::function<std::string(const std::string& path)>;
  static ReadFile default_reader();
  static std::string default_root();  // $GREENBATCH_POWERCAP_ROOT or /sys/class/powercap

  explicit Rapl(std::string root = default_root(), ReadFile read = default_reader());
  // Joules since construction over all zones, wrap-arounds undone. Thread-safe.
  double joules();
  std::vector<std::string> zones() const;  // e.g. "intel-rapl:0 (package-0)"

 private:
  struct Zone {
    std::string dir, name;
    unsigned long long max_range_uj = 0;
    unsigned long long last_uj = 0;
    unsigned long long total_uj = 0;
  };
  unsigned long long read_uj(const Zone& z) const;
  std::string root_;
  ReadFile read_;
  std::vector<Zone> zones_;
  std::mutex mu_;
};

}  // namespace greenbatch
