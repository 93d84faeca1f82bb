// Our preprocessing against torchvision's, for each shipped image, and Pillow's weights.
#include "backends/torchscript/preprocess.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backends/torchscript/jpeg.hpp"
#include "core/error.hpp"

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

TEST(Preprocess, MatchesTorchvisionOnEveryShippedImage) {
  Preprocessor pre(torch::kCPU);
  for (const fs::path& img_path : shipped_images()) {
    const fs::path ref = fs::path(GB_TEST_MODELS) / "reference" / (img_path.stem().string() + ".f32");
    ASSERT_TRUE(fs::exists(ref)) << ref;
    std::vector<float> expected(3 * 224 * 224);
    std::ifstream in(ref, std::ios::binary);
    in.read(reinterpret_cast<char*>(expected.data()), static_cast<std::streamsize>(expected.size() * sizeof(float)));
    ASSERT_EQ(in.gcount(), static_cast<std::streamsize>(expected.size() * sizeof(float))) << ref;
    const torch::Tensor want = torch::from_blob(expected.data(), {3, 224, 224}, torch::kFloat32);
    const torch::Tensor got = pre(decode_jpeg(read_file_bytes(img_path.string()), img_path.string()));
    ASSERT_EQ(got.sizes(), want.sizes());
    const double max_diff = (got - want).abs().max().item<double>();
    // The acceptance bound is 1e-2; Pillow's fixed point is reproduced, so we expect float noise.
    EXPECT_LT(max_diff, 1e-2) << img_path;
    EXPECT_LT(max_diff, 1e-5) << img_path << ": bound met, but the PIL emulation drifted";
    std::printf("%s: max |ours - torchvision| = %.3g\n", img_path.filename().c_str(), max_diff);
  }
}

TEST(Preprocess, PillowWeightsAreNormalisedFixedPoint) {
  const torch::Tensor w = Preprocessor::pil_bilinear_weights(1000, 256);
  ASSERT_EQ(w.sizes(), (std::vector<int64_t>{256, 1000}));
  const torch::Tensor rows = w.sum(1);
  // Each row sums to 2^22, give or take the rounding of each weight.
  EXPECT_LE((rows - 4194304.0).abs().max().item<double>(), 8.0);
  // Downscaling by 3.9 spreads each output pixel over about 2 x 3.9 input pixels.
  EXPECT_LE((w.gt(0).sum(1)).max().item<int64_t>(), 9);
  // Upscaling keeps the plain bilinear support of two pixels.
  EXPECT_LE(Preprocessor::pil_bilinear_weights(100, 256).gt(0).sum(1).max().item<int64_t>(), 2);
}

TEST(Preprocess, TorchvisionResizeSizes) {
  EXPECT_EQ(Preprocessor::resized_size(512, 512, 256), std::make_pair(256, 256));
  EXPECT_EQ(Preprocessor::resized_size(451, 300, 256), std::make_pair(384, 256));  // int(256 * 451 / 300) = 384
  EXPECT_EQ(Preprocessor::resized_size(300, 451, 256), std::make_pair(256, 384));
  EXPECT_EQ(Preprocessor::resized_size(640, 427, 256), std::make_pair(383, 256));  // 383.7 truncated
}

TEST(Preprocess, ARandomImageOfAnOddSizeGivesAFiniteNormalisedTensor) {
  RgbImage img;
  img.width = 301;
  img.height = 257;
  img.pixels.resize(301 * 257 * 3);
  for (std::size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 24);
  Preprocessor pre(torch::kCPU);
  const torch::Tensor t = pre(img);
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{3, 224, 224}));
  EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
  // Normalised values of 8-bit pixels lie within [(0 - 0.485) / 0.229, (1 - 0.406) / 0.225].
  EXPECT_GE(t.min().item<double>(), -2.12);
  EXPECT_LE(t.max().item<double>(), 2.65);
}

TEST(Preprocess, NotAJpegIsAClearError) {
  const std::vector<std::uint8_t> junk = {'n', 'o', 't', ' ', 'a', ' ', 'j', 'p', 'e', 'g'};
  try {
    decode_jpeg(junk, "junk.jpg");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("junk.jpg"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace greenbatch
