#pragma once
// Writers: they only read RunRecords (whose to_json is the JSON Lines record). JSON Lines (one
// run per line, flushed and fsynced), CSV (ours, or the study's seven columns), the per-request
// CSV, and the power trace (with its reader).
#include <sys/types.h>

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/execute.hpp"

namespace greenbatch {

enum class CsvStyle { kGreenbatch, kPaper };

// The header line (without newline) and one row for a record of a run that started.
std::string csv_header(CsvStyle style);
std::string csv_row(const RunRecord& rec, CsvStyle style);

// The system calls append_line_durable makes to write: tests give ones that fail part-way
// (a full disk) without filling a disk.
struct DiskOps {
  ssize_t (*write)(int fd, const void* data, std::size_t size);
  int (*fsync)(int fd);
};
DiskOps system_disk_ops();

// Appends one line (LINE may hold several, joined by newlines) and makes it durable (write +
// fsync). Whole or nothing: on any failure (a full disk: ENOSPC on write or fsync) the file is
// cut back to its size before the write (a file this call created is removed), so no cut line
// stays, and UserError says why.
void append_line_durable(const std::string& path, const std::string& line);
void append_line_durable(const std::string& path, const std::string& line, const DiskOps& ops);

// Output paths checked before any work. `check_writable_file`: PATH (what the user gave as
// WHAT, e.g. "--requests-out") is not empty, not a folder, and can be created or appended to
// (its folder is created unless `create_folder` is false; a file it had to create to find out
// is removed again).
void check_writable_file(const std::string& path, const std::string& what, bool create_folder = true);
// A results folder (runs.jsonl, runs.csv): not empty, not a file, created if missing, its two
// files writable; then the folder is locked for this process's life (flock on
// DIR/.greenbatch.lock): a second writer into the same folder is refused at once with the
// holder's PID (UserError). Taking it again in the same process is a no-op.
void check_results_folder(const std::string& dir, const std::string& what = "--out");
inline constexpr const char* kLockFile = ".greenbatch.lock";

// A temporary file removed when this goes out of scope, on every exit path (a stale one left by
// a kill is removed at construction). Renaming it into place first makes the removal a no-op.
class TempFile {
 public:
  explicit TempFile(std::string path);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Fails early (UserError) if `path` exists with a header other than `style`'s, or if the folder
// cannot be created.
void check_csv_compatible(const std::string& path, CsvStyle style);
// Appends the record, writing the header first if the file is new or empty (one durable write).
// Called after the record is in runs.jsonl (the record of truth): its UserError says that
// runs.jsonl holds the run and the CSV lacks its row.
void append_csv(const std::string& path, CsvStyle style, const RunRecord& rec);

// The power timeline: PATH holds t_s,power_w,instant_w (the run's clock); batches_path(PATH)
// (NAME.batches.csv beside it) holds batch_id,start_s,end_s,size, to draw power against batches.
void write_power_trace(const std::string& path, const RunResult& result);
std::string batches_path(const std::string& trace_path);

// A power trace read back: its samples and, when batches_path(PATH) exists, its batches.
struct PowerTrace {
  struct Sample {
    double t_s = 0, power_w = 0;
    double instant_w = 0;  // NaN where the sensor gives none
  };
  struct Batch {
    std::size_t id = 0;
    double start_s = 0, end_s = 0;
    std::size_t size = 0;
  };
  std::vector<Sample> samples;
  std::vector<Batch> batches;
};
// Throws UserError when PATH cannot be read or a line is not of write_power_trace's form
// (naming the file and the line). A missing batches file gives no batches.
PowerTrace read_power_trace(const std::string& path);

// id,arrival_s,dispatch_s,done_s,batch_id,batch_size; times in exact decimal seconds.
void write_requests_csv(const std::string& path, const RunResult& result);

}  // namespace greenbatch
