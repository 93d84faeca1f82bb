#include "report/catalog.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <toml++/toml.h>

#include "core/error.hpp"

namespace greenbatch::report {

namespace fs = std::filesystem;

Catalog load_catalog(const std::string& path) {
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw UserError(fmt::format("{}: not a valid TOML catalog: {}", path, e.description()));
  }
  Catalog out;
  const toml::table* models = root["models"].as_table();
  if (!models) throw UserError(fmt::format("{}: no [models.NAME] tables", path));
  for (const auto& [key, node] : *models) {
    const toml::table* t = node.as_table();
    if (!t) throw UserError(fmt::format("{}: models.{} is not a table", path, key.str()));
    ModelFacts f;
    f.key = std::string(key.str());
    f.display_name = (*t)["display_name"].value_or(f.key);
    f.paper = (*t)["paper"].value_or(std::string());
    f.year = static_cast<int>((*t)["year"].value_or(std::int64_t{0}));
    if (auto v = (*t)["top1"].value<double>()) f.top1 = *v;
    if (auto v = (*t)["gflops"].value<double>()) f.gflops = *v;
    if (auto v = (*t)["parameters"].value<double>()) f.parameters = *v;
    out[f.key] = f;
  }
  return out;
}

std::string default_catalog_path(const char* argv0) {
  if (fs::exists("data/models.toml")) return "data/models.toml";
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec && argv0) exe = fs::path(argv0);
  for (fs::path dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
    const fs::path candidate = dir / "data" / "models.toml";
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "";
}

std::string display_name(const Catalog& catalog, const std::string& key) {
  const auto it = catalog.find(key);
  return it == catalog.end() ? key : it->second.display_name;
}

}  // namespace greenbatch::report
