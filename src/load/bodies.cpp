#include "load/bodies.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/error.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"

namespace greenbatch::load {

namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("{}: cannot be read", path));
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool is_jpeg_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

std::vector<std::string> image_files(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw UserError(fmt::format("--images {}: no such folder", dir));
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file() && is_jpeg_name(e.path())) files.push_back(e.path().string());
  }
  if (ec) throw UserError(fmt::format("--images {}: {}", dir, ec.message()));
  if (files.empty()) throw UserError(fmt::format("--images {}: no .jpg or .jpeg file", dir));
  std::sort(files.begin(), files.end());
  return files;
}

void check_tensor_name(const std::string& name, const std::string& flag) {
  const bool ok = !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-' || c == ':';
  });
  if (!ok) {
    throw UserError(fmt::format("{} '{}': accepted: 1 to 128 letters, digits, '_', '.', '-' or ':'", flag, name));
  }
}

std::vector<Body> tensor_bodies(const std::vector<std::string>& files, const TensorNames& names) {
  static_assert(std::endian::native == std::endian::little, "the binary tensor data is little-endian");
  const ImagePreprocessor pre;
  const std::size_t pixels = pre.crop_bytes() / 3;
  const std::size_t bytes = pre.crop_bytes() * sizeof(float);
  const std::string header = fmt::format(
      R"({{"inputs":[{{"name":"{}","datatype":"FP32","shape":[1,3,{},{}],"parameters":{{"binary_data_size":{}}}}}],)"
      R"("outputs":[{{"name":"{}","parameters":{{"binary_data":true}}}}]}})",
      names.input, pre.crop(), pre.crop(), bytes, names.output);
  std::vector<Body> bodies;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  std::vector<float> chw(pre.crop_bytes());
  for (const std::string& f : files) {
    const std::string jpeg = read_file(f);
    pre.jpeg_to_crop({reinterpret_cast<const std::uint8_t*>(jpeg.data()), jpeg.size()}, f, crop.data());
    imagenet_normalizer()(crop.data(), pixels, chw.data());
    Body b;
    b.content_type = "application/octet-stream";
    b.header_length = header.size();
    b.content.reserve(header.size() + bytes);
    b.content = header;
    b.content.append(reinterpret_cast<const char*>(chw.data()), bytes);
    bodies.push_back(std::move(b));
  }
  return bodies;
}

std::vector<Body> jpeg_bodies(const std::vector<std::string>& files) {
  std::vector<Body> bodies;
  for (const std::string& f : files) bodies.push_back(Body{read_file(f), "image/jpeg", std::nullopt});
  return bodies;
}

std::vector<Body> null_model_bodies(const TensorNames& names) {
  return {Body{fmt::format(R"({{"inputs":[{{"name":"{}","datatype":"FP32","shape":[1,4],"data":[0.1,0.2,0.3,0.4]}}],)"
                           R"("outputs":[{{"name":"{}"}}]}})",
                           names.input, names.output),
               "application/json", std::nullopt}};
}

}  // namespace greenbatch::load
