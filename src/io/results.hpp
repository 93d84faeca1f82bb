#pragma once
// Writers: they only read RunRecords (whose to_json is the JSON Lines record). JSON Lines (one
// run per line, flushed and fsynced), CSV (ours, or the study's seven columns), the per-request
// CSV, and the power trace (with its reader).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/execute.hpp"

namespace greenbatch {

enum class CsvStyle { kGreenbatch, kPaper };

// The header line (without newline) and one row for a record of a run that started.
std::string csv_header(CsvStyle style);
std::string csv_row(const RunRecord& rec, CsvStyle style);

// Appends one line and makes it durable (fflush + fsync). Throws UserError if it cannot.
void append_line_durable(const std::string& path, const std::string& line);

// Fails early (UserError) if `path` exists with a header other than `style`'s, or if the folder
// cannot be created.
void check_csv_compatible(const std::string& path, CsvStyle style);
// Appends the record, writing the header first if the file is new or empty.
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
