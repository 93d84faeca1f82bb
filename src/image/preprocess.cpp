#include "image/preprocess.hpp"

#include "core/error.hpp"

namespace greenbatch {

namespace {
constexpr std::size_t kMaxCachedPlans = 64;

ResizeScratch& thread_scratch() {
  thread_local ResizeScratch scratch;
  return scratch;
}
}  // namespace

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
  (*plan_for(img.width, img.height))(img.pixels.data(), out, thread_scratch());
}

void ImagePreprocessor::jpeg_to_crop(std::span<const std::uint8_t> jpeg, const std::string& name,
                                     std::uint8_t* out) const {
  thread_local RgbImage decoded;
  std::shared_ptr<const ResizeCrop> plan;
  // Only the pixels the resize reads are decoded (the same pixels as a whole decode there).
  decode_jpeg(jpeg, name, decoded, [&](int width, int height) {
    try {
      plan = plan_for(width, height);
    } catch (const UserError& e) {
      throw UserError("image " + name + ": " + e.what());
    }
    const auto [x0, x1] = plan->columns_read();
    const auto [y0, y1] = plan->rows_read();
    return PixelBox{x0, y0, x1, y1};
  });
  (*plan)(decoded.pixels.data(), out, thread_scratch());
}

}  // namespace greenbatch
