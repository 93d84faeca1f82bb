#include "io/results.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <charconv>

#include "core/error.hpp"
#include "core/units.hpp"

namespace greenbatch {

namespace {

// Locale-independent shortest round-trip form (fmt's default for doubles); "nan" when absent.
std::string num(double v) { return fmt::format("{}", v); }
std::string num(const std::optional<double>& v) { return v ? num(*v) : std::string("nan"); }

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

void ensure_parent(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  if (parent.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) throw UserError(fmt::format("cannot create folder {}: {}", parent.string(), ec.message()));
}

}  // namespace

std::string csv_header(CsvStyle style) {
  if (style == CsvStyle::kPaper) {
    return "Batch Size,Average Power(W),Time(s),Energy(J),Average Wait Time(s),Max Wait Time(s),Average Peak Power (W)";
  }
  return "started_utc,model,device,clock,rate_hz,arrivals,seed,policy,meter,requests,completed,duration_s,batches,"
         "avg_batch_size,throughput_rps,latency_mean_s,latency_p50_s,latency_p90_s,latency_p95_s,latency_p99_s,"
         "latency_max_s,dispatch_late_p99_s,energy_method,energy_j,energy_per_image_j,idle_power_w,"
         "dynamic_per_image_j,avg_power_w,peak_power_w,error";
}

std::string csv_row(const RunRecord& rec, CsvStyle style) {
  if (!rec.summary || !rec.energy) throw std::logic_error("csv_row: the record is of a run that never started");
  const Summary& s = *rec.summary;
  const Energy& e = *rec.energy;
  if (style == CsvStyle::kPaper) {
    // The study's first column: the fixed batch size, or "Greedy (average batch size)".
    std::string batch;
    const auto [name, rest] = split_spec(rec.policy);
    if (name == "fixed") batch = rest;
    else if (name == "greedy") batch = fmt::format("Greedy ({})", s.avg_batch_size);
    else batch = csv_quote(fmt::format("{} ({})", rec.policy, s.avg_batch_size));
    return fmt::format("{},{},{},{},{},{},{}", batch, num(e.avg_power_w), num(s.duration_s), num(e.joules),
                       num(s.latency_s.mean), num(s.latency_s.max), num(e.peak_power_w));
  }
  return fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                     rec.started_utc, csv_quote(rec.model), rec.device, rec.clock, num(rec.rate_hz),
                     csv_quote(rec.arrivals), rec.seed, rec.policy, csv_quote(rec.meter), s.requests, s.completed,
                     num(s.duration_s), s.batches, num(s.avg_batch_size), num(s.throughput_rps),
                     num(s.latency_s.mean), num(s.latency_s.p50), num(s.latency_s.p90), num(s.latency_s.p95),
                     num(s.latency_s.p99), num(s.latency_s.max), num(s.dispatch_late_s.p99), e.method, num(e.joules),
                     num(e.per_image_j), num(e.idle_power_w), num(e.dynamic_per_image_j), num(e.avg_power_w),
                     num(e.peak_power_w), csv_quote(rec.error));
}

DiskOps system_disk_ops() { return DiskOps{&::write, &::fsync}; }

void append_line_durable(const std::string& path, const std::string& line) {
  append_line_durable(path, line, system_disk_ops());
}

void append_line_durable(const std::string& path, const std::string& line, const DiskOps& ops) {
  if (path.empty()) throw UserError("cannot append to a file with an empty name");
  ensure_parent(path);
  const bool existed = std::filesystem::exists(path);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(fmt::format("cannot open {} for appending: {}", path, std::strerror(errno)));
  std::string data = line + "\n";
  // A run killed mid-write can leave a last line without its newline: never append to it.
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size > 0) {
    char last = '\n';
    if (::pread(fd, &last, 1, size - 1) == 1 && last != '\n') data.insert(data.begin(), '\n');
  }
  // Whole or nothing: on failure, cut the file back to its size before this write.
  auto fail = [&](const char* doing, int err) {
    if (size >= 0 && ::ftruncate(fd, size) == 0) (void)ops.fsync(fd);
    ::close(fd);
    if (!existed && size == 0) ::unlink(path.c_str());
    throw UserError(fmt::format("cannot {} {}: {}; nothing of this record was kept", doing, path, std::strerror(err)));
  };
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t w = ops.write(fd, data.data() + done, data.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail("write to", errno);
    }
    if (w == 0) fail("write to", ENOSPC);
    done += static_cast<std::size_t>(w);
  }
  if (ops.fsync(fd) != 0) fail("sync to disk", errno);
  ::close(fd);
}

