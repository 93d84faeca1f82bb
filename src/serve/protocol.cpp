#include "serve/protocol.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/json_depth.hpp"

namespace greenbatch::serve {

namespace {

using json = nlohmann::json;

// Binary tensor data is little-endian; floats are copied as they are.
static_assert(std::endian::native == std::endian::little, "the binary tensor data codec assumes a little-endian host");

constexpr std::string_view kAcceptedInputs =
    "an FP32 tensor of shape [N,3,224,224] or a BYTES tensor of shape [N] holding base64-encoded JPEG files";

[[noreturn]] void bad(const std::string& message) { throw ProtocolError(400, message); }

// A JSON string literal for TEXT (escaped; invalid UTF-8 replaced, never thrown).
std::string quote(std::string_view text) {
  return json(text).dump(-1, ' ', false, json::error_handler_t::replace);
}

// "[2,3,224]" for error messages.
std::string shape_text(const std::vector<std::uint64_t>& dims) { return fmt::format("[{}]", fmt::join(dims, ",")); }

// "[0][2][17]": where a nested element sits.
std::string index_text(std::span<const std::size_t> index) {
  std::string out;
  for (const std::size_t i : index) out += fmt::format("[{}]", i);
  return out;
}

// nlohmann's parse error without its "[json.exception.parse_error.101] " prefix.
std::string parse_error_text(const json::exception& e) {
  std::string_view text = e.what();
  if (const auto close = text.find("] "); close != std::string_view::npos && text.starts_with("[json.")) {
    text.remove_prefix(close + 2);
  }
  return std::string(text);
}

bool is_jpeg(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
         static_cast<unsigned char>(bytes[1]) == 0xD8;
}

void check_jpeg(std::string_view bytes, std::string_view what) {
  if (bytes.empty()) bad(fmt::format("{} is empty; accepted: a JPEG file", what));
  if (!is_jpeg(bytes)) {
    std::string start;
    for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 2); ++i) {
      start += fmt::format("{}{:02X}", i ? " " : "", static_cast<unsigned char>(bytes[i]));
    }
    bad(fmt::format("{} is not a JPEG file (it starts with {}, not the start-of-image marker FF D8)", what, start));
  }
}

// The shape of an input, checked against what its datatype accepts; the item count N.
std::size_t check_shape(const std::string& where, bool fp32, const std::vector<std::uint64_t>& dims,
                        const ParseLimits& limits) {
  // What is accepted, formatted only for a refusal.
  const auto accepted = [&] {
    return fp32 ? fmt::format("[N,3,224,224] with N from 1 to {}", limits.max_items)
                : fmt::format("[N] or [N,1] with N from 1 to {}", limits.max_items);
  };
  if (fp32 && limits.any_fp32_shape) {
    // The null model: any [N, ...], each item at most one image's floats.
    std::uint64_t per_item = 1;
    for (std::size_t d = 1; d < dims.size(); ++d) per_item = std::min<std::uint64_t>(per_item * std::min<std::uint64_t>(dims[d], kItemFloats + 1), kItemFloats + 1);
    if (dims.empty() || per_item == 0 || per_item > kItemFloats) {
      bad(fmt::format("{}: shape {} is not accepted by the null model; accepted: [N, ...] with N from 1 to {} and at "
                      "most {} values per item",
                      where, shape_text(dims), limits.max_items, kItemFloats));
    }
  }
  const std::size_t want_rank = fp32 ? (limits.any_fp32_shape ? dims.size() : 4) : dims.size() == 2 ? 2 : 1;
  if (dims.size() != want_rank) {
    bad(fmt::format("{}: shape {} has {} dimensions; accepted: {}", where, shape_text(dims), dims.size(), accepted()));
  }
  if (fp32 && !limits.any_fp32_shape && (dims[1] != kChannels || dims[2] != kHeight || dims[3] != kWidth)) {
    bad(fmt::format("{}: shape {} is not an image batch; accepted: {}", where, shape_text(dims), accepted()));
  }
  if (!fp32 && dims.size() == 2 && dims[1] != 1) {
    bad(fmt::format("{}: shape {} has {} JPEG files per item; accepted: {}", where, shape_text(dims), dims[1],
                    accepted()));
  }
  if (dims[0] == 0) bad(fmt::format("{}: shape {} has no items; accepted: {}", where, shape_text(dims), accepted()));
  // The item limit also bounds every size computed from N (N * kItemFloats * 4 fits a size_t).
  const std::size_t cap = std::min(limits.max_items, std::numeric_limits<std::size_t>::max() / (kItemFloats * 4));
  if (dims[0] > cap) {
    throw ProtocolError(413, fmt::format("{}: {} items in one request; accepted: 1 to {} (send the rest in further "
                                         "requests)",
                                         where, dims[0], cap));
  }
  return static_cast<std::size_t>(dims[0]);
}

