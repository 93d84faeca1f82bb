#pragma once
// Reading result folders back: every runs.jsonl record, one JSON object each.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace greenbatch {

// The records of FILE (a runs.jsonl); a line that does not parse (a run cut off mid-write by a
// kill) is skipped and counted in `skipped`. A missing file gives no records.
std::vector<nlohmann::json> read_jsonl(const std::string& path, std::size_t* skipped = nullptr);

// DIR/runs.jsonl, or every runs.jsonl below DIR when `recursive`.
std::vector<nlohmann::json> read_results(const std::string& dir, bool recursive, std::size_t* skipped = nullptr);

// True for a record of a run that completed without error.
bool is_complete(const nlohmann::json& record);

}  // namespace greenbatch
