#pragma once
// The reference files that scripts/image_references.py writes at test time (the CTest fixture
// image_refs, into the build folder's image-references/): generated and shipped JPEGs with
// Pillow's decoded pixels (.rgb), torchvision's Resize(256) + CenterCrop(224) (.crop) and,
// where torch imports, the normalised float32 tensor (.f32). A missing file is an error (the
// tests fail), never a reason to skip.
#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace greenbatch::image_refs {

namespace fs = std::filesystem;

inline fs::path folder() { return GB_IMAGE_REFS; }

struct Entry {
  std::string name;
  int width = 0, height = 0;
  int resized_width = 0, resized_height = 0;
  bool generated = false;
  bool has_f32 = false;

  fs::path file(const std::string& ext) const { return folder() / (name + ext); }
};

inline std::vector<std::uint8_t> read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("missing reference file " + path.string() +
                             " (written by scripts/image_references.py, the image_refs CTest fixture: run the "
                             "tests through ctest)");
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline nlohmann::json index_json() {
  const std::vector<std::uint8_t> bytes = read_all(folder() / "index.json");
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

inline Entry parse_entry(const nlohmann::json& j) {
  Entry e;
  e.name = j.at("name").get<std::string>();
  e.width = j.at("width").get<int>();
  e.height = j.at("height").get<int>();
  e.resized_width = j.at("resized").at(0).get<int>();
  e.resized_height = j.at("resized").at(1).get<int>();
  e.generated = j.value("source", "") == "generated";
  e.has_f32 = j.at("files").at("f32").get<bool>();
  return e;
}

// The reference images (generated and shipped), in index.json's order.
inline std::vector<Entry> index() {
  const nlohmann::json index = index_json();
  std::vector<Entry> out;
  for (const auto& j : index.at("images")) out.push_back(parse_entry(j));
  if (out.empty()) throw std::runtime_error("no images in " + (folder() / "index.json").string());
  return out;
}

// How two byte strings differ: the count of differing bytes, the largest absolute difference
// and the first differing offset.
struct ByteDiff {
  std::size_t bytes = 0;
  int max_abs = 0;
  std::size_t first = 0;
};

inline ByteDiff compare(std::span<const std::uint8_t> got, std::span<const std::uint8_t> want) {
  ByteDiff d;
  const std::size_t n = std::min(got.size(), want.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (got[i] == want[i]) continue;
    if (d.bytes++ == 0) d.first = i;
    d.max_abs = std::max(d.max_abs, std::abs(int{got[i]} - int{want[i]}));
  }
  d.bytes += std::max(got.size(), want.size()) - n;
  return d;
}

}  // namespace greenbatch::image_refs