// Checks that NODE is nested exactly as dims[level..] (arrays only; leaves are checked on reading).
void check_nesting(const json& node, std::span<const std::uint64_t> dims, std::vector<std::size_t>& index,
                   const std::string& where, const std::vector<std::uint64_t>& shape) {
  if (dims.empty()) return;
  if (!node.is_array() || node.size() != dims[0]) {
    bad(fmt::format("{}: data{} {}; nested data must match the shape {} (or give all values flat)", where,
                    index_text(index),
                    node.is_array() ? fmt::format("has {} elements, the shape needs {}", node.size(), dims[0])
                                    : fmt::format("is a single value, the shape needs an array of {}", dims[0]),
                    shape_text(shape)));
  }
  index.push_back(0);
  for (const json& child : node) {
    check_nesting(child, dims.subspan(1), index, where, shape);
    ++index.back();
  }
  index.pop_back();
}

// Calls LEAF(element, flat position) for every element of DATA (flat, or nested as DIMS).
template <typename Leaf>
void for_each_element(const json& data, const std::vector<std::uint64_t>& dims, std::size_t count,
                      const std::string& where, Leaf&& leaf) {
  if (!data.is_array()) bad(fmt::format("{}: \"data\" is not an array; accepted: the tensor's values, flat or nested", where));
  const bool nested = dims.size() > 1 && data.size() == dims[0] && !data.empty() && data.front().is_array();
  if (!nested) {
    if (data.size() != count) {
      bad(fmt::format("{}: data has {} elements; the shape {} needs {} (flat, or nested as the shape)", where,
                      data.size(), shape_text(dims), count));
    }
    std::size_t i = 0;
    for (const json& e : data) leaf(e, i++);
    return;
  }
  std::vector<std::size_t> index;
  check_nesting(data, dims, index, where, dims);
  std::size_t i = 0;
  auto walk = [&](auto& self, const json& node, std::size_t level) -> void {
    if (level == dims.size()) {
      leaf(node, i++);
      return;
    }
    for (const json& child : node) self(self, child, level + 1);
  };
  walk(walk, data, 0);
}

float fp32_value(const json& e, std::size_t i, const std::string& where) {
  if (!e.is_number()) {
    bad(fmt::format("{}: element {} is {}, not a number; accepted: FP32 values", where, i, e.type_name()));
  }
  const double v = e.get<double>();
  if (!(std::fabs(v) <= static_cast<double>(FLT_MAX))) {
    bad(fmt::format("{}: element {} is {}, outside FP32's range", where, i, v));
  }
  return static_cast<float>(v);
}

std::uint32_t read_u32le(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 | std::uint32_t{b[3]} << 24;
}

std::vector<OutputRequest> parse_outputs(const json& doc, bool binary_default) {
  std::vector<OutputRequest> out;
  const auto it = doc.find("outputs");
  if (it == doc.end() || (it->is_array() && it->empty())) {
    out.push_back({Output::kLogits, binary_default});
    return out;
  }
  if (!it->is_array()) bad("\"outputs\" is not an array; accepted: [{\"name\": \"logits\"}, {\"name\": \"top1\"}]");
  for (const json& o : *it) {
    const auto name = o.is_object() ? o.find("name") : o.end();
    if (!o.is_object() || name == o.end() || !name->is_string()) {
      bad("an entry of \"outputs\" has no \"name\" string; accepted: {\"name\": \"logits\"} or {\"name\": \"top1\"}");
    }
    const auto& n = name->get_ref<const std::string&>();
    OutputRequest r{Output::kLogits, binary_default};
    if (n == "logits") r.kind = Output::kLogits;
    else if (n == "top1") r.kind = Output::kTop1;
    else bad(fmt::format("output {} is not an output of this model; accepted: logits, top1", quote(n)));
    if (std::any_of(out.begin(), out.end(), [&](const OutputRequest& x) { return x.kind == r.kind; })) {
      bad(fmt::format("output {} is asked for twice; accepted: each output once", quote(n)));
    }
    if (const auto p = o.find("parameters"); p != o.end()) {
      if (!p->is_object()) bad(fmt::format("output {}: \"parameters\" is not an object", quote(n)));
      if (const auto b = p->find("binary_data"); b != p->end()) {
        if (!b->is_boolean()) bad(fmt::format("output {}: \"binary_data\" is not true or false", quote(n)));
        r.binary = b->get<bool>();
      }
    }
    out.push_back(r);
  }
  return out;
}

