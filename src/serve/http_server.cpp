#include "serve/http_server.hpp"

#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "serve/protocol.hpp"

namespace greenbatch::serve {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(60);  // a connection silent this long is closed
constexpr auto kLingerTimeout = std::chrono::seconds(2);  // reading what a refused client still sends
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::uint64_t kBodyReadChunk = 1024 * 1024;  // most bytes of a body read at once
constexpr std::size_t kIdleBufferBytes = 64 * 1024;  // a connection's read buffer kept between requests

struct Reply {
  Reply() = default;
  Reply(int s, std::string b, std::string type = "application/json", std::optional<std::size_t> header = {})
      : status(s), body(std::move(b)), content_type(std::move(type)), header_length(header) {}
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::optional<std::size_t> header_length;  // Triton's Inference-Header-Content-Length
};

Reply error_reply(int status, std::string_view message) { return {status, error_json(message)}; }

// A request's state while its items are queued: the parsed request and the prepared images the
// payloads point into, kept alive until the answer.
struct InferState {
  InferRequest request;
  std::vector<std::vector<std::uint8_t>> pixels;
  std::vector<Payload> payloads;
  std::vector<const Payload*> pointers;
};

}  // namespace

struct HttpServer::Impl {
  Impl(HttpConfig c, InferenceLoop& l, MetricsRegistry& r, ServingMetrics& m, const ImagePreprocessor& i,
       const std::atomic<bool>& rd)
      : cfg(std::move(c)), loop(l), registry(r), metrics(m), images(i), ready(rd), classes(cfg.classes) {}

  void accept();
  void drain_then_stop();

  HttpConfig cfg;
  InferenceLoop& loop;
  MetricsRegistry& registry;
  ServingMetrics& metrics;
  const ImagePreprocessor& images;
  const std::atomic<bool>& ready;

