// The HTTP layer in-process on 127.0.0.1 (a free port), with a small backend that gives each
// item [request id, its payload's first value, 7]: every endpoint, every refusal with the
// protocol's error body, overload shed at once, and stop() answering what was admitted.
#include "serve/http_server.hpp"

#include <utility>  // first: Boost 1.74's asio/awaitable.hpp needs std::exchange

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <future>
#include <iterator>
#include <thread>

#include "batching/policy.hpp"
#include "serve/protocol.hpp"

namespace greenbatch::serve {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;

class RowsBackend final : public Backend {
 public:
  void run(std::span<const Request>) override {}
  void run_outputs(std::span<const Request> batch, BatchOutput& out) override {
    out.width = 3;
    out.values.clear();
    for (const Request& r : batch) {
      const auto* p = static_cast<const Payload*>(r.data);
      out.values.push_back(static_cast<float>(r.id));
      out.values.push_back(p->kind == Payload::Kind::kTensor ? p->tensor[0] : static_cast<float>(p->pixels[0]));
      out.values.push_back(7.0f);
    }
  }
  std::string model() const override { return "rows"; }
  std::string device() const override { return "test"; }
  bool follows_clock() const override { return false; }
};

struct Served {
  explicit Served(const std::string& policy_spec = "greedy:8", std::size_t max_queue = 64, std::size_t max_body = 8u << 20)
      : policy(parse_policy(policy_spec)),
        metrics(register_serving_metrics(registry, ServingSources{[this] { return double(loop.waiting()); }, {}})),
        loop(backend, *policy, max_queue, {.on_batch = metrics_observer(metrics), .after_answers = {}}) {
    HttpConfig c;
    c.host = "127.0.0.1";
    c.port = 0;
    c.max_body = max_body;
    c.model_name = "test";
    c.classes = 3;
    c.version = "0.1.0";
    server = std::make_unique<HttpServer>(c, loop, registry, metrics, images, ready);
    io = std::thread([this] { server->run(); });
  }
  ~Served() {
    server->stop();
    io.join();
  }
  RowsBackend backend;
  std::unique_ptr<BatchPolicy> policy;
  MetricsRegistry registry;
  ServingMetrics metrics;
  InferenceLoop loop;
  ImagePreprocessor images;
  std::atomic<bool> ready{true};
  std::unique_ptr<HttpServer> server;
  std::thread io;
};

struct Answer {
  int status = 0;
  std::string body;
  json doc() const { return json::parse(body); }
};

// One keep-alive connection.
class Client {
 public:
  explicit Client(std::uint16_t port) : stream_(io_) {
    stream_.expires_after(10s);
    stream_.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  }
  Answer send(http::verb verb, const std::string& target, const std::string& body = "",
              const std::string& type = "application/json") {
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty() || verb == http::verb::post) {
      req.set(http::field::content_type, type);
      req.body() = body;
      req.prepare_payload();
    }
    stream_.expires_after(10s);
    http::write(stream_, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream_, buf, parser);
    return {static_cast<int>(parser.get().result_int()), parser.get().body()};
  }
  Answer get(const std::string& target) { return send(http::verb::get, target); }
  Answer post(const std::string& target, const std::string& body, const std::string& type = "application/json") {
    return send(http::verb::post, target, body, type);
  }
  beast::tcp_stream& stream() { return stream_; }

 private:
  net::io_context io_;
  beast::tcp_stream stream_;
};

