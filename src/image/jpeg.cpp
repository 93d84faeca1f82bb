#include "image/jpeg.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <fstream>
#include <iterator>

#include <jerror.h>
#include <jpeglib.h>

#include "core/error.hpp"

namespace greenbatch {

namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  const char* what = "corrupt";  // how the message is introduced
};

[[noreturn]] void on_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are not fatal (Pillow decodes through them too), except running out of data: libjpeg
// would fill the rest of the image with grey, where Pillow raises "image file is truncated".
void on_message(j_common_ptr cinfo, int level) {
  if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
    reinterpret_cast<ErrorManager*>(cinfo->err)->what = "truncated";
    on_error(cinfo);
  }
}

// Called by libjpeg as it reads: refuses a JPEG past kMaxJpegScans scans as soon as it starts
// the next one, before that scan's pass over the image.
void on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  if (reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number <= kMaxJpegScans) return;
  auto* err = reinterpret_cast<ErrorManager*>(cinfo->err);
  err->what = "too many scans";
  std::snprintf(err->message, sizeof err->message, "more than %d, the most accepted; encoders write about ten",
                kMaxJpegScans);
  std::longjmp(err->jump, 1);
}

}  // namespace

RgbImage decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name) {
  RgbImage img;
  decode_jpeg(bytes, name, img);
  return img;
}

void decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name, RgbImage& img) {
  decode_jpeg(bytes, name, img, {});
}

void decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& name, RgbImage& img,
                 const std::function<PixelBox(int width, int height)>& box_for) {
  jpeg_decompress_struct cinfo{};
  ErrorManager err{};
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  jpeg_progress_mgr progress{};
  progress.progress_monitor = on_progress;
  // Everything that must survive a longjmp lives outside this function (img) or is POD.
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    throw UserError(fmt::format("image {}: not a JPEG that can be decoded ({}: {}); accepted: baseline or progressive "
                                "JPEG, colour (YCbCr) or grayscale",
                                name, err.what, err.message));
  }
  auto refuse = [&](const std::string& why) {
    jpeg_destroy_decompress(&cinfo);
    throw UserError(fmt::format("image {}: {}", name, why));
  };
  jpeg_create_decompress(&cinfo);
  cinfo.progress = &progress;
  if (bytes.empty()) refuse("empty (0 bytes); accepted: a JPEG file");
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    refuse("a CMYK JPEG; accepted: colour (YCbCr or RGB) or grayscale JPEGs");
  }
  if (static_cast<std::uint64_t>(cinfo.image_width) * cinfo.image_height > kMaxJpegPixels) {
    refuse(fmt::format("{}x{} pixels is more than the {} accepted (Pillow's decompression-bomb limit)",
                       cinfo.image_width, cinfo.image_height, kMaxJpegPixels));
  }
  // Pillow's defaults, spelled out: they decide the pixels.
  cinfo.out_color_space = JCS_RGB;
  cinfo.dct_method = JDCT_ISLOW;
  cinfo.do_fancy_upsampling = TRUE;
  jpeg_start_decompress(&cinfo);
  img.width = static_cast<int>(cinfo.output_width);
  img.height = static_cast<int>(cinfo.output_height);
  img.pixels.resize(static_cast<std::size_t>(img.width) * img.height * 3);
  PixelBox box{0, 0, img.width, img.height};
  if (box_for) {
    try {
      box = box_for(img.width, img.height);
    } catch (...) {
      jpeg_destroy_decompress(&cinfo);
      throw;
    }
    // A margin of two iMCUs (at most 64 pixels) around the box: fancy upsampling reads one
    // chroma sample beyond each output pixel's own, and libjpeg-turbo treats the edges of a
    // cropped or skipped region as image edges.
    const int mx = 2 * cinfo.max_h_samp_factor * DCTSIZE;
    const int my = 2 * cinfo.max_v_samp_factor * DCTSIZE;
    box.x0 = std::max(0, box.x0 - mx);
    box.x1 = std::min(img.width, box.x1 + mx);
    box.y0 = std::max(0, box.y0 - my);
    box.y1 = std::min(img.height, box.y1 + my);
    // Cropping and skipping cost something of their own: where the box (with its margin) is
    // most of the image, the whole decode is as fast (measured: 320x240 was slower cropped).
    const double share = static_cast<double>(box.x1 - box.x0) * (box.y1 - box.y0) /
                         (static_cast<double>(img.width) * img.height);
    if (box.x0 >= box.x1 || box.y0 >= box.y1 || share > 0.8) box = PixelBox{0, 0, img.width, img.height};
  }
  // Columns: libjpeg-turbo widens the request to whole iMCUs and says where the scanlines start.
  JDIMENSION x_offset = 0;
  if (box.x0 > 0 || box.x1 < img.width) {
    x_offset = static_cast<JDIMENSION>(box.x0);
    JDIMENSION x_width = static_cast<JDIMENSION>(box.x1 - box.x0);
    jpeg_crop_scanline(&cinfo, &x_offset, &x_width);
  }
  // Rows: those above the box are skipped (entropy-decoded, not transformed), those below too
  // but the last one: libjpeg-turbo returns at once from a skip to the end of the image, without
  // reading the rest of the data, so a truncated file would pass (Pillow refuses it).
  const auto read_rows = [&](JDIMENSION last) {
    while (cinfo.output_scanline < last) {
      JSAMPROW rows[4];
      const JDIMENSION first = cinfo.output_scanline;
      const JDIMENSION n = std::min<JDIMENSION>(4, last - first);
      for (JDIMENSION i = 0; i < n; ++i) {
        rows[i] = img.pixels.data() + (static_cast<std::size_t>(first + i) * img.width + x_offset) * 3;
      }
      jpeg_read_scanlines(&cinfo, rows, n);
    }
  };
  if (box.y0 > 0) jpeg_skip_scanlines(&cinfo, static_cast<JDIMENSION>(box.y0));
  read_rows(static_cast<JDIMENSION>(box.y1));
  if (cinfo.output_scanline + 1 < cinfo.output_height) {
    jpeg_skip_scanlines(&cinfo, cinfo.output_height - 1 - cinfo.output_scanline);
  }
  read_rows(cinfo.output_height);
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read {}", path));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace greenbatch
