#pragma once
// torchvision's Resize(shorter) then CenterCrop(crop) on a PIL image, computed as Pillow 9
// computes it (Resample.c, 8 bits per channel): antialiased bilinear weights in 22-bit fixed
// point, per output pixel only the taps inside the filter's support, 32-bit integer sums with a
// rounding half, shifted and clipped to 8 bits after each pass; horizontal pass first, a pass
// skipped when its size does not change. Only the rows and columns the crop keeps are computed,
// which gives the same pixels (each output pixel depends only on its own taps).
#include <cstdint>
#include <utility>
#include <vector>

namespace greenbatch {

// One axis: for each kept output pixel, its first input pixel and its fixed-point weights.
struct ResampleAxis {
  bool identity = false;       // the size does not change: Pillow skips the pass (a copy)
  int taps = 0;                // weights per output pixel (zero-padded to the widest support)
  std::vector<int> first;      // per kept output pixel: first input pixel
  std::vector<std::int32_t> weights;  // per kept output pixel: `taps` weights, scaled by 2^22

  // Pillow's precompute_coeffs + normalize_coeffs_8bpc for in_size -> out_size, keeping outputs
  // [keep_first, keep_first + keep_count).
  static ResampleAxis bilinear(int in_size, int out_size, int keep_first, int keep_count);
};

// Per-thread working memory of ResizeCrop (reused between images).
struct ResizeScratch {
  std::vector<std::uint8_t> rows;   // the horizontal pass's output
  std::vector<std::int32_t> sums;   // one output row's sums in the vertical pass
};

class ResizeCrop {
 public:
  // Plans the resize of a width x height image. Throws UserError when the resized image is
  // smaller than the crop.
  ResizeCrop(int width, int height, int resize = 256, int crop = 224);

  // torchvision 0.14's Resize(int) output size (width, height): the shorter side becomes
  // `shorter`, the longer one is truncated.
  static std::pair<int, int> resized_size(int width, int height, int shorter);

  int width() const { return width_; }
  int height() const { return height_; }
  int crop() const { return crop_; }
  // The input pixels operator() reads: columns [first, last) and rows [first, last).
  std::pair<int, int> columns_read() const;
  std::pair<int, int> rows_read() const { return {row_first_, row_first_ + row_count_}; }

  // `rgb`: height x width x 3 bytes; writes crop x crop x 3 bytes to `out`. The plan is
  // read-only, so threads may share it, each with its own scratch.
  void operator()(const std::uint8_t* rgb, std::uint8_t* out, ResizeScratch& scratch) const;

 private:
  int width_, height_, crop_;
  int left_ = 0, top_ = 0;  // the crop's corner in the resized image
  ResampleAxis horizontal_, vertical_;
  int row_first_ = 0, row_count_ = 0;  // the input rows the vertical pass reads
  // The horizontal pass's AVX2 path (where the CPU has it): the first `pairs_count_` kept
  // columns, two at a time, with each pair's weights laid out for it. The others take the
  // portable path (and on other architectures, where these stay unused).
  [[maybe_unused]] bool avx2_ = false;
  int pairs_count_ = 0;
  [[maybe_unused]] std::vector<std::int32_t> pair_weights_;
};

}  // namespace greenbatch
