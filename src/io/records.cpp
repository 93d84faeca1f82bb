#include "io/records.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace greenbatch {

namespace fs = std::filesystem;

namespace {

// Every line of FILE that parses as JSON, with its line number.
std::vector<std::pair<std::size_t, nlohmann::json>> json_lines(const std::string& path, std::size_t* skipped) {
  std::vector<std::pair<std::size_t, nlohmann::json>> out;
  std::ifstream in(path);
  std::string line;
  for (std::size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    if (json_nesting_depth(line) > kMaxJsonDepth) {
      throw UserError(fmt::format("{}:{}: JSON nested deeper than {} levels; a run record is not", path, n,
                                  kMaxJsonDepth));
    }
    try {
      out.emplace_back(n, nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
      if (skipped) ++*skipped;
    }
  }
  return out;
}

}  // namespace

std::vector<nlohmann::json> read_jsonl(const std::string& path, std::size_t* skipped) {
  std::vector<nlohmann::json> out;
  for (auto& [n, j] : json_lines(path, skipped)) out.push_back(std::move(j));
  return out;
}

std::vector<RunRecord> read_runs(const std::string& path, std::size_t* skipped) {
  std::vector<RunRecord> out;
  for (const auto& [n, j] : json_lines(path, skipped)) {
    try {
      out.push_back(RunRecord::from_json(j));
    } catch (const UserError& e) {
      throw UserError(fmt::format("{}:{}: {}", path, n, e.what()));
    }
  }
  return out;
}

std::vector<RunRecord> read_results(const std::string& dir, bool recursive, std::size_t* skipped) {
  if (!recursive) return read_runs((fs::path(dir) / "runs.jsonl").string(), skipped);
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename() == "runs.jsonl") files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<RunRecord> out;
  for (const std::string& f : files) {
    auto part = read_runs(f, skipped);
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return out;
}

bool is_complete(const nlohmann::json& r) {
  try {
    return RunRecord::from_json(r).complete();
  } catch (const UserError&) {
    return false;
  }
}

}  // namespace greenbatch
