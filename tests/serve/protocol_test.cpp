// The Open Inference Protocol codec (src/serve/protocol): golden documents, round trips, and every
// refused request with its status and what its message says.
#include "serve/protocol.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

namespace greenbatch::serve {
namespace {

// A few bytes that look like a JPEG to the codec (it does not decode them).
const std::string kJpegA = std::string("\xFF\xD8\xFF\xE0", 4) + "first";
const std::string kJpegB = std::string("\xFF\xD8\xFF\xDB", 4) + std::string("\0\x01\x02 second", 10);

// FP32 value number i of a test tensor: exactly representable, varied.
float value_at(std::size_t i) { return static_cast<float>(static_cast<int>(i % 511) - 255) / 8.0f; }

std::string flat_values(std::size_t count) {
  std::string s = "[";
  for (std::size_t i = 0; i < count; ++i) s += fmt::format("{}{}", i ? "," : "", value_at(i));
  return s + "]";
}

// Data nested as [n,3,224,224]; the row (item 0, channel 0, row 1) gets `row1_len` values.
std::string nested_values(std::size_t n, std::size_t row1_len = kWidth) {
  std::string s = "[";
  std::size_t i = 0;
  for (std::size_t a = 0; a < n; ++a) {
    s += a ? ",[" : "[";
    for (std::size_t c = 0; c < kChannels; ++c) {
      s += c ? ",[" : "[";
      for (std::size_t y = 0; y < kHeight; ++y) {
        s += y ? ",[" : "[";
        const std::size_t len = (a == 0 && c == 0 && y == 1) ? row1_len : kWidth;
        for (std::size_t x = 0; x < len; ++x) s += fmt::format("{}{}", x ? "," : "", value_at(i++));
        s += "]";
      }
      s += "]";
    }
    s += "]";
  }
  return s + "]";
}

std::string fp32_request(const std::string& shape, const std::string& data, const std::string& extra = "") {
  return fmt::format(R"({{{}"inputs":[{{"name":"x","datatype":"FP32","shape":{},"data":{}}}]}})", extra, shape, data);
}

std::string bytes_request(const std::string& shape, const std::string& data, const std::string& extra = "") {
  return fmt::format(R"({{{}"inputs":[{{"name":"img","datatype":"BYTES","shape":{},"data":{}}}]}})", extra, shape,
                     data);
}

std::string b64(const std::string& s) { return "\"" + encode_base64(s) + "\""; }

// The 4-byte little-endian length + bytes serialization of Triton's BYTES elements.
std::string bytes_element(const std::string& s) {
  const auto n = static_cast<std::uint32_t>(s.size());
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(n >> (8 * i) & 0xFF);
  return out + s;
}

template <typename Fn>
void expect_refused(Fn&& fn, int status, const std::string& fragment) {
  try {
    fn();
    ADD_FAILURE() << "accepted; expected status " << status << " with '" << fragment << "'";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.status, status) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << "message: " << e.what();
  }
}

void expect_json_refused(const std::string& body, int status, const std::string& fragment,
                         const ParseLimits& limits = {}) {
  SCOPED_TRACE(body.substr(0, 200));
  expect_refused([&] { (void)parse_infer_json(body, limits); }, status, fragment);
}

void expect_binary_refused(const std::string& body, std::size_t header, int status, const std::string& fragment) {
  SCOPED_TRACE(body.substr(0, 200));
  expect_refused([&] { (void)parse_infer_binary(body, header, {}); }, status, fragment);
}

// ---------------------------------------------------------------- documents

TEST(ProtocolDocuments, ErrorJson) {
  EXPECT_EQ(error_json("shape [2] \"x\"\n"), R"({"error":"shape [2] \"x\"\n"})");
  EXPECT_EQ(error_json(""), R"({"error":""})");
  // Invalid UTF-8 (a model name from a URL) is replaced, never thrown.
  EXPECT_EQ(error_json("a\xFF"), "{\"error\":\"a\xEF\xBF\xBD\"}");
}

TEST(ProtocolDocuments, UnknownModel) {
  const ProtocolError e = unknown_model("resnet", "synthetic");
  EXPECT_EQ(e.status, 404);
  EXPECT_STREQ(e.what(), "model \"resnet\" is not served here; accepted: \"synthetic\"");
}

TEST(ProtocolDocuments, ServerMetadata) {
  EXPECT_EQ(server_metadata_json("0.1.0"),
            R"({"name":"greenbatch","version":"0.1.0","extensions":["binary_tensor_data"]})");
  // What is served, when the server says it (a client records it).
  const auto j = nlohmann::json::parse(server_metadata_json("0.1.0", R"({"policy":"fixed:8"})"));
  EXPECT_EQ(j["greenbatch"]["policy"], "fixed:8");
  EXPECT_EQ(j["name"], "greenbatch");
}

