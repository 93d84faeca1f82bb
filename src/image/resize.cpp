#include "image/resize.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"

#if defined(__x86_64__)
#include <immintrin.h>
#define GREENBATCH_RESIZE_AVX2 1
#endif

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

// The vertical pass for one output row: out[x] = clip8(half + sum_t rows_t[x] * w[t]) over `n`
// bytes (the portable path; the AVX2 one below gives the same sums: integer addition does not
// depend on its order).
void vertical_row(const std::uint8_t* rows, std::size_t stride, const std::int32_t* w, int taps, std::size_t n,
                  std::int32_t* sums, std::uint8_t* out) {
  for (std::size_t x = 0; x < n; ++x) sums[x] = kHalf;
  for (int t = 0; t < taps; ++t) {
    const std::uint8_t* r = rows + static_cast<std::size_t>(t) * stride;
    const std::int32_t wt = w[t];
    if (wt == 0) continue;
    for (std::size_t x = 0; x < n; ++x) sums[x] += static_cast<std::int32_t>(r[x]) * wt;
  }
  for (std::size_t x = 0; x < n; ++x) out[x] = clip8(sums[x]);
}

// The horizontal pass for one row: `count` output pixels of 3 channels. Taps > 0 fixes the
// number of taps at compile time (unrolled); 0 takes `taps` as given.
template <int Taps>
void horizontal_row_fixed(const std::uint8_t* in, const int* first, const std::int32_t* weights, int taps, int count,
                          std::uint8_t* out) {
  if constexpr (Taps > 0) taps = Taps;
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

void horizontal_row(const std::uint8_t* in, const int* first, const std::int32_t* weights, int taps, int count,
                    std::uint8_t* out) {
  switch (taps) {
    case 2: return horizontal_row_fixed<2>(in, first, weights, taps, count, out);
    case 3: return horizontal_row_fixed<3>(in, first, weights, taps, count, out);
    case 4: return horizontal_row_fixed<4>(in, first, weights, taps, count, out);
    case 5: return horizontal_row_fixed<5>(in, first, weights, taps, count, out);
    case 6: return horizontal_row_fixed<6>(in, first, weights, taps, count, out);
    default: return horizontal_row_fixed<0>(in, first, weights, taps, count, out);
  }
}

#ifdef GREENBATCH_RESIZE_AVX2
bool have_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}

// The vertical pass, 16 bytes at a time: bytes widened to 32-bit lanes, 32-bit products and sums
// (vpmulld, vpaddd), the arithmetic shift by 22, then clipped to 0..255 by the saturating packs
// (to int16, then to uint8), which give clip8's result for every 32-bit value.
__attribute__((target("avx2"))) void vertical_row_avx2(const std::uint8_t* rows, std::size_t stride,
                                                       const std::int32_t* w, int taps, std::size_t n,
                                                       std::int32_t* sums, std::uint8_t* out) {
  const __m256i half = _mm256_set1_epi32(kHalf);
  std::size_t x = 0;
  for (; x + 16 <= n; x += 16) {
    __m256i a0 = half, a1 = half;
    for (int t = 0; t < taps; ++t) {
      const __m256i wt = _mm256_set1_epi32(w[t]);
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows + static_cast<std::size_t>(t) * stride + x));
      a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b), wt));
      a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)), wt));
    }
    a0 = _mm256_srai_epi32(a0, kPrecisionBits);
    a1 = _mm256_srai_epi32(a1, kPrecisionBits);
    const __m256i p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xD8);
    const __m128i p8 = _mm_packus_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + x), p8);
  }
  if (x < n) vertical_row(rows + x, stride, w, taps, n - x, sums, out + x);
}

// The horizontal pass, two output pixels at a time (`count` even): each tap loads 4 bytes of
// each pixel (R, G, B and the next byte, whose lane is discarded), widened to one 128-bit half
// each, times that pixel's weight (`pair_weights`: per pair and tap, 4 x the first pixel's weight,
// 4 x the second's). Writes 3 bytes per pixel plus one byte past the pair, which the next pair
// (or row) overwrites: the caller leaves that byte room. Reads one byte past the last tap: the
// caller keeps pixels whose last tap is the row's last pixel for the portable path.
template <int Taps>
__attribute__((target("avx2"))) void horizontal_pairs_avx2(const std::uint8_t* in, const int* first,
                                                           const std::int32_t* pair_weights, int taps, int count,
                                                           std::uint8_t* out) {
  if constexpr (Taps > 0) taps = Taps;
  const __m256i half = _mm256_set1_epi32(kHalf);
  for (int xx = 0; xx < count; xx += 2) {
    const std::uint8_t* pa = in + static_cast<std::size_t>(first[xx]) * 3;
    const std::uint8_t* pb = in + static_cast<std::size_t>(first[xx + 1]) * 3;
    const std::int32_t* k = pair_weights + static_cast<std::size_t>(xx / 2) * taps * 8;
    __m256i acc = half;
    for (int t = 0; t < taps; ++t) {
      std::uint32_t a, b;
      std::memcpy(&a, pa + 3 * t, 4);
      std::memcpy(&b, pb + 3 * t, 4);
      const __m128i ab = _mm_cvtsi64_si128(static_cast<long long>(static_cast<std::uint64_t>(b) << 32 | a));
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + 8 * t));
      acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(ab), w));
    }
    acc = _mm256_srai_epi32(acc, kPrecisionBits);
    const __m256i p16 = _mm256_packs_epi32(acc, acc);
    const __m256i p8 = _mm256_packus_epi16(p16, p16);
    const std::uint32_t ra = static_cast<std::uint32_t>(_mm256_cvtsi256_si32(p8));
    const std::uint32_t rb = static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm256_extracti128_si256(p8, 1)));
    std::memcpy(out + 3 * xx, &ra, 4);
    std::memcpy(out + 3 * xx + 3, &rb, 4);
  }
}

