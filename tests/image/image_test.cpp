// src/image's pieces on their own: torchvision's resized size, Pillow's resampling weights, the
// normalisation table, and the JPEGs that must be refused with a UserError (never a crash).
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <initializer_list>
#include <random>

#include "core/error.hpp"
#include "support/errors.hpp"
#include "image/jpeg.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"
#include "image/references.hpp"
#include "image/resize.hpp"

namespace greenbatch {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);
constexpr std::int32_t kOne = 1 << 22;  // Pillow's fixed-point 1.0 (PRECISION_BITS = 22)

// The offset of the first header segment whose marker is one of `codes` (0xFF code ...), or
// kNone; the walk stops at the start of scan (SOS), which may itself be asked for.
std::size_t find_segment(const std::vector<std::uint8_t>& j, std::initializer_list<std::uint8_t> codes) {
  std::size_t i = 2;  // after SOI
  while (i + 4 <= j.size() && j[i] == 0xFF) {
    const std::uint8_t m = j[i + 1];
    if (std::find(codes.begin(), codes.end(), m) != codes.end()) return i;
    if (m == 0xDA) return kNone;
    i += 2 + ((std::size_t{j[i + 2]} << 8) | j[i + 3]);
  }
  return kNone;
}

// The JPEG with its frame header (SOF0/1/2) declaring width x height.
std::vector<std::uint8_t> with_declared_size(std::vector<std::uint8_t> j, int width, int height) {
  const std::size_t sof = find_segment(j, {0xC0, 0xC1, 0xC2});
  if (sof == kNone) throw std::runtime_error("no SOF segment");
  j[sof + 5] = static_cast<std::uint8_t>(height >> 8);
  j[sof + 6] = static_cast<std::uint8_t>(height & 0xFF);
  j[sof + 7] = static_cast<std::uint8_t>(width >> 8);
  j[sof + 8] = static_cast<std::uint8_t>(width & 0xFF);
  return j;
}

std::vector<std::uint8_t> reference_jpeg(const std::string& name) {
  return image_refs::read_all(image_refs::folder() / (name + ".jpg"));
}

using testing::user_error_of;

// --------------------------------------------------------------------------- resized size

TEST(ImageResize, ResizedSizeTruncatesTheLongSideAsTorchvision) {
  using P = std::pair<int, int>;
  EXPECT_EQ(ResizeCrop::resized_size(451, 300, 256), P(384, 256));  // 384.85
  EXPECT_EQ(ResizeCrop::resized_size(640, 427, 256), P(383, 256));  // 383.70
  EXPECT_EQ(ResizeCrop::resized_size(300, 451, 256), P(256, 384));  // portrait
  EXPECT_EQ(ResizeCrop::resized_size(427, 640, 256), P(256, 383));
  EXPECT_EQ(ResizeCrop::resized_size(320, 427, 256), P(256, 341));  // rocket_portrait.jpg
  EXPECT_EQ(ResizeCrop::resized_size(500, 500, 256), P(256, 256));  // square
  EXPECT_EQ(ResizeCrop::resized_size(1000, 224, 256), P(1142, 256));  // upscaled
  EXPECT_EQ(ResizeCrop::resized_size(7, 300, 256), P(256, 10971));
  EXPECT_EQ(ResizeCrop::resized_size(256, 384, 256), P(256, 384));  // short side already 256
}

TEST(ImageResize, CropLargerThanTheResizedImageIsRefused) {
  // With Resize(256) every image's short side is 256 >= 224, so only another resize can be too
  // small. torchvision's CenterCrop would pad with zeros; we refuse instead.
  EXPECT_THROW(ResizeCrop(300, 300, 100, 224), UserError);
  EXPECT_THROW(ResizeCrop(1000, 100, 200, 224), UserError);
  EXPECT_NO_THROW(ResizeCrop(1000, 100, 224, 224));
  EXPECT_NO_THROW(ResizeCrop(100, 50, 256, 224));  // upscaled to 512 x 256
  EXPECT_THROW(ResizeCrop(0, 100), UserError);
  EXPECT_THROW(ResizeCrop(100, -1), UserError);
  const ImagePreprocessor small(100, 224);
  std::vector<std::uint8_t> out(small.crop_bytes());
  const std::string msg =
      user_error_of([&] { small.jpeg_to_crop(reference_jpeg("gen_320x240_q90_420"), "req-7.jpg", out.data()); });
  EXPECT_NE(msg.find("req-7.jpg"), std::string::npos) << msg;
  EXPECT_NE(msg.find("smaller than the 224x224 crop"), std::string::npos) << msg;
}