TEST(ProtocolDocuments, ModelMetadata) {
  EXPECT_EQ(model_metadata_json("resnet50", "pytorch_torchscript", 128, 1000),
            R"({"name":"resnet50","platform":"pytorch_torchscript",)"
            R"("inputs":[{"name":"input","datatype":"FP32","shape":[-1,3,224,224]},)"
            R"({"name":"jpeg","datatype":"BYTES","shape":[-1]}],)"
            R"("outputs":[{"name":"logits","datatype":"FP32","shape":[-1,1000]},)"
            R"({"name":"top1","datatype":"FP32","shape":[-1,2]}],)"
            R"("parameters":{"max_items_per_request":128}})");
  EXPECT_TRUE(nlohmann::json::parse(model_metadata_json("a\"b", "p", 1, 10)).is_object());
}

// ---------------------------------------------------------------- requests

TEST(ProtocolParse, Fp32Flat) {
  const InferRequest r = parse_infer_json(fp32_request("[2,3,224,224]", flat_values(2 * kItemFloats)));
  EXPECT_EQ(r.kind, InferRequest::Kind::kTensor);
  EXPECT_EQ(r.items, 2u);
  EXPECT_FALSE(r.id);
  ASSERT_EQ(r.tensor.size(), 2 * kItemFloats);
  for (std::size_t i = 0; i < r.tensor.size(); i += 997) ASSERT_EQ(r.tensor[i], value_at(i)) << i;
  EXPECT_EQ(r.tensor.back(), value_at(r.tensor.size() - 1));
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].kind, Output::kLogits);
  EXPECT_FALSE(r.binary_output());
  EXPECT_TRUE(r.jpegs.empty());
}

TEST(ProtocolParse, TheNullModelTakesFp32OfAnyShapeWithinOneImagePerItem) {
  ParseLimits any;
  any.any_fp32_shape = true;
  const InferRequest r = parse_infer_json(fp32_request("[3,2]", "[1,2,3,4,5,6]"), any);
  EXPECT_EQ(r.items, 3u);
  EXPECT_EQ(r.item_floats, 2u);
  EXPECT_EQ(r.tensor, (std::vector<float>{1, 2, 3, 4, 5, 6}));
  const InferRequest one = parse_infer_json(fp32_request("[2]", "[7,8]"), any);
  EXPECT_EQ(one.items, 2u);
  EXPECT_EQ(one.item_floats, 1u);
  // An image model still takes only [N,3,224,224].
  EXPECT_THROW(parse_infer_json(fp32_request("[3,2]", "[1,2,3,4,5,6]")), ProtocolError);
  // No items, an empty item, or more than one image's floats per item (even overflowing) are refused.
  for (const char* shape : {"[0,2]", "[2,0]", "[1,150529]", "[1,4294967296,4294967296,4294967296]", "[]"}) {
    try {
      parse_infer_json(fp32_request(shape, "[1]"), any);
      ADD_FAILURE() << shape << " was accepted";
    } catch (const ProtocolError& e) {
      EXPECT_EQ(e.status, 400) << shape;
    }
  }
}

TEST(ProtocolParse, Fp32NestedEqualsFlat) {
  const InferRequest nested = parse_infer_json(fp32_request("[2,3,224,224]", nested_values(2)));
  const InferRequest flat = parse_infer_json(fp32_request("[2,3,224,224]", flat_values(2 * kItemFloats)));
  EXPECT_EQ(nested.items, 2u);
  EXPECT_EQ(nested.tensor, flat.tensor);
}

TEST(ProtocolParse, Fp32IntegersAndExtremes) {
  std::string data = "[0,-7,3.4028234663852886e38,1e-45";
  for (std::size_t i = 4; i < kItemFloats; ++i) data += fmt::format(",{}", value_at(i));
  data += "]";
  const InferRequest r = parse_infer_json(fp32_request("[1,3,224,224]", data));
  EXPECT_EQ(r.tensor[0], 0.0f);
  EXPECT_EQ(r.tensor[1], -7.0f);
  EXPECT_EQ(r.tensor[2], std::numeric_limits<float>::max());
  EXPECT_EQ(r.tensor[3], std::numeric_limits<float>::denorm_min());
}