void check_writable_file(const std::string& path, const std::string& what, bool create_folder) {
  namespace fs = std::filesystem;
  if (path.empty()) throw UserError(fmt::format("{} '': an empty path; name a file", what));
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    throw UserError(fmt::format("{} '{}': is a folder; name a file to write", what, path));
  }
  const auto parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    if (fs::exists(parent, ec) && !fs::is_directory(parent, ec)) {
      throw UserError(fmt::format("{} '{}': {} is not a folder", what, path, parent.string()));
    }
    if (create_folder) fs::create_directories(parent, ec);
    if (ec) throw UserError(fmt::format("{} '{}': cannot create the folder {}: {}", what, path, parent.string(), ec.message()));
  }
  const bool existed = fs::exists(path, ec);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(fmt::format("{} '{}': cannot write there: {}", what, path, std::strerror(errno)));
  ::close(fd);
  if (!existed) ::unlink(path.c_str());
}

namespace {

// The results folders this process holds locked (their lock files stay open until exit).
std::map<std::string, int>& held_locks() {
  static std::map<std::string, int> held;
  return held;
}

void lock_results_folder(const std::string& dir, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string key = fs::weakly_canonical(dir, ec).string();
  if (held_locks().contains(key)) return;
  const std::string lock = (fs::path(dir) / kLockFile).string();
  const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw UserError(fmt::format("{} '{}': cannot create the lock file {}: {}", what, dir, lock, std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    if (err != EWOULDBLOCK) {
      throw UserError(fmt::format("{} '{}': cannot lock {}: {}", what, dir, lock, std::strerror(err)));
    }
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("unknown");
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    throw UserError(fmt::format(
        "{} '{}': another greenbatch (pid {}) is writing into this folder; two writers would record runs twice. "
        "Wait for it to end, or choose another folder",
        what, dir, pid));
  }
  const std::string pid = fmt::format("{}\n", ::getpid());
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    // The lock holds without the PID; a second writer is still refused (it says "unknown").
  }
  held_locks().emplace(key, fd);  // kept open: the lock lasts as long as the process
}

}  // namespace

void check_results_folder(const std::string& dir, const std::string& what) {
  namespace fs = std::filesystem;
  if (dir.empty()) throw UserError(fmt::format("{} '': an empty path; name a results folder", what));
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw UserError(fmt::format("{} '{}': is a file, not a folder; name a results folder", what, dir));
  }
  fs::create_directories(dir, ec);
  if (ec) throw UserError(fmt::format("{} '{}': cannot create the folder: {}", what, dir, ec.message()));
  lock_results_folder(dir, what);
  for (const char* name : {"runs.jsonl", "runs.csv"}) check_writable_file((fs::path(dir) / name).string(), what);
}

TempFile::TempFile(std::string path) : path_(std::move(path)) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path_, ec)) std::filesystem::remove(path_, ec);
}

TempFile::~TempFile() {
  std::error_code ec;
  if (!std::filesystem::is_directory(path_, ec)) std::filesystem::remove(path_, ec);
}

namespace {
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}
}  // namespace

void check_csv_compatible(const std::string& path, CsvStyle style) {
  ensure_parent(path);
  if (!std::filesystem::exists(path)) return;
  const std::string head = first_line(path);
  if (!head.empty() && head != csv_header(style)) {
    throw UserError(fmt::format(
        "{} already holds rows of another format than --csv-style {}; choose another --out folder or the style "
        "the file was written with",
        path, style == CsvStyle::kPaper ? "paper" : "greenbatch"));
  }
}

void append_csv(const std::string& path, CsvStyle style, const RunRecord& rec) {
  try {
    check_csv_compatible(path, style);
    std::error_code ec;
    const bool fresh = !std::filesystem::exists(path) || std::filesystem::file_size(path, ec) == 0;
    const std::string row = csv_row(rec, style);
    append_line_durable(path, fresh ? csv_header(style) + "\n" + row : row);
  } catch (const UserError& e) {
    throw UserError(fmt::format("{}; the run IS recorded in runs.jsonl (the record of truth), only this CSV lacks its row",
                                e.what()));
  }
}

