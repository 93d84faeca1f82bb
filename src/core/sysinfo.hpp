#pragma once
// Facts about the machine and the moment, for self-describing results.
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace greenbatch {

std::string hostname();
// Current UTC time as ISO 8601 with seconds, e.g. "2026-11-26T14:11:09Z".
std::string utc_now_iso8601();
// "model name" from /proc/cpuinfo, or "unknown".
std::string cpu_model(const std::string& cpuinfo = "/proc/cpuinfo");

// The BLAS this process has loaded. Debian's LibTorch calls whatever `libblas.so.3` the system's
// alternatives point to: the reference BLAS by default, tens of times slower than OpenBLAS on a
// matrix product, so every CPU figure names it.
struct BlasInfo {
  std::string library;         // the file mapped (the kernel's path: links resolved); empty if none
  std::string name;            // blas_kind(library), or "none loaded"
  std::optional<int> threads;  // OpenBLAS's own threads (openblas_get_num_threads); 1 for the reference BLAS
  std::string config;          // openblas_get_config(): version, target core, threading
};
BlasInfo loaded_blas();
// The files a /proc/PID/maps text maps, each once, in order of first appearance.
std::vector<std::string> mapped_files(std::istream& maps);
// Of those, the BLAS: a file named libblas.so*, libopenblas*, libblis*, libmkl_rt* or libcblas.so*.
std::optional<std::string> blas_file(const std::vector<std::string>& files);
// What a BLAS file is, from its path: "OpenBLAS (pthread)", "OpenBLAS (OpenMP)", "OpenBLAS
// (serial)", "OpenBLAS", "BLIS", "MKL", "ATLAS", "reference BLAS" (Debian's libblas3, in a
// directory named blas), else "unknown".
std::string blas_kind(const std::string& path);

}  // namespace greenbatch
