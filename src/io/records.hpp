#pragma once
// Reading result folders back: every runs.jsonl record, one JSON object each, read through the
// run record's codec (RunRecord::from_json).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/run_record.hpp"

namespace greenbatch {

// The JSON objects of FILE (a runs.jsonl); a line that does not parse (a run cut off mid-write
// by a kill) is skipped and counted in `skipped`. A missing file gives no records.
std::vector<nlohmann::json> read_jsonl(const std::string& path, std::size_t* skipped = nullptr);

// The run records of FILE (a runs.jsonl), as read_jsonl, each through RunRecord::from_json.
// Throws UserError naming the file and the line for a record that is not a run record.
std::vector<RunRecord> read_runs(const std::string& path, std::size_t* skipped = nullptr);

// The run records of DIR/runs.jsonl, or of every runs.jsonl below DIR when `recursive`.
std::vector<RunRecord> read_results(const std::string& dir, bool recursive, std::size_t* skipped = nullptr);

// True for a record of a run that completed without error (false for one that is no run
// record at all).
bool is_complete(const nlohmann::json& record);

}  // namespace greenbatch
