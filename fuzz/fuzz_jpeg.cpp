// JPEG decoding and the study's preprocessing of a request (image/jpeg.cpp, image/resize.cpp,
// image/preprocess.cpp): arbitrary bytes are decoded and resized to the 224 x 224 crop, or
// refused with a UserError. A decoded image must have the size it declares, and the crop of
// the decoded pixels must equal the one jpeg_to_crop wrote (the same bytes twice: no reads of
// uninitialised memory that ASan would not see).
//
// Declared sizes: a few hundred bytes can declare a frame of up to kMaxJpegPixels (Pillow's
// limit, 179 M pixels), which libjpeg decodes (missing data becomes grey, as in Pillow) at
// seconds and gigabytes per input. Like libjpeg-turbo's own fuzzers, inputs whose header
// declares more than kFuzzMaxPixels are not decoded (so that the fuzzer stays fast and within
// -rss_limit_mb), except those over kMaxJpegPixels, whose refusal is cheap and is checked.
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include <jpeglib.h>

#include "fuzz_common.hpp"
#include "image/jpeg.hpp"
#include "image/preprocess.hpp"

namespace {

constexpr std::uint64_t kFuzzMaxPixels = 1u << 20;

struct PeekError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};

// The pixels the header declares (width x height), read with libjpeg; 0 when it does not read.
std::uint64_t declared_pixels(const std::uint8_t* data, std::size_t size) {
  jpeg_decompress_struct cinfo{};
  PeekError err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = [](j_common_ptr c) { std::longjmp(reinterpret_cast<PeekError*>(c->err)->jump, 1); };
  err.pub.emit_message = [](j_common_ptr, int) {};
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 0;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  const std::uint64_t pixels = static_cast<std::uint64_t>(cinfo.image_width) * cinfo.image_height;
  jpeg_destroy_decompress(&cinfo);
  return pixels;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  static const ImagePreprocessor pre;
  static std::vector<std::uint8_t> crop(pre.crop_bytes()), again(pre.crop_bytes());
  const std::uint64_t pixels = declared_pixels(data, size);
  if (pixels > kFuzzMaxPixels && pixels <= kMaxJpegPixels) return -1;  // not added to the corpus
  const std::span<const std::uint8_t> bytes(data, size);
  bool prepared = false;
  fuzz::expect_user_errors([&] {
    pre.jpeg_to_crop(bytes, "fuzz.jpg", crop.data());
    prepared = true;
  });
  if (!prepared) return 0;
  // It decoded once, so it decodes again, to the same pixels and the same crop.
  fuzz::expect_user_errors([&] {
    const RgbImage img = decode_jpeg(bytes, "fuzz.jpg");
    if (img.width <= 0 || img.height <= 0 ||
        img.pixels.size() != static_cast<std::size_t>(img.width) * img.height * 3) {
      std::fprintf(stderr, "fuzz finding: decoded %dx%d with %zu bytes of pixels\n", img.width, img.height,
                   img.pixels.size());
      std::abort();
    }
    pre.rgb_to_crop(img, again.data());
    if (std::memcmp(crop.data(), again.data(), crop.size()) != 0) {
      std::fprintf(stderr, "fuzz finding: two preprocessings of the same JPEG differ\n");
      std::abort();
    }
  });
  return 0;
}