// The request in JSON_TEXT; BINARY holds the bytes after the JSON header under the binary
// extension (has_binary), else nothing.
InferRequest parse_request(std::string_view json_text, std::string_view binary, bool has_binary,
                           const ParseLimits& limits) {
  if (const std::size_t depth = json_nesting_depth(json_text); depth > limits.max_depth) {
    bad(fmt::format("the request's JSON is nested {} levels deep; accepted: at most {}", depth, limits.max_depth));
  }
  json doc;
  try {
    doc = json::parse(json_text);
  } catch (const json::exception& e) {
    bad(fmt::format("the request is not valid JSON ({}); accepted: an inference request object", parse_error_text(e)));
  }
  if (!doc.is_object()) bad(fmt::format("the request is a JSON {}; accepted: an inference request object", doc.type_name()));

  InferRequest req;
  if (const auto it = doc.find("id"); it != doc.end()) {
    if (!it->is_string()) bad(fmt::format("\"id\" is a {}; accepted: a string", it->type_name()));
    req.id = it->get<std::string>();
  }
  bool binary_default = false;
  if (const auto it = doc.find("parameters"); it != doc.end()) {
    if (!it->is_object()) bad("\"parameters\" is not an object");
    if (const auto b = it->find("binary_data_output"); b != it->end()) {
      if (!b->is_boolean()) bad("\"binary_data_output\" is not true or false");
      binary_default = b->get<bool>();
    }
  }

  const auto inputs = doc.find("inputs");
  if (inputs == doc.end() || !inputs->is_array()) {
    bad(fmt::format("the request has no \"inputs\" array; accepted: one input, {}", kAcceptedInputs));
  }
  if (inputs->size() != 1) {
    bad(fmt::format("the request has {} inputs; accepted: exactly one, {}", inputs->size(), kAcceptedInputs));
  }
  const json& in = inputs->front();
  if (!in.is_object()) bad(fmt::format("the input is a JSON {}; accepted: an object with name, datatype, shape, data",
                                       in.type_name()));
  const auto name_it = in.find("name");
  if (name_it == in.end() || !name_it->is_string()) bad("the input has no \"name\" string");
  const std::string where = fmt::format("input {}", quote(name_it->get_ref<const std::string&>()));

  const auto dt_it = in.find("datatype");
  if (dt_it == in.end() || !dt_it->is_string()) {
    bad(fmt::format("{} has no \"datatype\" string; accepted: FP32 or BYTES", where));
  }
  const auto& datatype = dt_it->get_ref<const std::string&>();
  const bool fp32 = datatype == "FP32";
  if (!fp32 && datatype != "BYTES") {
    bad(fmt::format("{}: datatype {} is not accepted; accepted: FP32 (shape [N,3,224,224]) or BYTES (shape [N], JPEG "
                    "files)",
                    where, quote(datatype)));
  }
  const auto shape_it = in.find("shape");
  if (shape_it == in.end() || !shape_it->is_array()) bad(fmt::format("{} has no \"shape\" array", where));
  std::vector<std::uint64_t> dims;
  for (const json& d : *shape_it) {
    if (!d.is_number_integer() || (d.is_number_integer() && !d.is_number_unsigned() && d.get<std::int64_t>() < 0)) {
      bad(fmt::format("{}: shape {} holds {}; accepted: non-negative integers", where, shape_it->dump(), d.dump()));
    }
    dims.push_back(d.get<std::uint64_t>());
  }
  req.kind = fp32 ? InferRequest::Kind::kTensor : InferRequest::Kind::kJpeg;
  req.items = check_shape(where, fp32, dims, limits);
  if (fp32) {
    req.item_floats = 1;
    for (std::size_t d = 1; d < dims.size(); ++d) req.item_floats *= static_cast<std::size_t>(dims[d]);
  }
  const std::size_t count = fp32 ? req.items * req.item_floats : req.items;

  std::optional<std::uint64_t> binary_size;
  if (const auto p = in.find("parameters"); p != in.end()) {
    if (!p->is_object()) bad(fmt::format("{}: \"parameters\" is not an object", where));
    if (const auto b = p->find("binary_data_size"); b != p->end()) {
      if (!b->is_number_unsigned()) bad(fmt::format("{}: binary_data_size is {}; accepted: a byte count", where, b->dump()));
      binary_size = b->get<std::uint64_t>();
    }
  }
  const auto data = in.find("data");
  if (binary_size) {
    if (!has_binary) {
      bad(fmt::format("{} has binary_data_size but the body has no binary part (send the JSON's length in the "
                      "Inference-Header-Content-Length header, or give \"data\" in the JSON)",
                      where));
    }
    if (data != in.end()) bad(fmt::format("{} has both \"data\" and binary_data_size; accepted: one of them", where));
    if (*binary_size != binary.size()) {
      bad(fmt::format("{}: binary_data_size is {} but {} bytes follow the JSON header; they must be equal", where,
                      *binary_size, binary.size()));
    }
    if (fp32) {
      if (binary.size() != count * sizeof(float)) {
        bad(fmt::format("{}: binary_data_size is {}; shape {} in FP32 needs {} bytes ({} little-endian floats)", where,
                        binary.size(), shape_text(dims), count * sizeof(float), count));
      }
      req.tensor.resize(count);
      std::memcpy(req.tensor.data(), binary.data(), binary.size());
    } else {
      std::size_t at = 0;
      req.jpegs.reserve(req.items);
      for (std::size_t i = 0; i < req.items; ++i) {
        const std::string what = fmt::format("{} element {}", where, i);
        if (binary.size() - at < 4) {
          bad(fmt::format("{}: the binary data ends after {} of {} bytes, before element {}'s 4-byte length", where,
                          at, binary.size(), i));
        }
        const std::uint32_t n = read_u32le(binary.data() + at);
        at += 4;
        if (n > binary.size() - at) {
          bad(fmt::format("{} has length {} but only {} bytes of the binary data are left", what, n, binary.size() - at));
        }
        check_jpeg(binary.substr(at, n), what);
        req.jpegs.emplace_back(binary.substr(at, n));
        at += n;
      }
      if (at != binary.size()) {
        bad(fmt::format("{}: binary_data_size is {} but its {} elements use {} bytes", where, binary.size(), req.items,
                        at));
      }
    }
  } else {
    if (data == in.end()) bad(fmt::format("{} has no \"data\" (nor binary_data_size)", where));
    if (has_binary && !binary.empty()) {
      bad(fmt::format("{} bytes follow the JSON header but no input has binary_data_size", binary.size()));
    }
    if (fp32) {
      // for_each_element checks the whole structure before the first element: the memory is only
      // reserved for data that is there.
      for_each_element(*data, dims, count, where, [&](const json& e, std::size_t i) {
        if (i == 0) req.tensor.reserve(count);
        req.tensor.push_back(fp32_value(e, i, where));
      });
    } else {
      req.jpegs.reserve(req.items);
      for_each_element(*data, dims, count, where, [&](const json& e, std::size_t i) {
        const std::string what = fmt::format("{} element {}", where, i);
        if (!e.is_string()) bad(fmt::format("{} is {}; accepted: a string of a base64-encoded JPEG file", what, e.type_name()));
        std::string bytes = decode_base64(e.get_ref<const std::string&>(), what);
        check_jpeg(bytes, what);
        req.jpegs.push_back(std::move(bytes));
      });
    }
  }
  req.outputs = parse_outputs(doc, binary_default);
  return req;
}

