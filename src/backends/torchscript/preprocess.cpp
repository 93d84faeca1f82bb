#include "backends/torchscript/preprocess.hpp"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "core/error.hpp"

namespace greenbatch {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's Resample.c
constexpr double kHalf = 1 << (kPrecisionBits - 1);
constexpr double kScale = 1 << kPrecisionBits;

double bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// One separable pass as Pillow computes it: sum of pixel x weight in fixed point, plus a half,
// shifted down 22 bits (floor), clipped to 0..255. Exact in float64 (all terms < 2^53).
torch::Tensor fixed_point_round(const torch::Tensor& acc) {
  return torch::floor((acc + kHalf) / kScale).clamp_(0, 255);
}

}  // namespace

torch::Tensor Preprocessor::pil_bilinear_weights(int in_size, int out_size) {
  // precompute_coeffs() and normalize_coeffs_8bpc() of Pillow 9's Resample.c.
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  std::vector<double> w(static_cast<std::size_t>(out_size) * in_size, 0.0);
  std::vector<double> k;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    k.assign(static_cast<std::size_t>(xmax), 0.0);
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bilinear((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      const double fixed = k[x] < 0 ? static_cast<int>(-0.5 + k[x] * kScale) : static_cast<int>(0.5 + k[x] * kScale);
      w[static_cast<std::size_t>(xx) * in_size + xmin + x] = fixed;
    }
  }
  return torch::from_blob(w.data(), {out_size, in_size}, torch::kFloat64).clone();
}

std::pair<int, int> Preprocessor::resized_size(int width, int height, int shorter) {
  // torchvision 0.14 _compute_resized_output_size: the long side is truncated.
  if (width <= height) return {shorter, static_cast<int>(static_cast<double>(shorter) * height / width)};
  return {static_cast<int>(static_cast<double>(shorter) * width / height), shorter};
}

Preprocessor::Preprocessor(torch::Device device, int resize, int crop)
    : device_(device), resize_(resize), crop_(crop) {
  mean_ = torch::tensor({0.485f, 0.456f, 0.406f}, torch::kFloat32).view({3, 1, 1}).to(device_);
  std_ = torch::tensor({0.229f, 0.224f, 0.225f}, torch::kFloat32).view({3, 1, 1}).to(device_);
}

const Preprocessor::Plan& Preprocessor::plan_for(int width, int height) {
  const auto key = std::make_pair(width, height);
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;
  auto [rw, rh] = resized_size(width, height, resize_);
  Plan p;
  // torchvision returns the image untouched when its shorter side already has the size.
  if ((width <= height && width == resize_) || (height <= width && height == resize_)) {
    rw = width;
    rh = height;
  }
  if (rw < crop_ || rh < crop_) {
    throw UserError(fmt::format("image of {}x{} is smaller than the {}x{} crop after resizing", width, height, crop_,
                                crop_));
  }
  // CenterCrop: Python's round(), which rounds halves to even, as std::nearbyint does.
  p.top = static_cast<int>(std::nearbyint((rh - crop_) / 2.0));
  p.left = static_cast<int>(std::nearbyint((rw - crop_) / 2.0));
  // Pillow skips a pass whose size does not change.
  p.resize_w = rw != width;
  p.resize_h = rh != height;
  const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  p.horizontal = (p.resize_w ? pil_bilinear_weights(width, rw)
                             : torch::eye(width, opts).mul_(kScale))
                     .narrow(0, p.left, crop_)
                     .contiguous()
                     .to(device_);
  p.vertical = (p.resize_h ? pil_bilinear_weights(height, rh)
                           : torch::eye(height, opts).mul_(kScale))
                   .narrow(0, p.top, crop_)
                   .contiguous()
                   .to(device_);
  return plans_.emplace(key, std::move(p)).first->second;
}

torch::Tensor Preprocessor::operator()(const RgbImage& img) {
  const Plan& p = plan_for(img.width, img.height);
  // HWC uint8 -> CHW float64 on the device.
  torch::Tensor x = torch::from_blob(const_cast<std::uint8_t*>(img.pixels.data()), {img.height, img.width, 3},
                                     torch::kUInt8)
                        .to(device_)
                        .permute({2, 0, 1})
                        .to(torch::kFloat64);
  // Horizontal pass first, as Pillow does, then the vertical one, each rounded to 8 bits.
  x = fixed_point_round(torch::matmul(x, p.horizontal.t()));              // [3, H, crop]
  x = fixed_point_round(torch::matmul(p.vertical, x));                    // [3, crop, crop]
  // ToTensor, then Normalize in float32 as torchvision does.
  return x.to(torch::kFloat32).div_(255.0f).sub_(mean_).div_(std_);
}

}  // namespace greenbatch
