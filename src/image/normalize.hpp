#pragma once
// torchvision's ToTensor then Normalize(mean, std) of 8-bit RGB pixels, as torch computes them in
// float32: (v / 255 - mean) / std, each operation rounded to float32. An 8-bit channel has 256
// values, so the results are a table computed once with exactly those operations; applying it
// is a lookup and the move from pixel order (HWC) to channel planes (CHW).
#include <array>
#include <cstddef>
#include <cstdint>

namespace greenbatch {

class Normalizer {
 public:
  // The mean and std as Python gives them (doubles), rounded to float32 as torch.as_tensor does.
  Normalizer(std::array<double, 3> mean, std::array<double, 3> std);
  // `pixels` RGB pixels (HWC bytes) -> three planes of `pixels` floats (CHW).
  void operator()(const std::uint8_t* hwc, std::size_t pixels, float* chw) const;
  float value(int channel, std::uint8_t v) const { return table_[channel][v]; }

 private:
  std::array<std::array<float, 256>, 3> table_{};
};

// ImageNet's mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225), the study's.
const Normalizer& imagenet_normalizer();

}  // namespace greenbatch
