#pragma once
// JPEG decoding with libjpeg-turbo, the decoder Pillow uses, with Pillow's settings: the exact
// integer DCT (islow) and fancy upsampling, so the pixels are the ones torchvision's PIL path
// sees. No LibTorch here.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace greenbatch {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // height x width x 3, row-major
};

// The most pixels a JPEG may declare: Pillow's decompression-bomb error threshold (2 x
// Image.MAX_IMAGE_PIXELS), so a header cannot make one request allocate gigabytes.
inline constexpr std::uint64_t kMaxJpegPixels = 2ull * 89478485ull;

// Decodes a baseline or progressive JPEG (YCbCr or grayscale; grayscale is given as R = G = B,
// as Pillow's convert("RGB") does). Throws UserError naming `name` and saying what was wrong:
// not a JPEG, truncated (Pillow refuses these too), corrupt, CMYK, or too many pixels.
RgbImage decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name);
// The same into `out`, reusing its memory (a worker decoding one image after another).
void decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name, RgbImage& out);

std::vector<std::uint8_t> read_file_bytes(const std::string& path);

}  // namespace greenbatch