// --------------------------------------------------------------------------- resampling weights

void expect_well_formed(const ResampleAxis& a, int in_size, int keep_count) {
  ASSERT_EQ(a.first.size(), static_cast<std::size_t>(keep_count));
  ASSERT_EQ(a.weights.size(), static_cast<std::size_t>(keep_count) * a.taps);
  for (int i = 0; i < keep_count; ++i) {
    EXPECT_GE(a.first[i], 0) << i;
    EXPECT_LE(a.first[i] + a.taps, in_size) << i;
    std::int64_t sum = 0;
    for (int t = 0; t < a.taps; ++t) {
      EXPECT_GE(a.weights[static_cast<std::size_t>(i) * a.taps + t], 0) << i;
      sum += a.weights[static_cast<std::size_t>(i) * a.taps + t];
    }
    // Each weight is rounded on its own: the sum is 2^22 to within half a unit per tap.
    EXPECT_LE(std::abs(sum - kOne), a.taps) << "output " << i << " of " << in_size;
  }
}

TEST(ImageResample, HalvingHasFourTapsOfAnEighthAndThreeEighths) {
  const ResampleAxis a = ResampleAxis::bilinear(512, 256, 0, 256);
  EXPECT_FALSE(a.identity);
  EXPECT_EQ(a.taps, 4);
  expect_well_formed(a, 512, 256);
  // Inside: centre 2x+1, taps 2x-1 .. 2x+2 with 1/8, 3/8, 3/8, 1/8 (exact in 22 bits).
  EXPECT_EQ(a.first[100], 199);
  EXPECT_EQ(std::vector<std::int32_t>(a.weights.begin() + 400, a.weights.begin() + 404),
            (std::vector<std::int32_t>{kOne / 8, 3 * kOne / 8, 3 * kOne / 8, kOne / 8}));
  // The first output has three taps (3/7, 3/7, 1/7), padded with a zero after them.
  EXPECT_EQ(a.first[0], 0);
  EXPECT_EQ(a.weights[0], static_cast<std::int32_t>(0.5 + 3.0 / 7.0 * kOne));
  EXPECT_EQ(a.weights[2], static_cast<std::int32_t>(0.5 + 1.0 / 7.0 * kOne));
  EXPECT_EQ(a.weights[3], 0);
  // The last one too, its window moved left so it stays in the image: the zero goes first.
  EXPECT_EQ(a.first[255], 508);
  EXPECT_EQ(a.weights[255 * 4 + 0], 0);
  EXPECT_EQ(a.weights[255 * 4 + 1], static_cast<std::int32_t>(0.5 + 1.0 / 7.0 * kOne));
  EXPECT_EQ(a.weights[255 * 4 + 3], static_cast<std::int32_t>(0.5 + 3.0 / 7.0 * kOne));
}

TEST(ImageResample, TapsFollowTheScale) {
  struct Case {
    int in, out, keep_first, taps;
  };
  // Downscaling by s takes 2s taps, rounded up or one more; upscaling takes 2.
  for (const Case& c : {Case{451, 384, 80, 3}, Case{640, 383, 79, 4}, Case{1920, 455, 115, 9},
                        Case{1080, 256, 16, 9}, Case{300, 256, 16, 3}, Case{224, 256, 16, 2}, Case{7, 256, 16, 2},
                        Case{300, 10971, 5373, 2}}) {
    SCOPED_TRACE(std::to_string(c.in) + " -> " + std::to_string(c.out));
    const ResampleAxis a = ResampleAxis::bilinear(c.in, c.out, c.keep_first, 224);
    EXPECT_EQ(a.taps, c.taps);
    expect_well_formed(a, c.in, 224);
  }
}

TEST(ImageResample, SameSizeIsACopy) {
  const ResampleAxis a = ResampleAxis::bilinear(256, 256, 16, 224);
  EXPECT_TRUE(a.identity);
  EXPECT_EQ(a.taps, 1);
  expect_well_formed(a, 256, 224);
  for (int i = 0; i < 224; ++i) {
    EXPECT_EQ(a.first[i], 16 + i);
    EXPECT_EQ(a.weights[i], kOne);
  }
}

// --------------------------------------------------------------------------- normalisation

