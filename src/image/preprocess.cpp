#include "image/preprocess.hpp"

#include "core/error.hpp"

namespace greenbatch {

namespace {
constexpr std::size_t kMaxCachedPlans = 64;
}

ImagePreprocessor::ImagePreprocessor(int resize, int crop) : resize_(resize), crop_(crop) {}

std::shared_ptr<const ResizeCrop> ImagePreprocessor::plan_for(int width, int height) const {
  const auto key = std::make_pair(width, height);
  {
    std::lock_guard lock(mutex_);
    if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  }
  auto plan = std::make_shared<const ResizeCrop>(width, height, resize_, crop_);  // throws for a too-small image
  std::lock_guard lock(mutex_);
  if (plans_.size() < kMaxCachedPlans) plans_.emplace(key, plan);
  return plan;
}

void ImagePreprocessor::rgb_to_crop(const RgbImage& img, std::uint8_t* out) const {
  thread_local ResizeScratch scratch;
  (*plan_for(img.width, img.height))(img.pixels.data(), out, scratch);
}

void ImagePreprocessor::jpeg_to_crop(std::span<const std::uint8_t> jpeg, const std::string& name,
                                     std::uint8_t* out) const {
  thread_local RgbImage decoded;
  decode_jpeg(jpeg, name, decoded);
  try {
    rgb_to_crop(decoded, out);
  } catch (const UserError& e) {
    throw UserError("image " + name + ": " + e.what());
  }
}

}  // namespace greenbatch
