#pragma once
// JPEG decoding with libjpeg(-turbo), the decoder Pillow uses: default (islow) DCT and fancy
// upsampling, so pixels match what torchvision's PIL path sees. No LibTorch here.
#include <cstdint>
#include <string>
#include <vector>

namespace greenbatch {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;  // height x width x 3, row-major
};

// Throws UserError naming `name` if the bytes are not a decodable JPEG.
RgbImage decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& name);

std::vector<std::uint8_t> read_file_bytes(const std::string& path);

}  // namespace greenbatch