TEST(ImageNormalize, EveryValueIsTorchsFloat32Formula) {
  const double mean[3] = {0.485, 0.456, 0.406};
  const double std_[3] = {0.229, 0.224, 0.225};
  const Normalizer& n = imagenet_normalizer();
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      // ToTensor: float(v) / 255 in float32; Normalize: (x - float(mean)) / float(std).
      volatile float x = static_cast<float>(v) / 255.0f;
      x = x - static_cast<float>(mean[c]);
      x = x / static_cast<float>(std_[c]);
      const float want = x;
      EXPECT_EQ(std::bit_cast<std::uint32_t>(n.value(c, static_cast<std::uint8_t>(v))),
                std::bit_cast<std::uint32_t>(want))
          << "channel " << c << ", value " << v;
    }
  }
}

TEST(ImageNormalize, PixelOrderBecomesChannelPlanes) {
  const Normalizer n({0.0, 0.0, 0.0}, {1.0, 1.0, 1.0});
  const std::uint8_t hwc[] = {0, 51, 102, 153, 204, 255};  // two pixels
  float chw[6];
  n(hwc, 2, chw);
  const float want[] = {0.0f, 153.0f / 255.0f, 51.0f / 255.0f, 204.0f / 255.0f, 102.0f / 255.0f, 1.0f};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(chw[i], want[i]) << i;
}

// --------------------------------------------------------------------------- refused input

TEST(ImageErrors, EmptyInputIsRefused) {
  const std::string msg = user_error_of([] { decode_jpeg({}, "empty.jpg"); });
  EXPECT_NE(msg.find("empty.jpg"), std::string::npos) << msg;
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
}

TEST(ImageErrors, JunkBytesAreRefused) {
  const std::string text = "GIF89a, or any text that is not a JPEG at all";
  const std::vector<std::vector<std::uint8_t>> junk = {
      std::vector<std::uint8_t>(text.begin(), text.end()),
      {0xFF},
      {0xFF, 0xD8},  // SOI and nothing else
      {0xFF, 0xD8, 0xFF, 0xD9},  // SOI, EOI
      {0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x02, 0x12, 0x34},
      std::vector<std::uint8_t>(4096, 0x00),
      std::vector<std::uint8_t>(4096, 0xFF),
  };
  for (const auto& bytes : junk) {
    const std::string msg = user_error_of([&] { decode_jpeg(bytes, "junk.bin"); });
    EXPECT_NE(msg.find("junk.bin"), std::string::npos) << "a " << bytes.size() << "-byte input: '" << msg << "'";
  }
}

TEST(ImageErrors, TruncatedJpegIsRefusedAsTruncated) {
  for (const char* name :
       {"gen_640x480_q75_422", "gen_1920x1080_q85_420_prog", "gen_451x300_q60_gray_prog", "coffee"}) {
    std::vector<std::uint8_t> j = reference_jpeg(name);
    j.resize(j.size() / 2);
    const std::string msg = user_error_of([&] { decode_jpeg(j, "half.jpg"); });
    EXPECT_NE(msg.find("half.jpg"), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find("truncated"), std::string::npos) << name << ": " << msg;
  }
}

// Pillow refuses a JPEG that lacks only its end-of-image marker ("image file is truncated"),
// even though all of its pixels are there; so do we.
TEST(ImageErrors, MissingEndMarkerIsTruncatedAsInPillow) {
  for (const char* name : {"gen_640x480_q75_422", "gen_384x256_q70_422_prog", "chelsea"}) {
    std::vector<std::uint8_t> j = reference_jpeg(name);
    ASSERT_EQ(j[j.size() - 2], 0xFF);
    ASSERT_EQ(j[j.size() - 1], 0xD9);
    j.resize(j.size() - 2);
    const std::string msg = user_error_of([&] { decode_jpeg(j, "no-eoi.jpg"); });
    EXPECT_NE(msg.find("truncated"), std::string::npos) << name << ": " << msg;
  }
}

TEST(ImageErrors, HugeDeclaredDimensionsAreRefusedByTheLimit) {
  for (const char* name : {"gen_320x240_q90_420", "gen_1920x1080_q85_420_prog", "gen_500x375_q90_gray"}) {
    const std::vector<std::uint8_t> j = with_declared_size(reference_jpeg(name), 65000, 65000);
    const std::string msg = user_error_of([&] { decode_jpeg(j, "bomb.jpg"); });
    EXPECT_NE(msg.find("bomb.jpg"), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find("65000x65000"), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find(std::to_string(kMaxJpegPixels)), std::string::npos) << name << ": " << msg;
  }
  // One pixel over the limit is refused (13377 x 13378 = 178,957,506 > 178,956,970).
  const std::string msg =
      user_error_of([&] { decode_jpeg(with_declared_size(reference_jpeg("gen_320x240_q90_420"), 13377, 13378), "x"); });
  EXPECT_NE(msg.find("decompression-bomb"), std::string::npos) << msg;
}

