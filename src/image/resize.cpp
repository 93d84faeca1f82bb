#include "image/resize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace greenbatch {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's Resample.c
constexpr std::int32_t kHalf = 1 << (kPrecisionBits - 1);

double bilinear(double x) {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

// Pillow's clip8: the sum shifted down (an arithmetic shift: floor), clipped to 0..255.
inline std::uint8_t clip8(std::int32_t sum) {
  const std::int32_t v = sum >> kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// target_clones makes vertical_row an ifunc, whose resolver the dynamic loader runs while it
// relocates the program, before ThreadSanitizer's runtime is set up: instrumented by TSan, it
// crashes every program that links this file at startup (a segfault in the resolver). Under
// TSan the default version alone is built; the sums are the same integers either way.
#if defined(__SANITIZE_THREAD__)
#define GB_VECTOR_CLONES
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GB_VECTOR_CLONES
#endif
#endif
#ifndef GB_VECTOR_CLONES
#define GB_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif

// The vertical pass for one output row: sums[x] = half + sum_t rows_t[x] * w[t] over `n` bytes.
// The loop over x is the one the compiler vectorises (widening 8-bit to 32-bit products).
GB_VECTOR_CLONES void vertical_row(const std::uint8_t* rows, std::size_t stride, const std::int32_t* w, int taps,
                                   std::size_t n, std::int32_t* sums, std::uint8_t* out) {
  for (std::size_t x = 0; x < n; ++x) sums[x] = kHalf;
  for (int t = 0; t < taps; ++t) {
    const std::uint8_t* r = rows + static_cast<std::size_t>(t) * stride;
    const std::int32_t wt = w[t];
    if (wt == 0) continue;
    for (std::size_t x = 0; x < n; ++x) sums[x] += static_cast<std::int32_t>(r[x]) * wt;
  }
  for (std::size_t x = 0; x < n; ++x) out[x] = clip8(sums[x]);
}

// The horizontal pass for one row: `count` output pixels of 3 channels.
template <int Taps>
void horizontal_row_fixed(const std::uint8_t* in, const int* first, const std::int32_t* weights, int count,
                          std::uint8_t* out) {
  for (int xx = 0; xx < count; ++xx) {
    const std::uint8_t* p = in + static_cast<std::size_t>(first[xx]) * 3;
    const std::int32_t* k = weights + static_cast<std::size_t>(xx) * Taps;
    std::int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
    for (int t = 0; t < Taps; ++t) {
      s0 += p[3 * t + 0] * k[t];
      s1 += p[3 * t + 1] * k[t];
      s2 += p[3 * t + 2] * k[t];
    }
    out[3 * xx + 0] = clip8(s0);
    out[3 * xx + 1] = clip8(s1);
    out[3 * xx + 2] = clip8(s2);
  }
}

void horizontal_row(const std::uint8_t* in, const int* first, const std::int32_t* weights, int taps, int count,
                    std::uint8_t* out) {
  switch (taps) {
    case 2: return horizontal_row_fixed<2>(in, first, weights, count, out);
    case 3: return horizontal_row_fixed<3>(in, first, weights, count, out);
    case 4: return horizontal_row_fixed<4>(in, first, weights, count, out);
    case 5: return horizontal_row_fixed<5>(in, first, weights, count, out);
    case 6: return horizontal_row_fixed<6>(in, first, weights, count, out);
    default: break;
  }
  for (int xx = 0; xx < count; ++xx) {
    const std::uint8_t* p = in + static_cast<std::size_t>(first[xx]) * 3;
    const std::int32_t* k = weights + static_cast<std::size_t>(xx) * taps;
    std::int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
    for (int t = 0; t < taps; ++t) {
      s0 += p[3 * t + 0] * k[t];
      s1 += p[3 * t + 1] * k[t];
      s2 += p[3 * t + 2] * k[t];
    }
    out[3 * xx + 0] = clip8(s0);
    out[3 * xx + 1] = clip8(s1);
    out[3 * xx + 2] = clip8(s2);
  }
}

}  // namespace

ResampleAxis ResampleAxis::bilinear(int in_size, int out_size, int keep_first, int keep_count) {
  ResampleAxis a;
  a.identity = in_size == out_size;
  if (a.identity) {
    a.taps = 1;
    for (int xx = keep_first; xx < keep_first + keep_count; ++xx) {
      a.first.push_back(xx);
      a.weights.push_back(1 << kPrecisionBits);
    }
    return a;
  }
  // precompute_coeffs() of Pillow 9's Resample.c, for the kept outputs only.
  const double scale = static_cast<double>(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = 1.0 * filterscale;
  const double ss = 1.0 / filterscale;
  std::vector<std::vector<double>> ks;
  std::vector<int> mins;
  for (int xx = keep_first; xx < keep_first + keep_count; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    std::vector<double> k(static_cast<std::size_t>(std::max(xmax, 0)));
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = greenbatch::bilinear((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    for (double& v : k) {
      if (ww != 0.0) v /= ww;
    }
    a.taps = std::max(a.taps, xmax);
    mins.push_back(xmin);
    ks.push_back(std::move(k));
  }
  // normalize_coeffs_8bpc(), each output's weights zero-padded to `taps`. Where the padding
  // would run past the image, the window is moved left and the zeros go in front instead.
  for (std::size_t i = 0; i < ks.size(); ++i) {
    const int n = static_cast<int>(ks[i].size());
    const int start = std::min(mins[i], in_size - a.taps);
    const int lead = mins[i] - start;
    a.first.push_back(start);
    for (int t = 0; t < a.taps; ++t) {
      const int j = t - lead;
      const double k = j >= 0 && j < n ? ks[i][j] : 0.0;
      const double scaled = k * (1 << kPrecisionBits);
      a.weights.push_back(k < 0 ? static_cast<std::int32_t>(-0.5 + scaled) : static_cast<std::int32_t>(0.5 + scaled));
    }
  }
  return a;
}

std::pair<int, int> ResizeCrop::resized_size(int width, int height, int shorter) {
  // torchvision 0.14 _compute_resized_output_size: the long side is truncated.
  if (width <= height) return {shorter, static_cast<int>(static_cast<double>(shorter) * height / width)};
  return {static_cast<int>(static_cast<double>(shorter) * width / height), shorter};
}

ResizeCrop::ResizeCrop(int width, int height, int resize, int crop) : width_(width), height_(height), crop_(crop) {
  if (width <= 0 || height <= 0 || resize <= 0 || crop <= 0) {
    throw UserError(fmt::format("cannot resize a {}x{} image to {} and crop {}", width, height, resize, crop));
  }
  auto [rw, rh] = resized_size(width, height, resize);
  // torchvision returns the image untouched when its shorter side already has the size.
  if ((width <= height && width == resize) || (height <= width && height == resize)) {
    rw = width;
    rh = height;
  }
  if (rw < crop || rh < crop) {
    throw UserError(fmt::format("image of {}x{} is smaller than the {}x{} crop after resizing (to {}x{})", width,
                                height, crop, crop, rw, rh));
  }
  // CenterCrop: Python's round(), which rounds halves to even, as std::nearbyint does.
  top_ = static_cast<int>(std::nearbyint((rh - crop) / 2.0));
  left_ = static_cast<int>(std::nearbyint((rw - crop) / 2.0));
  horizontal_ = ResampleAxis::bilinear(width, rw, left_, crop);
  vertical_ = ResampleAxis::bilinear(height, rh, top_, crop);
  // The input rows the vertical pass reads (Pillow's ybox_first .. ybox_last).
  row_first_ = vertical_.first.front();
  row_count_ = vertical_.first.back() + vertical_.taps - row_first_;
}

void ResizeCrop::operator()(const std::uint8_t* rgb, std::uint8_t* out, ResizeScratch& s) const {
  const std::size_t in_stride = static_cast<std::size_t>(width_) * 3;
  const std::size_t row_bytes = static_cast<std::size_t>(crop_) * 3;
  s.rows.resize(static_cast<std::size_t>(row_count_) * row_bytes);
  s.sums.resize(row_bytes);
  // Horizontal pass over the rows the vertical one reads, for the kept columns only.
  for (int r = 0; r < row_count_; ++r) {
    const std::uint8_t* in = rgb + static_cast<std::size_t>(row_first_ + r) * in_stride;
    std::uint8_t* to = s.rows.data() + static_cast<std::size_t>(r) * row_bytes;
    if (horizontal_.identity) {
      std::memcpy(to, in + static_cast<std::size_t>(left_) * 3, row_bytes);
    } else {
      horizontal_row(in, horizontal_.first.data(), horizontal_.weights.data(), horizontal_.taps, crop_, to);
    }
  }
  // Vertical pass, one output row at a time.
  for (int yy = 0; yy < crop_; ++yy) {
    std::uint8_t* to = out + static_cast<std::size_t>(yy) * row_bytes;
    const std::uint8_t* from = s.rows.data() + static_cast<std::size_t>(vertical_.first[yy] - row_first_) * row_bytes;
    if (vertical_.identity) {
      std::memcpy(to, from, row_bytes);
    } else {
      vertical_row(from, row_bytes, vertical_.weights.data() + static_cast<std::size_t>(yy) * vertical_.taps,
                   vertical_.taps, row_bytes, s.sums.data(), to);
    }
  }
}

}  // namespace greenbatch
