#pragma once
// The study's preprocessing of one request, without LibTorch: decode the JPEG, Resize(256) and
// CenterCrop(224) as Pillow computes them (resize.hpp), giving the 224 x 224 x 3 bytes that
// torchvision's ToTensor would read; Normalize (normalize.hpp) writes the model's floats when a
// batch is assembled. Safe to call from several threads at once.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>

#include "image/jpeg.hpp"
#include "image/resize.hpp"

namespace greenbatch {

class ImagePreprocessor {
 public:
  explicit ImagePreprocessor(int resize = 256, int crop = 224);

  int crop() const { return crop_; }
  // Bytes of one prepared image: crop x crop x 3.
  std::size_t crop_bytes() const { return static_cast<std::size_t>(crop_) * crop_ * 3; }

  // Decodes `jpeg` and writes its resized, cropped pixels (crop_bytes()) to `out`. Throws
  // UserError naming `name` for an image that cannot be decoded or is too small.
  void jpeg_to_crop(std::span<const std::uint8_t> jpeg, const std::string& name, std::uint8_t* out) const;
  void rgb_to_crop(const RgbImage& img, std::uint8_t* out) const;

 private:
  // The plan for an image size: cached (the replay's three images, a server's common sizes) up
  // to a bound, so that many sizes cannot grow the cache without limit.
  std::shared_ptr<const ResizeCrop> plan_for(int width, int height) const;

  int resize_, crop_;
  mutable std::mutex mutex_;
  mutable std::map<std::pair<int, int>, std::shared_ptr<const ResizeCrop>> plans_;
};

}  // namespace greenbatch