TEST(ProtocolParse, BytesJpegs) {
  const InferRequest r = parse_infer_json(bytes_request("[2]", "[" + b64(kJpegA) + "," + b64(kJpegB) + "]",
                                                         R"("id":"req-7",)"));
  EXPECT_EQ(r.kind, InferRequest::Kind::kJpeg);
  EXPECT_EQ(r.items, 2u);
  ASSERT_EQ(r.jpegs.size(), 2u);
  EXPECT_EQ(r.jpegs[0], kJpegA);
  EXPECT_EQ(r.jpegs[1], kJpegB);
  EXPECT_EQ(r.id, "req-7");
  EXPECT_TRUE(r.tensor.empty());
  // [N,1], flat or nested.
  EXPECT_EQ(parse_infer_json(bytes_request("[2,1]", "[" + b64(kJpegA) + "," + b64(kJpegB) + "]")).jpegs, r.jpegs);
  EXPECT_EQ(parse_infer_json(bytes_request("[2,1]", "[[" + b64(kJpegA) + "],[" + b64(kJpegB) + "]]")).jpegs, r.jpegs);
}

TEST(ProtocolParse, OutputsAndParameters) {
  const std::string data = "[" + b64(kJpegA) + "]";
  InferRequest r = parse_infer_json(bytes_request("[1]", data, R"("outputs":[{"name":"top1"}],)"));
  ASSERT_EQ(r.outputs.size(), 1u);
  EXPECT_EQ(r.outputs[0].kind, Output::kTop1);

  r = parse_infer_json(bytes_request("[1]", data, R"("outputs":[{"name":"top1"},{"name":"logits"}],)"));
  ASSERT_EQ(r.outputs.size(), 2u);
  EXPECT_EQ(r.outputs[0].kind, Output::kTop1);
  EXPECT_EQ(r.outputs[1].kind, Output::kLogits);

  // Triton: binary_data_output for all, binary_data per output wins; other parameters ignored.
  r = parse_infer_json(bytes_request(
      "[1]", data,
      R"("parameters":{"binary_data_output":true,"sequence_id":3},"outputs":[{"name":"top1","parameters":{"binary_data":false,"classification":2}},{"name":"logits"}],)"));
  EXPECT_FALSE(r.outputs[0].binary);
  EXPECT_TRUE(r.outputs[1].binary);
  EXPECT_TRUE(r.binary_output());
  r = parse_infer_json(bytes_request("[1]", data, R"("parameters":{"binary_data_output":true},)"));
  EXPECT_TRUE(r.outputs.at(0).binary);
  r = parse_infer_json(bytes_request("[1]", data, R"("outputs":[],)"));
  EXPECT_EQ(r.outputs.at(0).kind, Output::kLogits);
}

TEST(ProtocolParse, ItemLimitIsConfigurable) {
  ParseLimits limits;
  limits.max_items = 3;
  const std::string three = "[" + b64(kJpegA) + "," + b64(kJpegA) + "," + b64(kJpegA) + "]";
  EXPECT_EQ(parse_infer_json(bytes_request("[3]", three), limits).items, 3u);
  expect_json_refused(bytes_request("[4]", three), 413, "4 items in one request; accepted: 1 to 3", limits);
}

TEST(ProtocolParse, JpegBody) {
  const InferRequest r = parse_jpeg_body(kJpegB);
  EXPECT_EQ(r.kind, InferRequest::Kind::kJpeg);
  EXPECT_EQ(r.items, 1u);
  EXPECT_EQ(r.jpegs, std::vector<std::string>{kJpegB});
  EXPECT_EQ(r.outputs.at(0).kind, Output::kLogits);
  expect_refused([] { (void)parse_jpeg_body(""); }, 400, "the image/jpeg body is empty");
  expect_refused([] { (void)parse_jpeg_body("GIF89a"); }, 400, "starts with 47 49, not the start-of-image marker FF D8");
  expect_refused([] { (void)parse_jpeg_body("\xFF"); }, 400, "starts with FF,");
}

TEST(ProtocolParse, BinaryFp32) {
  std::vector<float> values(kItemFloats);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = value_at(i) * 3.1f;
  values[5] = std::numeric_limits<float>::infinity();  // taken as it is
  const std::string header = fmt::format(
      R"({{"id":"b","inputs":[{{"name":"x","datatype":"FP32","shape":[1,3,224,224],"parameters":{{"binary_data_size":{}}}}}]}})",
      values.size() * 4);
  std::string body = header;
  body.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  const InferRequest r = parse_infer_binary(body, header.size());
  EXPECT_EQ(r.items, 1u);
  EXPECT_EQ(r.id, "b");
  ASSERT_EQ(r.tensor.size(), values.size());
  EXPECT_EQ(std::memcmp(r.tensor.data(), values.data(), values.size() * 4), 0);
  // A JSON-only request through the binary entry (no binary part) is fine too.
  const std::string json_only = bytes_request("[1]", "[" + b64(kJpegA) + "]");
  EXPECT_EQ(parse_infer_binary(json_only, json_only.size()).jpegs.at(0), kJpegA);
}