std::string shipped_jpeg() {
  std::ifstream in(std::string(GB_SOURCE_DIR) + "/data/images/chelsea.jpg", std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string bytes_request(const std::string& jpeg, const std::string& id = "r1") {
  return json{{"id", id},
              {"inputs", json::array({json{{"name", "jpeg"}, {"shape", {1}}, {"datatype", "BYTES"},
                                           {"data", json::array({encode_base64(jpeg)})}}})}}
      .dump();
}

TEST(HttpServer, HealthAndMetadataDocuments) {
  Served s;
  Client c(s.server->port());
  EXPECT_EQ(c.get("/v2/health/live").doc(), json::parse(R"({"live":true})"));
  EXPECT_EQ(c.get("/v2/health/ready").doc(), json::parse(R"({"ready":true})"));
  EXPECT_EQ(c.get("/v2").doc()["name"], "greenbatch");
  const Answer model = c.get("/v2/models/test");
  EXPECT_EQ(model.status, 200);
  EXPECT_EQ(model.doc()["name"], "test");
  EXPECT_EQ(c.get("/v2/models/test/ready").doc()["ready"], true);
  const Answer other = c.get("/v2/models/resnet/ready");
  EXPECT_EQ(other.status, 404);
  EXPECT_NE(other.doc()["error"].get<std::string>().find("test"), std::string::npos) << other.body;
  EXPECT_EQ(c.get("/nope").status, 404);
  EXPECT_EQ(c.post("/v2/health/live", "{}").status, 405);
  s.ready = false;
  EXPECT_EQ(c.get("/v2/health/ready").status, 503);
  EXPECT_EQ(c.post("/v2/models/test/infer", bytes_request(shipped_jpeg())).status, 503);
}

TEST(HttpServer, InferJpegAsBase64AndAsARawBody) {
  Served s;
  Client c(s.server->port());
  const std::string jpeg = shipped_jpeg();
  const Answer a = c.post("/v2/models/test/infer", bytes_request(jpeg, "first"));
  ASSERT_EQ(a.status, 200) << a.body;
  const json d = a.doc();
  EXPECT_EQ(d["id"], "first");
  EXPECT_EQ(d["model_name"], "test");
  ASSERT_EQ(d["outputs"][0]["shape"], json::parse("[1,3]"));
  // The item's first pixel, as the study's preprocessing gives it.
  ImagePreprocessor pre;
  std::vector<std::uint8_t> crop(pre.crop_bytes());
  pre.jpeg_to_crop(std::span(reinterpret_cast<const std::uint8_t*>(jpeg.data()), jpeg.size()), "chelsea", crop.data());
  EXPECT_EQ(d["outputs"][0]["data"][1].get<float>(), static_cast<float>(crop[0]));
  const Answer raw = c.post("/v2/models/test/infer", jpeg, "image/jpeg");
  ASSERT_EQ(raw.status, 200) << raw.body;
  EXPECT_EQ(raw.doc()["outputs"][0]["data"][1].get<float>(), static_cast<float>(crop[0]));
  // A JPEG that cannot be decoded is this request's 400; the connection goes on.
  const Answer bad = c.post("/v2/models/test/infer", jpeg.substr(0, jpeg.size() / 2), "image/jpeg");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_NE(bad.doc()["error"].get<std::string>().find("truncated"), std::string::npos) << bad.body;
  EXPECT_EQ(c.get("/v2/health/live").status, 200);
}

TEST(HttpServer, InferTensorsGiveEachItemItsRow) {
  Served s;
  Client c(s.server->port());
  std::vector<float> data(2 * kItemFloats, 0.0f);
  data[0] = 0.5f;
  data[kItemFloats] = 1.5f;
  const json req{{"inputs", json::array({json{{"name", "x"}, {"shape", {2, 3, 224, 224}}, {"datatype", "FP32"}, {"data", data}}})}};
  const Answer a = c.post("/v2/models/test/infer", req.dump());
  ASSERT_EQ(a.status, 200) << a.body.substr(0, 300);
  const json out = a.doc()["outputs"][0];
  EXPECT_EQ(out["shape"], json::parse("[2,3]"));
  EXPECT_EQ(out["data"][1], 0.5);
  EXPECT_EQ(out["data"][4], 1.5);
  EXPECT_EQ(out["data"][5], 7.0);
}

TEST(HttpServer, BadRequestsGetTheProtocolsErrorAndTheServerGoesOn) {
  Served s("greedy:8", 64, 1u << 20);
  Client c(s.server->port());
  for (const std::string& body : {std::string("{not json"), std::string(R"({"inputs":[]})"),
                                  std::string(R"({"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]})")}) {
    const Answer a = c.post("/v2/models/test/infer", body);
    EXPECT_EQ(a.status, 400) << body;
    EXPECT_TRUE(a.doc().contains("error")) << a.body;
  }
  Client big(s.server->port());
  const Answer too_big = big.post("/v2/models/test/infer", std::string(2u << 20, 'x'));
  EXPECT_EQ(too_big.status, 413) << too_big.body;
  EXPECT_EQ(c.post("/v2/models/other/infer", "{}").status, 404);
  // A client that promises a body and vanishes leaves the server serving.
  {
    Client gone(s.server->port());
    const std::string partial = "POST /v2/models/test/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"in";
    net::write(gone.stream().socket(), net::buffer(partial));
  }
  EXPECT_EQ(c.post("/v2/models/test/infer", bytes_request(shipped_jpeg())).status, 200);
  const std::string metrics = c.get("/metrics").body;
  EXPECT_NE(metrics.find(R"(greenbatch_requests_total{model="test",code="400"} 3)"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("greenbatch_batches_total 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("greenbatch_batch_size_count 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("greenbatch_queue_wait_seconds_count 1"), std::string::npos) << metrics;
}

TEST(HttpServer, OverloadIsShedAtOnceAndStopAnswersWhatWasAdmitted) {
  auto s = std::make_unique<Served>("fixed:100", 2);  // nothing is dispatched before stop
  const auto port = s->server->port();
  const std::string req = bytes_request(shipped_jpeg());
  std::vector<std::future<Answer>> waiting;
  for (int i = 0; i < 2; ++i) {
    waiting.push_back(std::async(std::launch::async, [port, req] {
      Client c(port);
      return c.post("/v2/models/test/infer", req);
    }));
  }
  // Both admitted: the queue holds 2.
  for (int i = 0; i < 200 && s->loop.waiting() < 2; ++i) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(s->loop.waiting(), 2u);
  Client third(port);
  const Answer shed = third.post("/v2/models/test/infer", req);
  EXPECT_EQ(shed.status, 503);
  EXPECT_NE(shed.doc()["error"].get<std::string>().find("queue is full"), std::string::npos) << shed.body;
  s.reset();  // stop(): the two admitted are served as a partial batch and answered
  for (auto& f : waiting) {
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(f.get().status, 200);
  }
}

}  // namespace
}  // namespace greenbatch::serve