void horizontal_pairs(const std::uint8_t* in, const int* first, const std::int32_t* pair_weights, int taps, int count,
                      std::uint8_t* out) {
  switch (taps) {
    case 2: return horizontal_pairs_avx2<2>(in, first, pair_weights, taps, count, out);
    case 3: return horizontal_pairs_avx2<3>(in, first, pair_weights, taps, count, out);
    case 4: return horizontal_pairs_avx2<4>(in, first, pair_weights, taps, count, out);
    case 5: return horizontal_pairs_avx2<5>(in, first, pair_weights, taps, count, out);
    case 6: return horizontal_pairs_avx2<6>(in, first, pair_weights, taps, count, out);
    default: return horizontal_pairs_avx2<0>(in, first, pair_weights, taps, count, out);
  }
}
#endif

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
#ifdef GREENBATCH_RESIZE_AVX2
  avx2_ = have_avx2();
  if (avx2_ && !horizontal_.identity) {
    // Pairs of kept columns whose 4-byte loads stay inside the row (the last tap is not the
    // row's last pixel); `first` only grows, so those are a prefix.
    const int taps = horizontal_.taps;
    while (pairs_count_ + 2 <= crop_ && horizontal_.first[pairs_count_ + 1] + taps < width_) pairs_count_ += 2;
    for (int xx = 0; xx < pairs_count_; xx += 2) {
      for (int t = 0; t < taps; ++t) {
        for (int p = 0; p < 2; ++p) {
          const std::int32_t w = horizontal_.weights[static_cast<std::size_t>(xx + p) * taps + t];
          pair_weights_.insert(pair_weights_.end(), 4, w);
        }
      }
    }
  }
#endif
}

std::pair<int, int> ResizeCrop::columns_read() const {
  if (horizontal_.identity) return {left_, left_ + crop_};
  return {horizontal_.first.front(), horizontal_.first.back() + horizontal_.taps};
}

void ResizeCrop::operator()(const std::uint8_t* rgb, std::uint8_t* out, ResizeScratch& s) const {
  const std::size_t in_stride = static_cast<std::size_t>(width_) * 3;
  const std::size_t row_bytes = static_cast<std::size_t>(crop_) * 3;
  // 4 bytes more: the AVX2 horizontal pass writes one byte past its last pixel.
  s.rows.resize(static_cast<std::size_t>(row_count_) * row_bytes + 4);
  s.sums.resize(row_bytes);
  const int taps = horizontal_.taps;
  const int rest = crop_ - pairs_count_;
  // Horizontal pass over the rows the vertical one reads, for the kept columns only.
  for (int r = 0; r < row_count_; ++r) {
    const std::uint8_t* in = rgb + static_cast<std::size_t>(row_first_ + r) * in_stride;
    std::uint8_t* to = s.rows.data() + static_cast<std::size_t>(r) * row_bytes;
    if (horizontal_.identity) {
      std::memcpy(to, in + static_cast<std::size_t>(left_) * 3, row_bytes);
      continue;
    }
#ifdef GREENBATCH_RESIZE_AVX2
    if (pairs_count_ > 0) horizontal_pairs(in, horizontal_.first.data(), pair_weights_.data(), taps, pairs_count_, to);
#endif
    if (rest > 0) {
      horizontal_row(in, horizontal_.first.data() + pairs_count_,
                     horizontal_.weights.data() + static_cast<std::size_t>(pairs_count_) * taps, taps, rest,
                     to + static_cast<std::size_t>(pairs_count_) * 3);
    }
  }
  // Vertical pass, one output row at a time.
  for (int yy = 0; yy < crop_; ++yy) {
    std::uint8_t* to = out + static_cast<std::size_t>(yy) * row_bytes;
    const std::uint8_t* from = s.rows.data() + static_cast<std::size_t>(vertical_.first[yy] - row_first_) * row_bytes;
    const std::int32_t* w = vertical_.weights.data() + static_cast<std::size_t>(yy) * vertical_.taps;
    if (vertical_.identity) {
      std::memcpy(to, from, row_bytes);
#ifdef GREENBATCH_RESIZE_AVX2
    } else if (avx2_) {
      vertical_row_avx2(from, row_bytes, w, vertical_.taps, row_bytes, s.sums.data(), to);
#endif
    } else {
      vertical_row(from, row_bytes, w, vertical_.taps, row_bytes, s.sums.data(), to);
    }
  }
}

}  // namespace greenbatch
