#include "image/normalize.hpp"

namespace greenbatch {

Normalizer::Normalizer(std::array<double, 3> mean, std::array<double, 3> std) {
  for (int c = 0; c < 3; ++c) {
    const float m = static_cast<float>(mean[c]);
    const float s = static_cast<float>(std[c]);
    for (int v = 0; v < 256; ++v) {
      // img.float().div(255), then tensor.sub_(mean).div_(std): three float32 roundings.
      volatile float t = static_cast<float>(v) / 255.0f;
      t = t - m;
      t = t / s;
      table_[c][v] = t;
    }
  }
}

void Normalizer::operator()(const std::uint8_t* hwc, std::size_t pixels, float* chw) const {
  float* r = chw;
  float* g = chw + pixels;
  float* b = chw + 2 * pixels;
  const float* tr = table_[0].data();
  const float* tg = table_[1].data();
  const float* tb = table_[2].data();
  for (std::size_t i = 0; i < pixels; ++i) {
    r[i] = tr[hwc[3 * i + 0]];
    g[i] = tg[hwc[3 * i + 1]];
    b[i] = tb[hwc[3 * i + 2]];
  }
}

const Normalizer& imagenet_normalizer() {
  static const Normalizer n({0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
  return n;
}

}  // namespace greenbatch