// Top-1 of each item: [index, softmax probability] pairs.
std::vector<float> top1_of(std::span<const float> logits, std::size_t items, std::size_t classes) {
  std::vector<float> out;
  out.reserve(items * 2);
  for (std::size_t n = 0; n < items; ++n) {
    const auto row = logits.subspan(n * classes, classes);
    std::size_t best = 0;
    for (std::size_t c = 1; c < classes; ++c) {
      if (row[c] > row[best] || (std::isnan(row[best]) && !std::isnan(row[c]))) best = c;
    }
    double sum = 0;
    for (const float v : row) sum += std::exp(static_cast<double>(v) - static_cast<double>(row[best]));
    out.push_back(static_cast<float>(best));
    out.push_back(static_cast<float>(1.0 / sum));
  }
  return out;
}

// The shortest text that reads back as V (std::to_chars: faster than fmt's "{}" per value).
void append_float(fmt::memory_buffer& out, float v) {
  if (!std::isfinite(v)) {
    out.append(std::string_view("null"));
    return;
  }
  char text[32];
  const auto [end, ec] = std::to_chars(text, text + sizeof text, v);
  out.append(text, ec == std::errc() ? end : text);
}

void append_floats_le(std::string& out, std::span<const float> values) {
  const std::size_t at = out.size();
  out.resize(at + values.size_bytes());
  std::memcpy(out.data() + at, values.data(), values.size_bytes());
}

