#pragma once
// data/models.toml: publication year, display name and accuracy of each model, for the
// report's timeline (Fig. 3) and accuracy figure (Fig. 4).
#include <map>
#include <optional>
#include <string>

namespace greenbatch::report {

struct ModelFacts {
  std::string key, display_name, paper;
  int year = 0;
  std::optional<double> top1, gflops, parameters;
};

using Catalog = std::map<std::string, ModelFacts>;

// Throws UserError when the file cannot be read or a model's table is malformed.
Catalog load_catalog(const std::string& path);

// The catalog to use when none is given: data/models.toml from the working folder, else beside
// the executable's folder (build/greenbatch -> data/models.toml); empty when neither exists.
std::string default_catalog_path(const char* argv0_or_null = nullptr);

// The model's display name, or its key when the catalog does not know it.
std::string display_name(const Catalog& catalog, const std::string& key);

}  // namespace greenbatch::report
