#pragma once
// The Open Inference Protocol (KServe v2) codec of `greenbatch serve`: request bodies to typed
// requests, results to response bodies, the metadata documents and the error body. Pure (no
// sockets, no LibTorch, no image decoding); the HTTP layer maps a ProtocolError to its status and
// error_json(message).
//
// What an infer request (POST /v2/models/{name}/infer) may hold:
//   {"id": "r1",                                       optional string, echoed in the response
//    "parameters": {"binary_data_output": true},       optional; other parameters are ignored
//    "inputs": [ONE input, any name],
//    "outputs": [{"name": "logits"} | {"name": "top1"}, ...]}   optional; default: logits
// The one input is either
//   - an FP32 tensor, shape [N,3,224,224] with N from 1 to ParseLimits::max_items, already
//     preprocessed (normalised, channels first): "data" flat (N*3*224*224 numbers, row-major) or
//     nested exactly as the shape; or
//   - a BYTES tensor of N JPEG files, shape [N] or [N,1]: in JSON each element is a string holding
//     the file in standard base64 (RFC 4648 alphabet, "=" padding, no whitespace; JSON strings
//     cannot carry raw bytes). The server decodes the JPEGs (src/image); here each is only checked
//     to be non-empty and to start with the JPEG start-of-image marker FF D8.
// Triton's binary tensor data extension: with the header "Inference-Header-Content-Length: H" the
// first H bytes of the body are the JSON above, and an input with
// "parameters": {"binary_data_size": B} has no "data": its B bytes follow the JSON (inputs in
// order). FP32: N*3*224*224 little-endian floats (taken as they are). BYTES: per element a
// 4-byte little-endian length and that many bytes (the raw JPEG, no base64).
// An output may ask for a binary answer ("parameters": {"binary_data": true}), or all outputs at
// once (request "parameters": {"binary_data_output": true}); a per-output setting wins.
// A raw JPEG body (Content-Type: image/jpeg) is one item: parse_jpeg_body.
//
// Outputs of a response (infer_response_json / infer_response_binary), in the order asked:
//   "logits": FP32, shape [N,C], the model's logits row by row;
//   "top1":   FP32, shape [N,2], per item [class index, probability]: the index of the largest
//             logit (the first on ties; exact as a float up to 2^24 classes) and its softmax
//             probability over the item's C logits.
// Numbers are written in the shortest form that reads back as the same float; a non-finite value
// (JSON has none) is written as null.
//
// Cost (one core of the 2-core development machine, under load): a one-image BYTES request with a
// tiny JPEG parses in about 2 us, with a 2 kB JPEG in about 18 us (nlohmann's lexer reading the
// base64 string dominates); an FP32 [1,3,224,224] request in JSON (1.2 MB of text) in about 22 ms.
// The body is parsed once into nlohmann's document and copied once into the request (floats or
// JPEG bytes). Large payloads are cheaper as binary tensor data or image/jpeg bodies. A top1
// response for 1000 classes is written in about 4.5 us, a logits one in about 24 us.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace greenbatch::serve {

// A request the server refuses: `status` is the HTTP status (400 bad request, 404 unknown model,
// 413 too large, ...); the message says what was wrong and what is accepted.
struct ProtocolError : std::runtime_error {
  ProtocolError(int status, const std::string& message) : std::runtime_error(message), status(status) {}
  int status;
};

// 404 for a request naming a model other than the one served (the message names both).
ProtocolError unknown_model(std::string_view requested, std::string_view served);

// The protocol's error body: {"error":"MESSAGE"} (MESSAGE escaped; invalid UTF-8 replaced).
std::string error_json(std::string_view message);

// The one input the models take: N x 3 x 224 x 224.
inline constexpr std::size_t kChannels = 3, kHeight = 224, kWidth = 224;
inline constexpr std::size_t kItemFloats = kChannels * kHeight * kWidth;

struct ParseLimits {
  std::size_t max_items = 128;  // items (images) in one request; more is 413
  std::size_t max_depth = 16;   // JSON nesting; a nested [N,3,224,224] request is 7 deep
  // The null (synthetic) model ignores its input: an FP32 tensor of any shape [N, ...] is
  // accepted (N items of the product of the other dimensions, at most kItemFloats floats each).
  bool any_fp32_shape = false;
};