// The response's JSON; the bytes of binary outputs are appended to *TAIL in output order.
std::string write_response(std::string_view model_name, const std::optional<std::string>& id,
                           std::span<const OutputRequest> outputs, std::span<const float> logits, std::size_t items,
                           std::size_t classes, std::string* tail) {
  if (classes == 0) throw std::invalid_argument("infer response: no classes");
  if (items > logits.size() / classes) throw std::invalid_argument("infer response: too few logits");
  if (logits.size() != items * classes) throw std::invalid_argument("infer response: logits.size() != items * classes");
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  fmt::format_to(it, "{{\"model_name\":{}", quote(model_name));
  if (id) fmt::format_to(it, ",\"id\":{}", quote(*id));
  fmt::format_to(it, ",\"outputs\":[");
  bool first = true;
  for (const OutputRequest& o : outputs) {
    std::vector<float> top1;
    std::span<const float> values = logits;
    std::size_t cols = classes;
    if (o.kind == Output::kTop1) {
      top1 = top1_of(logits, items, classes);
      values = top1;
      cols = 2;
    }
    fmt::format_to(it, "{}{{\"name\":\"{}\",\"datatype\":\"FP32\",\"shape\":[{},{}]", first ? "" : ",",
                   output_name(o.kind), items, cols);
    first = false;
    if (o.binary && tail) {
      fmt::format_to(it, ",\"parameters\":{{\"binary_data_size\":{}}}}}", values.size_bytes());
      append_floats_le(*tail, values);
      continue;
    }
    fmt::format_to(it, ",\"data\":[");
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out.push_back(',');
      append_float(out, values[i]);
    }
    fmt::format_to(it, "]}}");
  }
  fmt::format_to(it, "]}}");
  return fmt::to_string(out);
}

constexpr std::array<std::int8_t, 256> kBase64Values = [] {
  std::array<std::int8_t, 256> t{};
  t.fill(-1);
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < alphabet.size(); ++i) t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  return t;
}();

}  // namespace

bool InferRequest::binary_output() const {
  return std::any_of(outputs.begin(), outputs.end(), [](const OutputRequest& o) { return o.binary; });
}

std::string error_json(std::string_view message) { return "{\"error\":" + quote(message) + "}"; }

ProtocolError unknown_model(std::string_view requested, std::string_view served) {
  return ProtocolError(404, fmt::format("model {} is not served here; accepted: {}", quote(requested), quote(served)));
}

std::string_view output_name(Output kind) { return kind == Output::kTop1 ? "top1" : "logits"; }

InferRequest parse_infer_json(std::string_view body, const ParseLimits& limits) {
  return parse_request(body, {}, false, limits);
}

InferRequest parse_infer_binary(std::string_view body, std::size_t json_header_length, const ParseLimits& limits) {
  if (json_header_length > body.size()) {
    bad(fmt::format("Inference-Header-Content-Length is {} but the body has only {} bytes", json_header_length,
                    body.size()));
  }
  return parse_request(body.substr(0, json_header_length), body.substr(json_header_length), true, limits);
}

InferRequest parse_jpeg_body(std::string_view body) {
  check_jpeg(body, "the image/jpeg body");
  InferRequest req;
  req.kind = InferRequest::Kind::kJpeg;
  req.items = 1;
  req.jpegs.emplace_back(body);
  req.outputs.push_back({Output::kLogits, false});
  return req;
}

std::string infer_response_json(std::string_view model_name, const std::optional<std::string>& id,
                                std::span<const OutputRequest> outputs, std::span<const float> logits,
                                std::size_t items, std::size_t classes) {
  return write_response(model_name, id, outputs, logits, items, classes, nullptr);
}

BinaryResponse infer_response_binary(std::string_view model_name, const std::optional<std::string>& id,
                                     std::span<const OutputRequest> outputs, std::span<const float> logits,
                                     std::size_t items, std::size_t classes) {
  std::string tail;
  BinaryResponse r;
  r.body = write_response(model_name, id, outputs, logits, items, classes, &tail);
  r.header_length = r.body.size();
  r.body += tail;
  return r;
}