TEST(ImageErrors, ZeroDimensionsAreRefused) {
  for (const auto& [w, h] : {std::pair{0, 240}, std::pair{320, 0}}) {
    const std::vector<std::uint8_t> j = with_declared_size(reference_jpeg("gen_320x240_q90_420"), w, h);
    EXPECT_NE(user_error_of([&] { decode_jpeg(j, "zero.jpg"); }), "") << w << "x" << h;
  }
}

// The JPEG with its last scan repeated until it has `scans` scans (0xFF 0xDA occurs only as a
// marker: in entropy-coded data 0xFF is followed by 0x00 or a restart marker).
std::vector<std::uint8_t> with_scans(const std::vector<std::uint8_t>& j, int scans) {
  std::vector<std::size_t> sos;
  for (std::size_t i = 0; i + 1 < j.size(); ++i) {
    if (j[i] == 0xFF && j[i + 1] == 0xDA) sos.push_back(i);
  }
  if (sos.empty() || static_cast<int>(sos.size()) > scans) throw std::runtime_error("cannot make that many scans");
  std::vector<std::uint8_t> out(j.begin(), j.end() - 2);  // without EOI
  const std::vector<std::uint8_t> last(j.begin() + static_cast<std::ptrdiff_t>(sos.back()), j.end() - 2);
  for (int n = static_cast<int>(sos.size()); n < scans; ++n) out.insert(out.end(), last.begin(), last.end());
  out.push_back(0xFF);
  out.push_back(0xD9);
  return out;
}

// Every scan of a progressive JPEG passes over the whole image; a repeated scan is only a
// warning to libjpeg, so a small file of many scans would cost seconds to minutes.
TEST(ImageErrors, MoreScansThanTheLimitAreRefused) {
  for (const char* name : {"gen_451x300_q60_gray_prog", "gen_384x256_q70_422_prog"}) {
    const std::vector<std::uint8_t> j = reference_jpeg(name);
    EXPECT_EQ(user_error_of([&] { decode_jpeg(with_scans(j, kMaxJpegScans), name); }), "") << name;
    const std::string msg = user_error_of([&] { decode_jpeg(with_scans(j, kMaxJpegScans + 1), "scans.jpg"); });
    EXPECT_NE(msg.find("scans.jpg"), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find("too many scans"), std::string::npos) << name << ": " << msg;
  }
}

TEST(ImageErrors, CmykIsRefused) {
  const auto file = image_refs::index_json().at("refused").at("cmyk").get<std::string>();
  const std::string msg = user_error_of([&] { decode_jpeg(image_refs::read_all(image_refs::folder() / file), file); });
  EXPECT_NE(msg.find("CMYK"), std::string::npos) << msg;
}

// Flipped bytes in the entropy-coded data: decoded (to some pixels) or refused with a
// UserError, never a crash or another exception; the sanitizer builds check the memory.
TEST(ImageErrors, CorruptEntropyDataIsDecodedOrRefusedNeverACrash) {
  const ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  std::mt19937 rng(20240601);
  int decoded = 0, refused = 0;
  for (const char* name : {"gen_320x240_q90_420", "gen_384x256_q70_422_prog", "gen_451x300_q60_gray_prog",
                           "gen_230x240_q90_444", "chelsea"}) {
    const std::vector<std::uint8_t> original = reference_jpeg(name);
    const std::size_t sos = find_segment(original, {0xDA});
    ASSERT_NE(sos, kNone) << name;
    const std::size_t data = sos + 2 + ((std::size_t{original[sos + 2]} << 8) | original[sos + 3]);
    ASSERT_LT(data + 16, original.size()) << name;
    for (int variant = 0; variant < 40; ++variant) {
      std::vector<std::uint8_t> j = original;
      const int flips = 1 + variant % 8;
      for (int f = 0; f < flips; ++f) {
        const std::size_t at = data + rng() % (j.size() - 2 - data);
        j[at] ^= static_cast<std::uint8_t>(1 + rng() % 255);
      }
      try {
        const RgbImage img = decode_jpeg(j, name);
        EXPECT_EQ(img.pixels.size(), static_cast<std::size_t>(img.width) * img.height * 3);
        pre.jpeg_to_crop(j, name, crop.data());
        ++decoded;
      } catch (const UserError&) {
        ++refused;
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << " variant " << variant << ": " << e.what();
      }
    }
  }
  EXPECT_EQ(decoded + refused, 200);
  std::printf("corrupt JPEGs: %d decoded, %d refused\n", decoded, refused);
}

}  // namespace
}  // namespace greenbatch