enum class Output { kLogits, kTop1 };

struct OutputRequest {
  Output kind = Output::kLogits;
  bool binary = false;  // Triton's binary tensor data for this output
};

struct InferRequest {
  enum class Kind { kTensor, kJpeg };
  std::optional<std::string> id;
  Kind kind = Kind::kTensor;
  std::size_t items = 0;
  std::vector<float> tensor;       // kTensor: items * item_floats floats, row-major
  std::size_t item_floats = kItemFloats;  // kTensor: floats per item (kItemFloats but for the null model)
  std::vector<std::string> jpegs;  // kJpeg: one per item, the raw JPEG bytes
  std::vector<OutputRequest> outputs;  // distinct kinds, in the order asked; never empty
  // Whether any output is answered in binary (then the response is infer_response_binary).
  bool binary_output() const;
};

// A JSON request body. Throws ProtocolError (400; 413 for too many items).
InferRequest parse_infer_json(std::string_view body, const ParseLimits& limits = {});

// A body under Triton's binary tensor data extension: the first `json_header_length` bytes are
// the JSON (the Inference-Header-Content-Length header), the rest the inputs' binary data.
InferRequest parse_infer_binary(std::string_view body, std::size_t json_header_length,
                                const ParseLimits& limits = {});

// A raw JPEG body (Content-Type: image/jpeg): one item, logits. Empty or not starting with FF D8
// is 400.
InferRequest parse_jpeg_body(std::string_view body);

// The output names a request may ask for ("logits", "top1") and the name of one.
std::string_view output_name(Output kind);

// The response to REQUEST_OUTPUTS for `items` x `classes` logits (row-major) as JSON.
// Throws std::invalid_argument if logits.size() != items * classes.
std::string infer_response_json(std::string_view model_name, const std::optional<std::string>& id,
                                std::span<const OutputRequest> outputs, std::span<const float> logits,
                                std::size_t items, std::size_t classes);

// The same under the binary extension: outputs marked binary carry
// "parameters":{"binary_data_size":B} instead of "data", and their bytes (little-endian floats)
// follow the JSON in output order. `header_length` goes in Inference-Header-Content-Length.
struct BinaryResponse {
  std::string body;
  std::size_t header_length = 0;
};
BinaryResponse infer_response_binary(std::string_view model_name, const std::optional<std::string>& id,
                                     std::span<const OutputRequest> outputs, std::span<const float> logits,
                                     std::size_t items, std::size_t classes);

// GET /v2: {"name":"greenbatch","version":VERSION,"extensions":["binary_tensor_data"]}.
// With `serving` (a JSON object, not empty), a "greenbatch" member says what is served: the
// model, device, policy, meter and the backend's facts (a client records them).
std::string server_metadata_json(std::string_view version, std::string_view serving = {});

// GET /v2/models/{name}: the two accepted inputs (a request sends one of them, under any name),
// the two outputs, and the per-request item limit as a parameter:
// {"name":NAME,"platform":PLATFORM,
//  "inputs":[{"name":"input","datatype":"FP32","shape":[-1,3,224,224]},
//            {"name":"jpeg","datatype":"BYTES","shape":[-1]}],
//  "outputs":[{"name":"logits","datatype":"FP32","shape":[-1,CLASSES]},
//             {"name":"top1","datatype":"FP32","shape":[-1,2]}],
//  "parameters":{"max_items_per_request":MAX_ITEMS}}
// any_input_shape: the null model (FP32 input of any shape [N, ...], listed as [-1,-1]).
std::string model_metadata_json(std::string_view name, std::string_view platform, std::size_t max_items,
                                std::size_t classes, bool any_input_shape = false);

// Strict base64 (RFC 4648 standard alphabet, "=" padding required, no whitespace, zero unused
// bits). Throws ProtocolError 400 naming `what` and the offending position.
std::string decode_base64(std::string_view text, std::string_view what);
std::string encode_base64(std::string_view bytes);

}  // namespace greenbatch::serve