  net::io_context io{1};
  tcp::acceptor acceptor{io};
  net::steady_timer drain_timer{io};
  bool stopping = false;        // io thread only
  std::size_t in_flight = 0;    // requests read and not yet answered (io thread only)
  std::thread closer;           // closes the inference loop at stop (it may wait for batches)
  std::atomic<bool> stop_asked{false};
  std::atomic<std::size_t> classes{0};  // HttpConfig::classes until set_classes()
  std::uint16_t port = 0;                // bound (the acceptor's, kept after it closes)
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl& server) : stream_(std::move(socket)), srv_(server) {}
  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(srv_.cfg.max_body);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  // Beast reads into the buffer's free capacity, at least 512 bytes: with the small buffer that
  // headers need, a 602 KB tensor came in 1,200 reads of 512 bytes (2.3 ms for one request on
  // loopback). A large body is read with room for all of it, up to kBodyReadChunk per read; the
  // room is given back after the request, so that idle connections stay small.
  void on_header(beast::error_code ec, std::size_t n) {
    if (ec || parser_->is_done()) return on_read(ec, n);
    const auto length = parser_->content_length();
    if (length && *length > buffer_.capacity() - buffer_.size()) {
      buffer_.reserve(buffer_.size() + static_cast<std::size_t>(std::min<std::uint64_t>(*length, kBodyReadChunk)));
    }
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (buffer_.capacity() > kIdleBufferBytes) buffer_.shrink_to_fit();
    if (ec == http::error::body_limit) {
      begin(false);
      return send(error_reply(413, fmt::format("the body is larger than the {} bytes accepted (--max-body)",
                                               srv_.cfg.max_body)));
    }
    // A malformed request is answered (400); a client that stopped mid-request (end of stream,
    // a partial message) or stayed silent is not: its connection closes.
    if (ec && ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      begin(false);
      return send(error_reply(400, fmt::format("not an HTTP/1.1 request: {}", ec.message())));
    }
    if (ec) return abort();  // the client went away, or stayed silent too long
    request_ = parser_->release();
    begin(request_.keep_alive());
    route();
  }

  void begin(bool keep_alive) {
    keep_alive_ = keep_alive && !srv_.stopping;
    counted_ = true;
    started_ = std::chrono::steady_clock::now();
    ++srv_.in_flight;
  }

  void route() {
    const std::string_view target(request_.target().data(), request_.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    const bool get = request_.method() == http::verb::get;
    // Scrapes and health checks are the operator's traffic, not the model's: not counted.
    counted_ = !(get && (path == "/metrics" || path.starts_with("/v2/health/")));
    const bool post = request_.method() == http::verb::post;
    auto only = [&](bool ok, const char* method) -> bool {
      const auto verb = request_.method_string();
      if (!ok) {
        send(error_reply(405, fmt::format("{} {}: method not allowed; accepted: {}",
                                          std::string_view(verb.data(), verb.size()), path, method)));
      }
      return ok;
    };
    if (path == "/v2/health/live") {
      if (only(get, "GET")) send({200, R"({"live":true})"});
      return;
    }
    if (path == "/v2/health/ready") {
      if (only(get, "GET")) send(srv_.ready ? Reply{200, R"({"ready":true})"} : Reply{503, R"({"ready":false})"});
      return;
    }
    if (path == "/v2") {
      if (only(get, "GET")) send({200, server_metadata_json(srv_.cfg.version, srv_.cfg.serving)});
      return;
    }
    if (path == "/metrics") {
      if (only(get, "GET")) send({200, srv_.registry.render(), std::string(kExpositionContentType), {}});
      return;
    }
    constexpr std::string_view kModels = "/v2/models/";
    if (path.starts_with(kModels)) {
      std::string_view rest = path.substr(kModels.size());
      const std::size_t slash = rest.find('/');
      const std::string_view name = rest.substr(0, slash);
      const std::string_view what = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
      if (name != srv_.cfg.model_name) {
        const ProtocolError e = unknown_model(name, srv_.cfg.model_name);
        return send(error_reply(e.status, e.what()));
      }
      if (what.empty() || what == "/versions/1") {
        if (only(get, "GET"))
          send({200, model_metadata_json(srv_.cfg.model_name, srv_.cfg.platform, srv_.cfg.max_items, srv_.classes.load(),
                                         srv_.cfg.any_input_shape)});
        return;
      }
      if (what == "/ready") {
        if (only(get, "GET"))
          send(Reply{srv_.ready ? 200 : 503,
                     nlohmann::json{{"name", srv_.cfg.model_name}, {"ready", srv_.ready.load()}}.dump()});
        return;
      }
      if (what == "/infer") {
        if (only(post, "POST")) infer();
        return;
      }
    }
    send(error_reply(404, fmt::format("no such endpoint: {}; accepted: /v2, /v2/health/live, /v2/health/ready, "
                                      "/v2/models/{{name}}, /v2/models/{{name}}/ready, /v2/models/{{name}}/infer, /metrics",
                                      path)));
  }

  void infer() {
    auto state = std::make_shared<InferState>();
    try {
      if (!srv_.ready) throw ProtocolError(503, "the model is not ready yet (loading or warming up)");
      ParseLimits limits;
      limits.max_items = srv_.cfg.max_items;
      limits.any_fp32_shape = srv_.cfg.any_input_shape;
      const std::string& body = request_.body();
      const auto type = request_[http::field::content_type];
      const auto header = request_["Inference-Header-Content-Length"];
      if (type.starts_with("image/jpeg")) {
        state->request = parse_jpeg_body(body);
      } else if (!header.empty()) {
        std::size_t n = 0;
        const auto [end, err] = std::from_chars(header.data(), header.data() + header.size(), n);
        if (err != std::errc() || end != header.data() + header.size()) {
          throw ProtocolError(400, fmt::format("Inference-Header-Content-Length '{}' is not a whole number of bytes",
                                               std::string_view(header.data(), header.size())));
        }
        state->request = parse_infer_binary(body, n, limits);
      } else {
        state->request = parse_infer_json(body, limits);
      }
      InferRequest& r = state->request;
      state->payloads.resize(r.items);
      if (r.kind == InferRequest::Kind::kJpeg) {
        // Decoded here, before admission: a bad image is this request's 400, never a failed batch.
        state->pixels.assign(r.items, std::vector<std::uint8_t>(srv_.images.crop_bytes()));
        for (std::size_t k = 0; k < r.items; ++k) {
          srv_.images.jpeg_to_crop(
              std::span(reinterpret_cast<const std::uint8_t*>(r.jpegs[k].data()), r.jpegs[k].size()),
              fmt::format("item {}", k), state->pixels[k].data());
          state->payloads[k] = Payload{Payload::Kind::kPixels, state->pixels[k].data(), nullptr};
        }
      } else {
        for (std::size_t k = 0; k < r.items; ++k) {
          state->payloads[k] = Payload{Payload::Kind::kTensor, nullptr, r.tensor.data() + k * r.item_floats};
        }
      }
    } catch (const ProtocolError& e) {
      return send(error_reply(e.status, e.what()));
    } catch (const UserError& e) {
      return send(error_reply(400, e.what()));
    }
    for (const Payload& p : state->payloads) state->pointers.push_back(&p);
    auto self = shared_from_this();
    const auto admit = srv_.loop.submit(state->pointers, [self, state](Completion&& c) {
      // On the inference thread: hand the answer to this connection's thread, never block.
      net::post(self->stream_.get_executor(),
                [self, state, c = std::move(c)]() mutable { self->answer(*state, std::move(c)); });
    });
    if (admit == InferenceLoop::Admit::kQueueFull) {
      send(error_reply(503, fmt::format("the queue is full: {} items would pass --max-queue; try again later",
                                        state->request.items)));
    } else if (admit == InferenceLoop::Admit::kClosed) {
      send(error_reply(503, "the server is shutting down"));
    }
  }

  void answer(const InferState& state, Completion&& c) {
    if (!c.error.empty()) return send(error_reply(500, "inference failed: " + c.error));
    const InferRequest& r = state.request;
    try {
      Reply reply;
      if (r.binary_output()) {
        BinaryResponse b = infer_response_binary(srv_.cfg.model_name, r.id, r.outputs, c.outputs, r.items, c.width);
        reply = {200, std::move(b.body), "application/octet-stream", b.header_length};
      } else {
        reply = {200, infer_response_json(srv_.cfg.model_name, r.id, r.outputs, c.outputs, r.items, c.width)};
      }
      srv_.metrics.inferences.labels({srv_.cfg.model_name}).inc(static_cast<double>(r.items));
      send(std::move(reply));
    } catch (const std::exception& e) {
      send(error_reply(500, fmt::format("cannot answer: {}", e.what())));
    }
  }

  void send(Reply reply) {
    response_ = {};
    response_.version(11);
    response_.result(static_cast<http::status>(reply.status));
    response_.set(http::field::server, "greenbatch");
    response_.set(http::field::content_type, reply.content_type);
    if (reply.header_length) response_.set("Inference-Header-Content-Length", std::to_string(*reply.header_length));
    response_.body() = std::move(reply.body);
    response_.keep_alive(keep_alive_ && !srv_.stopping);
    response_.prepare_payload();
    if (counted_) {
      srv_.metrics.requests.labels({srv_.cfg.model_name, std::to_string(reply.status)}).inc();
      srv_.metrics.request_duration.observe(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count());
    }
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, response_, beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    --srv_.in_flight;
    if (ec || !response_.keep_alive()) return close();
    read();
  }

  // After the last answer: stop sending, then read and discard what the client still sends (the
  // rest of a body refused with 413 or 400) until it closes, for at most kLingerTimeout. Closing
  // with unread bytes would make the kernel reset the connection, and the client would see a
  // broken pipe instead of the answer.
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(kLingerTimeout);
    linger();
  }

  void linger() {
    discard_.resize(16 * 1024);
    stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->abort();
      self->linger();
    });
  }

  void abort() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  HttpServer::Impl& srv_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  bool keep_alive_ = true;
  bool counted_ = true;  // counted in the request metrics (not /metrics scrapes or health checks)
  std::vector<char> discard_;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace

namespace {

// Opens, binds and listens; UserError with the address and the reason otherwise.
void listen(tcp::acceptor& acceptor, const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  const auto address = net::ip::make_address(host, ec);
  if (ec) throw UserError(fmt::format("--host '{}': not an IP address ({}); e.g. 127.0.0.1", host, ec.message()));
  const tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) throw UserError(fmt::format("cannot listen on {}:{}: {}", host, port, ec.message()));
}

}  // namespace

void check_can_listen(const std::string& host, std::uint16_t port) {
  net::io_context io;
  tcp::acceptor acceptor(io);
  listen(acceptor, host, port);
}

InferenceLoop::BatchObserver metrics_observer(ServingMetrics& metrics) {
  return [&metrics](const BatchRecord& batch, std::span<const TimeNs> waits) {
    metrics.batches.inc();
    metrics.batch_size.observe(static_cast<double>(batch.size));
    for (const TimeNs w : waits) metrics.queue_wait.observe(static_cast<double>(w) / 1e9);
  };
}

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;  // stopped
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept();
  });
}

// After stop: once every request read has been answered, the io thread ends (idle keep-alive
// connections are dropped with it).
void HttpServer::Impl::drain_then_stop() {
  if (in_flight == 0) {
    io.stop();
    return;
  }
  drain_timer.expires_after(std::chrono::milliseconds(5));
  drain_timer.async_wait([this](beast::error_code) { drain_then_stop(); });
}

HttpServer::HttpServer(HttpConfig config, InferenceLoop& loop, MetricsRegistry& registry, ServingMetrics& metrics,
                       const ImagePreprocessor& images, const std::atomic<bool>& ready)
    : impl_(std::make_unique<Impl>(std::move(config), loop, registry, metrics, images, ready)) {
  Impl& s = *impl_;
  listen(s.acceptor, s.cfg.host, s.cfg.port);
  s.port = s.acceptor.local_endpoint().port();
  s.accept();
}

HttpServer::~HttpServer() {
  if (impl_->closer.joinable()) impl_->closer.join();
}

void HttpServer::set_classes(std::size_t classes) { impl_->classes = classes; }

std::uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::run() { impl_->io.run(); }

void HttpServer::stop() {
  if (impl_->stop_asked.exchange(true)) return;
  net::post(impl_->io, [s = impl_.get()] {
    s->stopping = true;
    beast::error_code ignored;
    s->acceptor.close(ignored);
    // Closing the loop serves what was admitted (a partial batch too) and may wait for batches:
    // not on the io thread, which writes the answers meanwhile.
    s->closer = std::thread([s] { s->loop.close(); });
    s->drain_then_stop();
  });
}

}  // namespace greenbatch::serve
