#pragma once
// Reading result folders back: every runs.jsonl record, one JSON object each, read through the
// run record's codec (RunRecord::from_json).
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/json_depth.hpp"
#include "engine/run_record.hpp"

namespace greenbatch {

// Deeper nesting than any record or profile has is refused before parsing (json_nesting_depth).
inline constexpr std::size_t kMaxJsonDepth = 64;

// The JSON objects of FILE (a runs.jsonl); a line that does not parse (a run cut off mid-write
// by a kill) is skipped and counted in `skipped`. A missing file gives no records. A line nested
// deeper than kMaxJsonDepth is refused (UserError naming FILE:LINE).
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