TEST(ProtocolParse, BinaryBytes) {
  const std::string tail = bytes_element(kJpegA) + bytes_element(kJpegB);
  const std::string header = fmt::format(
      R"({{"inputs":[{{"name":"img","datatype":"BYTES","shape":[2],"parameters":{{"binary_data_size":{}}}}}]}})",
      tail.size());
  const InferRequest r = parse_infer_binary(header + tail, header.size());
  EXPECT_EQ(r.jpegs, (std::vector<std::string>{kJpegA, kJpegB}));
}

// ---------------------------------------------------------------- refused requests

TEST(ProtocolErrors, MalformedJson) {
  expect_json_refused("", 400, "is not valid JSON");
  expect_json_refused("{\"inputs\":[", 400, "is not valid JSON");
  expect_json_refused("{\"inputs\":[]} trailing", 400, "is not valid JSON");
  expect_json_refused("[]", 400, "the request is a JSON array; accepted: an inference request object");
  expect_json_refused("null", 400, "accepted: an inference request object");
}

TEST(ProtocolErrors, DeepNesting) {
  expect_json_refused(std::string(17, '[') + std::string(17, ']'), 400,
                      "nested 17 levels deep; accepted: at most 16");
  expect_json_refused(std::string(100000, '[') , 400, "nested 100000 levels deep");
  // Brackets inside strings do not count.
  EXPECT_EQ(parse_infer_json(bytes_request("[1]", "[" + b64(kJpegA) + "]", R"("id":"[[[[[[[[[[[[[[[[[[[[",)")).items,
            1u);
}

TEST(ProtocolErrors, RequestFields) {
  const std::string ok_input = R"("inputs":[{"name":"x","datatype":"BYTES","shape":[1],"data":[")" + encode_base64(kJpegA) + "\"]}]";
  expect_json_refused("{" + ok_input + R"(,"id":5})", 400, "\"id\" is a number; accepted: a string");
  expect_json_refused("{" + ok_input + R"(,"parameters":[]})", 400, "\"parameters\" is not an object");
  expect_json_refused("{" + ok_input + R"(,"parameters":{"binary_data_output":1}})", 400,
                      "\"binary_data_output\" is not true or false");
  expect_json_refused("{}", 400, "no \"inputs\" array; accepted: one input, an FP32 tensor of shape [N,3,224,224]");
  expect_json_refused(R"({"inputs":{}})", 400, "no \"inputs\" array");
  expect_json_refused(R"({"inputs":[]})", 400, "has 0 inputs; accepted: exactly one");
  expect_json_refused(R"({"inputs":[{},{}]})", 400, "has 2 inputs; accepted: exactly one");
  expect_json_refused(R"({"inputs":[3]})", 400, "the input is a JSON number");
  expect_json_refused(R"({"inputs":[{"datatype":"FP32"}]})", 400, "the input has no \"name\" string");
  expect_json_refused(R"({"inputs":[{"name":"x","shape":[1]}]})", 400, "input \"x\" has no \"datatype\" string");
  expect_json_refused(R"({"inputs":[{"name":"x","datatype":"BYTES","data":[]}]})", 400, "input \"x\" has no \"shape\" array");
  expect_json_refused(R"({"inputs":[{"name":"x","datatype":"BYTES","shape":[1]}]})", 400, "input \"x\" has no \"data\"");
}

TEST(ProtocolErrors, Datatype) {
  expect_json_refused(R"({"inputs":[{"name":"x","datatype":"INT8","shape":[1,3,224,224],"data":[]}]})", 400,
                      "input \"x\": datatype \"INT8\" is not accepted; accepted: FP32 (shape [N,3,224,224]) or BYTES");
  expect_json_refused(R"({"inputs":[{"name":"x","datatype":"fp32","shape":[1,3,224,224],"data":[]}]})", 400,
                      "datatype \"fp32\" is not accepted");
}

TEST(ProtocolErrors, Shape) {
  expect_json_refused(fp32_request("[2,3,224]", "[]"), 400,
                      "input \"x\": shape [2,3,224] has 3 dimensions; accepted: [N,3,224,224] with N from 1 to 128");
  expect_json_refused(fp32_request("[1,224,224,3]", "[]"), 400,
                      "shape [1,224,224,3] is not an image batch; accepted: [N,3,224,224]");
  expect_json_refused(fp32_request("[0,3,224,224]", "[]"), 400, "shape [0,3,224,224] has no items");
  expect_json_refused(fp32_request("[-1,3,224,224]", "[]"), 400, "holds -1; accepted: non-negative integers");
  expect_json_refused(fp32_request("[1.5,3,224,224]", "[]"), 400, "holds 1.5; accepted: non-negative integers");
  expect_json_refused(fp32_request("[\"1\",3,224,224]", "[]"), 400, "accepted: non-negative integers");
  expect_json_refused(fp32_request("[1e30,3,224,224]", "[]"), 400, "accepted: non-negative integers");
  expect_json_refused(bytes_request("[2,2]", "[]"), 400, "shape [2,2] has 2 JPEG files per item; accepted: [N] or [N,1]");
  expect_json_refused(bytes_request("[]", "[]"), 400, "shape [] has 0 dimensions; accepted: [N] or [N,1]");
  expect_json_refused(bytes_request("[1,1,1]", "[]"), 400, "has 3 dimensions");
}

TEST(ProtocolErrors, TooManyItems) {
  expect_json_refused(fp32_request("[129,3,224,224]", "[]"), 413,
                      "input \"x\": 129 items in one request; accepted: 1 to 128");
  // N * 3*224*224 floats would overflow: refused on N alone, before any arithmetic.
  expect_json_refused(fp32_request("[18446744073709551615,3,224,224]", "[]"), 413, "items in one request");
  ParseLimits unlimited;
  unlimited.max_items = std::numeric_limits<std::size_t>::max();
  expect_json_refused(fp32_request("[18446744073709551615,3,224,224]", "[]"), 413, "items in one request", unlimited);
  expect_json_refused(bytes_request("[200]", "[]"), 413, "200 items in one request; accepted: 1 to 128");
}

TEST(ProtocolErrors, Count) {
  expect_json_refused(fp32_request("[1,3,224,224]", "[1,2,3]"), 400,
                      "input \"x\": data has 3 elements; the shape [1,3,224,224] needs 150528");
  expect_json_refused(fp32_request("[2,3,224,224]", flat_values(kItemFloats)), 400,
                      "data has 150528 elements; the shape [2,3,224,224] needs 301056");
  expect_json_refused(fp32_request("[1,3,224,224]", "{}"), 400, "\"data\" is not an array");
  expect_json_refused(bytes_request("[2]", "[" + b64(kJpegA) + "]"), 400, "data has 1 elements; the shape [2] needs 2");
}

TEST(ProtocolErrors, NestedMismatch) {
  expect_json_refused(fp32_request("[1,3,224,224]", nested_values(1, 223)), 400,
                      "input \"x\": data[0][0][1] has 223 elements, the shape needs 224; nested data must match the "
                      "shape [1,3,224,224]");
  expect_json_refused(fp32_request("[2,3,224,224]", "[[1],[2]]"), 400, "data[0] has 1 elements, the shape needs 3");
  expect_json_refused(fp32_request("[2,3,224,224]", "[[1,2,3],[1,2,3]]"), 400,
                      "data[0][0] is a single value, the shape needs an array of 224");
  expect_json_refused(bytes_request("[2,1]", "[[" + b64(kJpegA) + "]," + b64(kJpegA) + "]"), 400,
                      "data[1] is a single value, the shape needs an array of 1");
}

TEST(ProtocolErrors, Fp32Values) {
  std::string data = flat_values(kItemFloats);
  expect_json_refused(fp32_request("[1,3,224,224]", "[true" + data.substr(data.find(','))), 400,
                      "input \"x\": element 0 is boolean, not a number; accepted: FP32 values");
  expect_json_refused(fp32_request("[1,3,224,224]", "[\"1\"" + data.substr(data.find(','))), 400,
                      "element 0 is string, not a number");
  expect_json_refused(fp32_request("[1,3,224,224]", "[1e39" + data.substr(data.find(','))), 400,
                      "element 0 is 1e+39, outside FP32's range");
  expect_json_refused(fp32_request("[1,3,224,224]", "[-1e300" + data.substr(data.find(','))), 400,
                      "outside FP32's range");
  std::string nested = nested_values(1);
  ASSERT_EQ(nested.substr(0, 11), "[[[[-31.875");
  nested.replace(4, 7, "null");
  expect_json_refused(fp32_request("[1,3,224,224]", nested), 400, "is null, not a number");
}

TEST(ProtocolErrors, BytesElements) {
  expect_json_refused(bytes_request("[1]", "[7]"), 400,
                      "input \"img\" element 0 is number; accepted: a string of a base64-encoded JPEG file");
  expect_json_refused(bytes_request("[1]", "[\"\"]"), 400, "input \"img\" element 0 is empty; accepted: a JPEG file");
  expect_json_refused(bytes_request("[2]", "[" + b64(kJpegA) + ",\"R0lGODlh\"]"), 400,
                      "input \"img\" element 1 is not a JPEG file (it starts with 47 49");
  expect_json_refused(bytes_request("[1]", "[\"/9j/4A\"]"), 400,
                      "element 0: base64 text of 6 characters is not a multiple of 4; accepted: standard base64 with '=' "
                      "padding");
  expect_json_refused(bytes_request("[1]", "[\"/9j/4A==\\n\"]"), 400, "is not a multiple of 4");
  expect_json_refused(bytes_request("[1]", "[\"/9j/4-__\"]"), 400, "byte 5 of its base64 text ('-')");
  expect_json_refused(bytes_request("[1]", "[\"/9j/4A-_\"]"), 400,
                      "byte 6 of its base64 text ('-') is not base64; accepted: A-Z a-z 0-9 + / and '=' padding");
  expect_json_refused(bytes_request("[1]", "[\"/9j/\\t4A=\"]"), 400, "byte 4 of its base64 text (0x09) is not base64");
  expect_json_refused(bytes_request("[1]", "[\"/9j=4A==\"]"), 400, "byte 3 of its base64 text ('=') is not base64");
  expect_json_refused(bytes_request("[1]", "[\"/9j/4B==\"]"), 400, "non-zero padding bits");
  expect_json_refused(bytes_request("[1]", "[\"/9j/4AB=\"]"), 400, "non-zero padding bits");
  expect_json_refused(bytes_request("[1]", "[\"====\"]"), 400, "byte 0 of its base64 text ('=') is not base64");
}

TEST(ProtocolErrors, Outputs) {
  const std::string data = "[" + b64(kJpegA) + "]";
  expect_json_refused(bytes_request("[1]", data, R"("outputs":[{"name":"probs"}],)"), 400,
                      "output \"probs\" is not an output of this model; accepted: logits, top1");
  expect_json_refused(bytes_request("[1]", data, R"("outputs":[{"name":"top1"},{"name":"top1"}],)"), 400,
                      "output \"top1\" is asked for twice");
  expect_json_refused(bytes_request("[1]", data, R"("outputs":{"name":"top1"},)"), 400, "\"outputs\" is not an array");
  expect_json_refused(bytes_request("[1]", data, R"("outputs":[{}],)"), 400, "an entry of \"outputs\" has no \"name\"");
  expect_json_refused(bytes_request("[1]", data, R"("outputs":["top1"],)"), 400, "has no \"name\" string");
  expect_json_refused(bytes_request("[1]", data, R"("outputs":[{"name":"top1","parameters":{"binary_data":"yes"}}],)"),
                      400, "output \"top1\": \"binary_data\" is not true or false");
  expect_json_refused(bytes_request("[1]", data, R"("outputs":[{"name":"top1","parameters":1}],)"), 400,
                      "output \"top1\": \"parameters\" is not an object");
}

TEST(ProtocolErrors, BinarySizes) {
  const auto fp32_header = [](const std::string& size) {
    return R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1,3,224,224],"parameters":{"binary_data_size":)" + size +
           "}}]}";
  };
  const auto bytes_header = [](const std::string& size, int n = 1) {
    return fmt::format(R"({{"inputs":[{{"name":"img","datatype":"BYTES","shape":[{}],"parameters":{{"binary_data_size":{}}}}}]}})",
                       n, size);
  };
  const std::string floats(kItemFloats * 4, '\0');
  // The header's length beyond the body.
  expect_binary_refused("{}", 3, 400, "Inference-Header-Content-Length is 3 but the body has only 2 bytes");
  // Sizes that do not add up.
  std::string h = fp32_header("602112");
  expect_binary_refused(h + floats.substr(1), h.size(), 400,
                        "binary_data_size is 602112 but 602111 bytes follow the JSON header");
  h = fp32_header("12");
  expect_binary_refused(h + "123456789012", h.size(), 400,
                        "binary_data_size is 12; shape [1,3,224,224] in FP32 needs 602112 bytes");
  h = fp32_header("18446744073709551615");
  expect_binary_refused(h + "1234", h.size(), 400, "binary_data_size is 18446744073709551615 but 4 bytes follow");
  h = fp32_header("-4");
  expect_binary_refused(h + "1234", h.size(), 400, "binary_data_size is -4; accepted: a byte count");
  h = fp32_header("4.0");
  expect_binary_refused(h + "1234", h.size(), 400, "accepted: a byte count");
  // binary_data_size where there is no binary part, and binary bytes nobody claims.
  h = fp32_header("602112");
  expect_json_refused(h, 400, "has binary_data_size but the body has no binary part");
  const std::string json_only = bytes_request("[1]", "[" + b64(kJpegA) + "]");
  expect_binary_refused(json_only + "xx", json_only.size(), 400, "2 bytes follow the JSON header but no input has binary_data_size");
  const std::string both = R"({"inputs":[{"name":"x","datatype":"BYTES","shape":[1],"data":["/9j/"],"parameters":{"binary_data_size":4}}]})";
  expect_binary_refused(both + "abcd", both.size(), 400, "has both \"data\" and binary_data_size");
  // BYTES: truncated lengths, lengths past the end, overflowing lengths, bytes left over.
  std::string tail = bytes_element(kJpegA).substr(0, 3);
  h = bytes_header(std::to_string(tail.size()));
  expect_binary_refused(h + tail, h.size(), 400, "ends after 0 of 3 bytes, before element 0's 4-byte length");
  tail = bytes_element(kJpegA);
  tail.pop_back();
  h = bytes_header(std::to_string(tail.size()));
  expect_binary_refused(h + tail, h.size(), 400, "input \"img\" element 0 has length 9 but only 8 bytes");
  tail = std::string("\xFF\xFF\xFF\xFF", 4) + kJpegA;
  h = bytes_header(std::to_string(tail.size()));
  expect_binary_refused(h + tail, h.size(), 400, "element 0 has length 4294967295 but only 9 bytes");
  tail = bytes_element(kJpegA) + "zz";
  h = bytes_header(std::to_string(tail.size()));
  expect_binary_refused(h + tail, h.size(), 400, "binary_data_size is 15 but its 1 elements use 13 bytes");
  tail = bytes_element(kJpegA);
  h = bytes_header(std::to_string(tail.size()), 2);
  expect_binary_refused(h + tail, h.size(), 400, "ends after 13 of 13 bytes, before element 1's 4-byte length");
  tail = bytes_element("") + bytes_element(kJpegA);
  h = bytes_header(std::to_string(tail.size()), 2);
  expect_binary_refused(h + tail, h.size(), 400, "input \"img\" element 0 is empty");
  // The JSON header itself is checked like a JSON request.
  expect_binary_refused(std::string(40, '{') + "xx", 40, 400, "nested 40 levels deep");
}

// ---------------------------------------------------------------- responses

TEST(ProtocolResponse, LogitsGolden) {
  const std::vector<float> logits{0.5f, -1.25f, 3.0f, 0.1f, 1e-7f, -2.5e20f};
  const std::vector<OutputRequest> outputs{{Output::kLogits, false}};
  EXPECT_EQ(infer_response_json("tiny", std::string("r1"), outputs, logits, 2, 3),
            R"({"model_name":"tiny","id":"r1","outputs":[{"name":"logits","datatype":"FP32","shape":[2,3],)"
            R"("data":[0.5,-1.25,3,0.1,1e-07,-2.5e+20]}]})");
  EXPECT_EQ(infer_response_json("tiny", std::nullopt, outputs, std::vector<float>{NAN, INFINITY}, 1, 2),
            R"({"model_name":"tiny","outputs":[{"name":"logits","datatype":"FP32","shape":[1,2],"data":[null,null]}]})");
}

TEST(ProtocolResponse, Top1Golden) {
  // Item 0: class 2 of [0, 0, ln 2]: probability 2/4; item 1: a tie, the first wins.
  const std::vector<float> logits{0.0f, 0.0f, std::log(2.0f), 1.0f, 1.0f, -1.0f};
  const std::vector<OutputRequest> outputs{{Output::kTop1, false}, {Output::kLogits, false}};
  const std::string body = infer_response_json("m", std::nullopt, outputs, logits, 2, 3);
  const auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j["outputs"][0]["name"], "top1");
  EXPECT_EQ(j["outputs"][0]["shape"], nlohmann::json::parse("[2,2]"));
  EXPECT_EQ(j["outputs"][0]["data"][0], 2);
  EXPECT_NEAR(j["outputs"][0]["data"][1].get<double>(), 0.5, 1e-7);
  EXPECT_EQ(j["outputs"][0]["data"][2], 0);
  EXPECT_NEAR(j["outputs"][0]["data"][3].get<double>(), std::exp(1.0) / (2 * std::exp(1.0) + std::exp(-1.0)), 1e-7);
  EXPECT_EQ(j["outputs"][1]["name"], "logits");
  EXPECT_EQ(body.rfind(R"({"model_name":"m","outputs":[{"name":"top1","datatype":"FP32","shape":[2,2],"data":[2,0.5,0,)", 0),
            0u)
      << body;
  // NaN logits never win over a number.
  const std::vector<float> with_nan{NAN, 1.0f, 0.0f};
  const auto k = nlohmann::json::parse(infer_response_json("m", std::nullopt, std::vector<OutputRequest>{{Output::kTop1, false}},
                                                           with_nan, 1, 3));
  EXPECT_EQ(k["outputs"][0]["data"][0], 1);
}

TEST(ProtocolResponse, FloatsReadBackExactly) {
  std::mt19937 rng(20);
  std::vector<float> logits;
  for (int i = 0; i < 20000; ++i) {
    std::uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isfinite(f)) logits.push_back(f);
  }
  logits.resize(logits.size() / 100 * 100);
  const std::string body = infer_response_json("m", std::nullopt, std::vector<OutputRequest>{{Output::kLogits, false}},
                                               logits, logits.size() / 100, 100);
  const std::size_t start = body.find("\"data\":[") + 8;
  const char* p = body.c_str() + start;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    char* end = nullptr;
    const float back = std::strtof(p, &end);
    ASSERT_EQ(std::memcmp(&back, &logits[i], 4), 0) << i << ": " << std::string(p, static_cast<const char*>(end));
    p = end + 1;
  }
}

TEST(ProtocolResponse, BinaryOutputs) {
  const std::vector<float> logits{0.5f, -1.25f, 3.0f, 0.1f, 1e-7f, -2.5e20f};
  const std::vector<OutputRequest> outputs{{Output::kTop1, false}, {Output::kLogits, true}};
  const BinaryResponse r = infer_response_binary("tiny", std::string("r1"), outputs, logits, 2, 3);
  const std::string header = r.body.substr(0, r.header_length);
  EXPECT_EQ(header.substr(header.find("{\"name\":\"logits\"")),
            R"({"name":"logits","datatype":"FP32","shape":[2,3],"parameters":{"binary_data_size":24}}]})");
  EXPECT_TRUE(nlohmann::json::parse(header).is_object());
  ASSERT_EQ(r.body.size(), r.header_length + 24);
  EXPECT_EQ(std::memcmp(r.body.data() + r.header_length, logits.data(), 24), 0);
  // Without binary outputs it is the JSON response.
  const std::vector<OutputRequest> json_only{{Output::kLogits, false}};
  const BinaryResponse plain = infer_response_binary("tiny", std::nullopt, json_only, logits, 2, 3);
  EXPECT_EQ(plain.body, infer_response_json("tiny", std::nullopt, json_only, logits, 2, 3));
  EXPECT_EQ(plain.header_length, plain.body.size());
}

TEST(ProtocolResponse, WrongLogitCountIsAProgrammingError) {
  const std::vector<float> logits(5);
  const std::vector<OutputRequest> outputs{{Output::kLogits, false}};
  EXPECT_THROW((void)infer_response_json("m", std::nullopt, outputs, logits, 2, 3), std::invalid_argument);
  EXPECT_THROW((void)infer_response_json("m", std::nullopt, outputs, logits, 5, 0), std::invalid_argument);
  EXPECT_THROW((void)infer_response_json("m", std::nullopt, outputs, logits,
                                         std::numeric_limits<std::size_t>::max() / 2 + 2, 2),
               std::invalid_argument);
}

// ---------------------------------------------------------------- round trips

TEST(ProtocolRoundTrip, Base64) {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n < 200; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    ASSERT_EQ(decode_base64(encode_base64(bytes), "t"), bytes) << n;
  }
  EXPECT_EQ(encode_base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(encode_base64("fo"), "Zm8=");
  EXPECT_EQ(encode_base64("f"), "Zg==");
}

TEST(ProtocolRoundTrip, ResponseLogitsParseBackAsATensor) {
  // A response's logits, sent back as an FP32 request's data, read as the same floats.
  std::vector<float> values(kItemFloats);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = std::sin(static_cast<float>(i)) * 3.0f;
  const std::string response = infer_response_json("m", std::nullopt, std::vector<OutputRequest>{{Output::kLogits, false}},
                                                   values, 1, values.size());
  const std::size_t start = response.find("\"data\":") + 7;
  const std::string data = response.substr(start, response.rfind(']', response.size() - 3) - start + 1);
  const InferRequest r = parse_infer_json(fp32_request("[1,3,224,224]", data));
  EXPECT_EQ(r.tensor, values);
}

}  // namespace
}  // namespace greenbatch::serve
