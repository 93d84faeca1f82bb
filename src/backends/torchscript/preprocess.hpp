#pragma once
// The study's preprocessing, exactly as torchvision applies it to a PIL image:
// Resize(256) (Pillow's antialiased bilinear, in its 22-bit fixed point, rounded to 8 bits
// after each pass), CenterCrop(224), ToTensor (/255), Normalize(ImageNet mean and std).
// Written as LibTorch ops (matrix products in float64, exact for these integers) so that it
// runs on the GPU as well as on the CPU.
#include <torch/torch.h>

#include <map>
#include <utility>

#include "backends/torchscript/jpeg.hpp"

namespace greenbatch {

class Preprocessor {
 public:
  explicit Preprocessor(torch::Device device, int resize = 256, int crop = 224);
  // [3, crop, crop] float32 on the device.
  torch::Tensor operator()(const RgbImage& img);

  // Pillow's resampling weights for one axis (rows: output pixels, columns: input pixels),
  // as the integers Pillow uses (scaled by 2^22), in float64. Exposed for tests.
  static torch::Tensor pil_bilinear_weights(int in_size, int out_size);
  // torchvision's Resize(int) output size (width, height) for an image.
  static std::pair<int, int> resized_size(int width, int height, int shorter);

 private:
  struct Plan {
    torch::Tensor horizontal;  // [crop, width], only the columns kept by the crop
    torch::Tensor vertical;    // [crop, height], only the rows kept
    bool resize_w = true, resize_h = true;
    int left = 0, top = 0;
  };
  const Plan& plan_for(int width, int height);

  torch::Device device_;
  int resize_, crop_;
  torch::Tensor mean_, std_;
  std::map<std::pair<int, int>, Plan> plans_;
};

}  // namespace greenbatch
