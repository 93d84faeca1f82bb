#include "io/records.hpp"

#include <filesystem>
#include <fstream>

namespace greenbatch {

namespace fs = std::filesystem;

std::vector<nlohmann::json> read_jsonl(const std::string& path, std::size_t* skipped) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception&) {
      if (skipped) ++*skipped;
    }
  }
  return out;
}

std::vector<nlohmann::json> read_results(const std::string& dir, bool recursive, std::size_t* skipped) {
  if (!recursive) return read_jsonl((fs::path(dir) / "runs.jsonl").string(), skipped);
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename() == "runs.jsonl") files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<nlohmann::json> out;
  for (const std::string& f : files) {
    auto part = read_jsonl(f, skipped);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

bool is_complete(const nlohmann::json& r) {
  return r.is_object() && r.contains("error") && r["error"].is_null() && r.contains("completed") &&
         r.contains("requests") && r["completed"] == r["requests"];
}

}  // namespace greenbatch