std::string server_metadata_json(std::string_view version, std::string_view serving) {
  return fmt::format("{{\"name\":\"greenbatch\",\"version\":{},\"extensions\":[\"binary_tensor_data\"]{}}}",
                     quote(version), serving.empty() ? std::string() : fmt::format(",\"greenbatch\":{}", serving));
}

std::string model_metadata_json(std::string_view name, std::string_view platform, std::size_t max_items,
                                std::size_t classes, bool any_input_shape) {
  return fmt::format(
      "{{\"name\":{},\"platform\":{},"
      "\"inputs\":[{{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":{}}},"
      "{{\"name\":\"jpeg\",\"datatype\":\"BYTES\",\"shape\":[-1]}}],"
      "\"outputs\":[{{\"name\":\"logits\",\"datatype\":\"FP32\",\"shape\":[-1,{}]}},"
      "{{\"name\":\"top1\",\"datatype\":\"FP32\",\"shape\":[-1,2]}}],"
      "\"parameters\":{{\"max_items_per_request\":{}}}}}",
      quote(name), quote(platform), any_input_shape ? "[-1,-1]" : "[-1,3,224,224]", classes, max_items);
}

std::string decode_base64(std::string_view text, std::string_view what) {
  if (text.size() % 4 != 0) {
    bad(fmt::format("{}: base64 text of {} characters is not a multiple of 4; accepted: standard base64 with '=' "
                    "padding",
                    what, text.size()));
  }
  std::size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
  const auto value = [&](std::size_t i) -> std::uint32_t {
    const auto c = static_cast<unsigned char>(text[i]);
    const std::int8_t v = kBase64Values[c];
    if (v < 0) {
      bad(fmt::format("{}: byte {} of its base64 text ({}) is not base64; accepted: A-Z a-z 0-9 + / and '=' padding at "
                      "the end",
                      what, i, c >= 0x20 && c < 0x7F ? fmt::format("'{}'", static_cast<char>(c)) : fmt::format("0x{:02X}", c)));
    }
    return static_cast<std::uint32_t>(v);
  };
  const std::size_t groups = text.size() / 4 - (pad > 0 ? 1 : 0);  // groups of 4 symbols, 3 bytes
  std::string out(groups * 3 + (pad == 1 ? 2 : pad == 2 ? 1 : 0), '\0');
  char* o = out.data();
  for (std::size_t g = 0; g < groups; ++g, o += 3) {
    const std::size_t i = 4 * g;
    std::uint32_t group = value(i);  // one symbol at a time: a refusal names the first bad byte
    group = group << 6 | value(i + 1);
    group = group << 6 | value(i + 2);
    group = group << 6 | value(i + 3);
    o[0] = static_cast<char>(group >> 16);
    o[1] = static_cast<char>(group >> 8 & 0xFF);
    o[2] = static_cast<char>(group & 0xFF);
  }
  const std::size_t i = 4 * groups;
  if (pad == 1) {  // 3 symbols: 18 bits, 2 bytes, 2 unused
    std::uint32_t group = value(i);
    group = group << 6 | value(i + 1);
    group = group << 6 | value(i + 2);
    if (group & 0x3) bad(fmt::format("{}: base64 text has non-zero padding bits; it is not canonical base64", what));
    o[0] = static_cast<char>(group >> 10);
    o[1] = static_cast<char>(group >> 2 & 0xFF);
  } else if (pad == 2) {  // 2 symbols: 12 bits, 1 byte, 4 unused
    std::uint32_t group = value(i);
    group = group << 6 | value(i + 1);
    if (group & 0xF) bad(fmt::format("{}: base64 text has non-zero padding bits; it is not canonical base64", what));
    o[0] = static_cast<char>(group >> 4);
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t g = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16 |
                            std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8 |
                            static_cast<unsigned char>(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(alphabet[g >> s & 0x3F]);
  }
  if (const std::size_t rest = bytes.size() - i; rest > 0) {
    std::uint32_t g = std::uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    if (rest == 2) g |= std::uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8;
    out.push_back(alphabet[g >> 18 & 0x3F]);
    out.push_back(alphabet[g >> 12 & 0x3F]);
    out.push_back(rest == 2 ? alphabet[g >> 6 & 0x3F] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace greenbatch::serve