void write_power_trace(const std::string& path, const RunResult& r) {
  ensure_parent(path);
  std::string samples = "t_s,power_w,instant_w\n";
  for (const PowerSample& p : r.energy.trace) {
    samples += fmt::format("{},{},{}\n", format_seconds_exact(p.t_ns), num(p.power_w), num(p.instant_w));
  }
  std::string batches = "batch_id,start_s,end_s,size\n";
  for (std::size_t b = 0; b < r.batches.size(); ++b) {
    batches += fmt::format("{},{},{},{}\n", b, format_seconds_exact(r.batches[b].start_ns),
                           format_seconds_exact(r.batches[b].end_ns), r.batches[b].size);
  }
  for (const auto& [file, text] : {std::pair{path, samples}, std::pair{batches_path(path), batches}}) {
    std::ofstream out(file);
    out << text;
    if (!out) throw UserError(fmt::format("cannot write {}", file));
  }
}

std::string batches_path(const std::string& trace_path) {
  const std::filesystem::path p(trace_path);
  return (p.parent_path() / (p.stem().string() + ".batches.csv")).string();
}

namespace {

// The comma-separated numbers of one line (a trailing '\r' ignored); nullopt if any is not one.
std::optional<std::vector<double>> numbers(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<double> out;
  while (true) {
    const std::size_t comma = line.find(',');
    const std::string_view cell = line.substr(0, comma);
    double v = 0;
    const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
    if (ec != std::errc() || end != cell.data() + cell.size() || cell.empty()) return std::nullopt;
    out.push_back(v);
    if (comma == std::string_view::npos) return out;
    line.remove_prefix(comma + 1);
  }
}

// Calls `row` with each line's numbers after the header; refuses a line with another count.
template <typename F>
void read_rows(const std::string& path, std::ifstream& in, std::size_t min_cols, std::size_t max_cols,
               const char* columns, F&& row) {
  std::string line;
  std::getline(in, line);  // the header
  for (std::size_t n = 2; std::getline(in, line); ++n) {
    if (line.empty() || line == "\r") continue;
    const auto v = numbers(line);
    if (!v || v->size() < min_cols || v->size() > max_cols) {
      throw UserError(fmt::format("{}:{}: '{}' is not a row of {} (numbers)", path, n, line, columns));
    }
    row(*v);
  }
}

}  // namespace

PowerTrace read_power_trace(const std::string& path) {
  PowerTrace t;
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("cannot read the power trace {}", path));
  read_rows(path, in, 2, 3, "t_s,power_w,instant_w", [&](const std::vector<double>& v) {
    t.samples.push_back({v[0], v[1], v.size() > 2 ? v[2] : std::nan("")});
  });
  const std::string batches = batches_path(path);
  std::ifstream bin(batches);
  if (!bin) return t;
  read_rows(batches, bin, 3, 4, "batch_id,start_s,end_s,size", [&](const std::vector<double>& v) {
    t.batches.push_back({static_cast<std::size_t>(v[0]), v[1], v[2], v.size() > 3 ? static_cast<std::size_t>(v[3]) : 0});
  });
  return t;
}

void write_requests_csv(const std::string& path, const RunResult& r) {
  ensure_parent(path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!f) throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  fmt::memory_buffer buf;
  // prepare_s: time spent preparing the request's input, empty when the backend prepared none.
  fmt::format_to(std::back_inserter(buf), "id,arrival_s,dispatch_s,done_s,batch_id,batch_size,prepare_s\n");
  for (std::size_t b = 0; b < r.batches.size(); ++b) {
    const BatchRecord& br = r.batches[b];
    const std::string dispatch = format_seconds_exact(br.start_ns);
    const std::string done = format_seconds_exact(br.end_ns);
    for (std::size_t i = br.first_request; i < br.first_request + br.size; ++i) {
      const bool prepared = i < r.prepare_ns.size() && r.prepare_ns[i] > 0;
      fmt::format_to(std::back_inserter(buf), "{},{},{},{},{},{},{}\n", i, format_seconds_exact(r.arrivals[i]), dispatch,
                     done, b, br.size, prepared ? format_seconds_exact(r.prepare_ns[i]) : std::string());
    }
    if (buf.size() > (1 << 20)) {
      std::fwrite(buf.data(), 1, buf.size(), f.get());
      buf.clear();
    }
  }
  std::fwrite(buf.data(), 1, buf.size(), f.get());
  if (std::fflush(f.get()) != 0 || std::ferror(f.get())) {
    throw UserError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
}

}  // namespace greenbatch
