// src/image against Pillow 9.4 and torchvision 0.14, byte for byte, on every image of the
// image_refs fixture (scripts/image_references.py): generated JPEGs of many sizes, subsamplings,
// progressive and grayscale, and the three shipped photographs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "core/error.hpp"

#include "image/jpeg.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"
#include "image/references.hpp"

namespace greenbatch {
namespace {

using image_refs::Entry;

std::string describe(const image_refs::ByteDiff& d, std::size_t total) {
  return std::to_string(d.bytes) + " of " + std::to_string(total) + " bytes differ (max |difference| " +
         std::to_string(d.max_abs) + ", first at byte " + std::to_string(d.first) + ")";
}

TEST(ImageReference, IndexListsGeneratedAndShippedImagesWithTheirFiles) {
  const std::vector<Entry> entries = image_refs::index();
  const auto generated = std::count_if(entries.begin(), entries.end(), [](const Entry& e) { return e.generated; });
  EXPECT_GE(generated, 16);
  EXPECT_EQ(entries.size() - static_cast<std::size_t>(generated), 3u) << "the three shipped images";
  for (const Entry& e : entries) {
    for (const char* ext : {".jpg", ".rgb", ".crop"}) EXPECT_TRUE(image_refs::fs::exists(e.file(ext))) << e.file(ext);
    if (e.has_f32) {
      EXPECT_TRUE(image_refs::fs::exists(e.file(".f32"))) << e.file(".f32");
    }
  }
}

TEST(ImageReference, DecodeEqualsPillowByteForByte) {
  for (const Entry& e : image_refs::index()) {
    SCOPED_TRACE(e.name);
    const RgbImage img = decode_jpeg(image_refs::read_all(e.file(".jpg")), e.name);
    ASSERT_EQ(img.width, e.width);
    ASSERT_EQ(img.height, e.height);
    const std::vector<std::uint8_t> want = image_refs::read_all(e.file(".rgb"));
    ASSERT_EQ(want.size(), static_cast<std::size_t>(e.width) * e.height * 3);
    const image_refs::ByteDiff d = image_refs::compare(img.pixels, want);
    EXPECT_EQ(d.bytes, 0u) << e.name << ": decoded pixels against Pillow's: " << describe(d, want.size());
  }
}

TEST(ImageReference, ResizedSizeIsTorchvisions) {
  for (const Entry& e : image_refs::index()) {
    EXPECT_EQ(ResizeCrop::resized_size(e.width, e.height, 256), std::make_pair(e.resized_width, e.resized_height))
        << e.name;
  }
}

// Resize + crop alone, on Pillow's own decoded pixels: a difference here is the resampling's.
TEST(ImageReference, CropOfPillowsPixelsEqualsTorchvisionByteForByte) {
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  for (const Entry& e : image_refs::index()) {
    RgbImage img;
    img.width = e.width;
    img.height = e.height;
    img.pixels = image_refs::read_all(e.file(".rgb"));
    pre.rgb_to_crop(img, crop.data());
    const std::vector<std::uint8_t> want = image_refs::read_all(e.file(".crop"));
    const image_refs::ByteDiff d = image_refs::compare(crop, want);
    EXPECT_EQ(d.bytes, 0u) << e.name << ": crop of Pillow's pixels against torchvision's: " << describe(d, want.size());
  }
}

// The whole path, JPEG bytes to crop; twice, the second time in the other order, so that the
// cached plans and the reused decode and resize memory serve images of other sizes.
TEST(ImageReference, CropEqualsTorchvisionByteForByte) {
  const ImagePreprocessor pre;
  std::vector<Entry> entries = image_refs::index();
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  for (int pass = 0; pass < 2; ++pass) {
    for (const Entry& e : entries) {
      pre.jpeg_to_crop(image_refs::read_all(e.file(".jpg")), e.name, crop.data());
      const std::vector<std::uint8_t> want = image_refs::read_all(e.file(".crop"));
      const image_refs::ByteDiff d = image_refs::compare(crop, want);
      EXPECT_EQ(d.bytes, 0u) << e.name << " (pass " << pass << "): crop against torchvision's: "
                             << describe(d, want.size());
    }
    std::reverse(entries.begin(), entries.end());
  }
}

// ImagePreprocessor is shared by the prepare workers: several threads at once, each over every
// image, give the same bytes (and nothing for ThreadSanitizer to report).
TEST(ImageReference, CropFromSeveralThreadsAtOnce) {
  const ImagePreprocessor pre;
  const std::vector<Entry> entries = image_refs::index();
  std::vector<std::vector<std::uint8_t>> jpegs, wants;
  for (const Entry& e : entries) {
    jpegs.push_back(image_refs::read_all(e.file(".jpg")));
    wants.push_back(image_refs::read_all(e.file(".crop")));
  }
  constexpr int kThreads = 3;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<std::uint8_t> crop(pre.crop_bytes());
      for (std::size_t k = 0; k < entries.size(); ++k) {
        const std::size_t i = (k + static_cast<std::size_t>(t) * 5) % entries.size();
        pre.jpeg_to_crop(jpegs[i], entries[i].name, crop.data());
        if (crop != wants[i]) ++mismatches[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

// Pillow ignores whatever follows the end-of-image marker, and so do we.
TEST(ImageReference, BytesAfterTheEndMarkerAreIgnored) {
  for (const Entry& e : image_refs::index()) {
    std::vector<std::uint8_t> jpeg = image_refs::read_all(e.file(".jpg"));
    for (int i = 0; i < 100; ++i) jpeg.push_back(static_cast<std::uint8_t>(i * 37));
    const RgbImage img = decode_jpeg(jpeg, e.name);
    EXPECT_TRUE(img.pixels == image_refs::read_all(e.file(".rgb"))) << e.name;
  }
}

// Damaged JPEGs (bytes flipped in the scan data, a frame header declaring more pixels than the
// data holds, cut short, no end marker): where Pillow decodes one, through libjpeg's warnings,
// we decode it to the same pixels and crop; where Pillow refuses it, we refuse it too.
TEST(ImageReference, DamagedJpegsAreDecodedOrRefusedAsPillowDoes) {
  const nlohmann::json index = image_refs::index_json();
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  int decoded = 0, refused = 0;
  for (const auto& d : index.at("damaged")) {
    const std::string name = d.at("name").get<std::string>();
    const std::vector<std::uint8_t> jpeg = image_refs::read_all(image_refs::folder() / (name + ".jpg"));
    if (d.at("outcome") == "refused") {
      ++refused;
      EXPECT_THROW(decode_jpeg(jpeg, name), UserError) << name << " (Pillow: " << d.at("message") << ")";
      continue;
    }
    ++decoded;
    const Entry e = image_refs::parse_entry(d);
    RgbImage img;
    try {
      img = decode_jpeg(jpeg, name);
    } catch (const UserError& err) {
      ADD_FAILURE() << name << ": Pillow decodes it, we refuse it: " << err.what();
      continue;
    }
    const std::vector<std::uint8_t> want = image_refs::read_all(e.file(".rgb"));
    const image_refs::ByteDiff d = image_refs::compare(img.pixels, want);
    EXPECT_EQ(d.bytes, 0u) << name << ": decoded pixels: " << describe(d, want.size());
    pre.jpeg_to_crop(jpeg, name, crop.data());
    const std::vector<std::uint8_t> want_crop = image_refs::read_all(e.file(".crop"));
    const image_refs::ByteDiff dc = image_refs::compare(crop, want_crop);
    EXPECT_EQ(dc.bytes, 0u) << name << ": crop: " << describe(dc, want_crop.size());
  }
  EXPECT_GE(decoded, 20);
  EXPECT_GE(refused, 8);
}

// ToTensor + Normalize too, against torchvision's float32 tensor, where torch imported when
// the fixture ran (the torch build checks the same in torch_tests, where it is required).
TEST(ImageReference, NormalizedCropEqualsTorchvisionBitForBit) {
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  std::vector<float> got(3 * 224 * 224);
  int checked = 0;
  for (const Entry& e : image_refs::index()) {
    if (!e.has_f32) continue;
    const std::vector<std::uint8_t> want = image_refs::read_all(e.file(".f32"));
    ASSERT_EQ(want.size(), got.size() * sizeof(float)) << e.name;
    pre.jpeg_to_crop(image_refs::read_all(e.file(".jpg")), e.name, crop.data());
    imagenet_normalizer()(crop.data(), 224 * 224, got.data());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size()), 0) << e.name;
    ++checked;
  }
  if (checked == 0) GTEST_SKIP() << "torch/torchvision did not import in GREENBATCH_PYTHON: no .f32 references";
}

}  // namespace
}  // namespace greenbatch
