// Our preprocessing against torchvision's float32 tensors, bit for bit: the shipped images (from
// export_models.py's reference tensors) and every image of the image_refs fixture
// (scripts/image_references.py: generated sizes, subsamplings, progressive, grayscale).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "image/jpeg.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"
#include "image/references.hpp"

namespace greenbatch {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> shipped_images() {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(GB_IMAGES))
    if (e.path().extension() == ".jpg") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(Preprocess, ThreeImagesAreShipped) { EXPECT_EQ(shipped_images().size(), 3u); }

TEST(Preprocess, MatchesTorchvisionBitForBitOnEveryShippedImage) {
  const ImagePreprocessor pre;
  for (const fs::path& img_path : shipped_images()) {
    const fs::path ref = fs::path(GB_TEST_MODELS) / "reference" / (img_path.stem().string() + ".f32");
    ASSERT_TRUE(fs::exists(ref)) << ref;
    std::vector<float> expected(3 * 224 * 224);
    std::ifstream in(ref, std::ios::binary);
    in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
    ASSERT_EQ(in.gcount(), static_cast<std::streamsize>(expected.size() * sizeof(float))) << ref;
    std::vector<std::uint8_t> crop(pre.crop_bytes());
    pre.jpeg_to_crop(read_file_bytes(img_path.string()), img_path.string(), crop.data());
    std::vector<float> got(expected.size());
    imagenet_normalizer()(crop.data(), 224 * 224, got.data());
    const torch::Tensor want_t = torch::from_blob(expected.data(), {3, 224, 224}, torch::kFloat32);
    const torch::Tensor got_t = torch::from_blob(got.data(), {3, 224, 224}, torch::kFloat32);
    const double max_diff = (got_t - want_t).abs().max().item<double>();
    EXPECT_EQ(max_diff, 0.0) << img_path;
    EXPECT_EQ(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)), 0) << img_path;
    std::printf("%s: max |ours - torchvision| = %.3g\n", img_path.filename().c_str(), max_diff);
  }
}

// The torch build has torch, so the fixture must have written every .f32 (torch imports in
// GREENBATCH_PYTHON); a missing one fails.
TEST(Preprocess, MatchesTorchvisionBitForBitOnEveryReferenceImage) {
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  std::vector<float> got(3 * 224 * 224);
  int generated = 0;
  for (const image_refs::Entry& e : image_refs::index()) {
    ASSERT_TRUE(e.has_f32) << e.name << ": no .f32 reference (torch/torchvision do not import in GREENBATCH_PYTHON?)";
    const std::vector<std::uint8_t> want = image_refs::read_all(e.file(".f32"));
    ASSERT_EQ(want.size(), got.size() * sizeof(float)) << e.name;
    pre.jpeg_to_crop(image_refs::read_all(e.file(".jpg")), e.name, crop.data());
    imagenet_normalizer()(crop.data(), 224 * 224, got.data());
    std::size_t differing = 0;
    float max_diff = 0.0f;
    for (std::size_t i = 0; i < got.size(); ++i) {
      float w;
      std::memcpy(&w, want.data() + i * sizeof(float), sizeof(float));
      if (std::memcmp(&got[i], &w, sizeof(float)) != 0) ++differing;
      max_diff = std::max(max_diff, std::abs(got[i] - w));
    }
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0)
        << e.name << ": " << differing << " of " << got.size() << " floats differ, max |difference| " << max_diff;
    generated += e.generated ? 1 : 0;
  }
  EXPECT_GE(generated, 16);
}

}  // namespace
}  // namespace greenbatch
