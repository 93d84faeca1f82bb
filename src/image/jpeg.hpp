#pragma once
// JPEG decoding with libjpeg-turbo, the decoder Pillow uses, with Pillow's settings: the exact
// integer DCT (islow) and fancy upsampling, so the pixels are the ones torchvision's PIL path
// sees. No LibTorch here.
#include <cstdint>
#include <functional>
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

// The most scans a JPEG may have. Each scan of a progressive JPEG passes over every block of
// the image again, and libjpeg only warns about a scan that repeats one already seen, so a
// request of repeated tiny scans costs time in proportion to its bytes times its pixels: 166 KB
// declaring 4096x4096 in 3030 scans took 32 s to decode (Pillow: 44 s). Encoders write about
// ten (libjpeg's default progression), a few dozen at most; 500 is libjpeg-turbo's own bound
// (its fuzzers, TJPARAM_SCANLIMIT). Pillow has none: such files are decoded there, refused here.
inline constexpr int kMaxJpegScans = 500;

// Decodes a baseline or progressive JPEG (YCbCr or grayscale; grayscale is given as R = G = B,
// as Pillow's convert("RGB") does). Throws UserError naming `name` and saying what was wrong:
// not a JPEG, truncated (Pillow refuses these too), corrupt, CMYK, too many pixels or scans.
RgbImage decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name);
// The same into `out`, reusing its memory (a worker decoding one image after another).
void decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name, RgbImage& out);

// The part of an image a caller will read: columns [x0, x1) and rows [y0, y1).
struct PixelBox {
  int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
// Decodes only what is needed for `box(width, height)` (asked once the header is read; it may
// throw): `out` has the whole image's size, and the pixels inside the box are the ones the
// whole decode gives (a margin around the box is decoded so that the chroma upsampling at its
// edges sees the same neighbours); the pixels outside it are unspecified. The rest of the data
// is still read through, so errors (truncation) are the same as for the whole decode.
void decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name, RgbImage& out,
                 const std::function<PixelBox(int width, int height)>& box);

std::vector<std::uint8_t> read_file_bytes(const std::string& path);

}  // namespace greenbatch
