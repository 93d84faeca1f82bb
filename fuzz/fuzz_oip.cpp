// The server's Open Inference Protocol codec (serve/protocol.cpp): the JSON request parser (for an
// image model and for the null model, which takes FP32 of any shape), the binary tensor data
// parser and the raw JPEG body. Bad input must end as a ProtocolError with a
// 4xx status; anything else escaping is a finding, as are crashes, sanitizer reports, hangs and
// memory blow-ups. A parsed request must hold what it says (items, tensor or JPEGs, outputs), and
// its response must be valid JSON.
//
// Input: the body as is for the JSON and JPEG parsers. For the binary parser, the body is split
// at its first NUL byte: the JSON header before it, the binary part after it (the NUL dropped),
// the header's length being Inference-Header-Content-Length; without a NUL the whole input is the
// header.
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "serve/protocol.hpp"

namespace {

using namespace greenbatch::serve;

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz finding: %s\n", what);
  std::abort();
}

void check(const InferRequest& r, const ParseLimits& limits) {
  if (r.items == 0 || r.items > limits.max_items) finding("items out of range");
  if (r.outputs.empty() || r.outputs.size() > 2) finding("outputs not 1 or 2");
  if (r.kind == InferRequest::Kind::kTensor) {
    if (!limits.any_fp32_shape && r.item_floats != kItemFloats) finding("an image model's item is not 3*224*224");
    if (r.item_floats == 0 || r.item_floats > kItemFloats) finding("item floats out of range");
    if (r.tensor.size() != r.items * r.item_floats || !r.jpegs.empty()) finding("tensor size != items * item floats");
  } else {
    if (r.jpegs.size() != r.items || !r.tensor.empty()) finding("jpegs != items");
    for (const std::string& j : r.jpegs) {
      if (j.size() < 2 || static_cast<unsigned char>(j[0]) != 0xFF || static_cast<unsigned char>(j[1]) != 0xD8) {
        finding("a JPEG without its start-of-image marker");
      }
    }
  }
  // The response: 3 classes per item, valid JSON in both forms.
  std::vector<float> logits(r.items * 3);
  for (std::size_t i = 0; i < logits.size(); ++i) logits[i] = static_cast<float>(i % 7) - 3.0f;
  const std::string body = infer_response_json("m", r.id, r.outputs, logits, r.items, 3);
  if (!nlohmann::json::accept(body)) finding("the JSON response does not parse");
  const BinaryResponse bin = infer_response_binary("m", r.id, r.outputs, logits, r.items, 3);
  if (!nlohmann::json::accept(std::string_view(bin.body).substr(0, bin.header_length))) {
    finding("the binary response's header does not parse");
  }
}

template <typename Fn>
void expect_protocol_errors(Fn&& fn) {
  try {
    fn();
  } catch (const ProtocolError& e) {
    if (e.status < 400 || e.status > 499) finding("a ProtocolError without a 4xx status");
    if (!nlohmann::json::accept(error_json(e.what()))) finding("error_json does not parse");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz finding: exception other than ProtocolError escaped: %s\n", e.what());
    std::abort();
  } catch (...) {
    finding("a non-std exception escaped");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = greenbatch::fuzz::as_text(data, size);
  ParseLimits limits;
  limits.max_items = 16;
  expect_protocol_errors([&] { check(parse_infer_json(input, limits), limits); });
  ParseLimits null_model = limits;  // the null model: FP32 of any shape
  null_model.any_fp32_shape = true;
  expect_protocol_errors([&] { check(parse_infer_json(input, null_model), null_model); });
  expect_protocol_errors([&] { check(parse_jpeg_body(input), limits); });
  const std::size_t nul = input.find('\0');
  std::string body(input);
  std::size_t header = body.size();
  if (nul != std::string_view::npos) {
    body.erase(nul, 1);
    header = nul;
  }
  expect_protocol_errors([&] { check(parse_infer_binary(body, header, limits), limits); });
  return 0;
}
