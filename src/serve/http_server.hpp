#pragma once
// greenbatch serve's HTTP layer: the Open Inference Protocol (KServe v2) over HTTP/1.1 with
// keep-alive, on Boost.Beast (Asio), one io thread by default. Requests from every connection
// enter the one InferenceLoop; a JPEG item is decoded and resized on the io thread before it is
// admitted (a bad image is a 400 of its own request, never a failed batch); the answer is
// written when the request's last item is done, posted back from the inference thread, so a
// slow or vanished client never stalls a batch. Overload is refused at once (503); a body over
// max_body is 413. Endpoints:
//   GET  /v2/health/live, /v2/health/ready, /v2, /v2/models/{name}, /v2/models/{name}/ready
//   POST /v2/models/{name}/infer   (JSON, Triton's binary tensor data, or a raw image/jpeg body)
//   GET  /metrics                  (Prometheus text format)
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "image/preprocess.hpp"
#include "serve/inference_loop.hpp"
#include "serve/metrics.hpp"

namespace greenbatch::serve {

struct HttpConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8000;          // 0: any free port (port() says which)
  std::size_t max_body = 64u << 20;   // bytes; more is 413
  std::size_t max_items = 128;        // per request; more is 413
  std::string model_name;             // the name the model is served under
  std::string platform = "pytorch_torchscript";
  std::size_t classes = 0;            // the model's output width (metadata)
  bool any_input_shape = false;       // the null model: FP32 inputs of any shape [N, ...]
  std::string version;                // the server's (metadata)
  std::string serving;                // GET /v2's "greenbatch" object (JSON; empty: none)
};

// Updates the serving metrics' batch series (batches, batch size, queue wait) after each batch:
// the observer to give the InferenceLoop.
InferenceLoop::BatchObserver metrics_observer(ServingMetrics& metrics);

// Throws UserError, as HttpServer would, when `host`:`port` cannot be listened on (not an IP
// address, the port taken, no permission): checked before a model takes minutes to load.
void check_can_listen(const std::string& host, std::uint16_t port);

class HttpServer {
 public:
  // Binds and listens at once (throws UserError when the address cannot be used). `ready` says
  // whether the model is loaded and warmed up (/v2/health/ready); everything outlives the server.
  HttpServer(HttpConfig config, InferenceLoop& loop, MetricsRegistry& registry, ServingMetrics& metrics,
             const ImagePreprocessor& images, const std::atomic<bool>& ready);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  std::uint16_t port() const;
  // The model's output width, once known (after warm-up): the metadata's logits shape.
  void set_classes(std::size_t classes);
  // Serves until stop(): the io thread(s) run here.
  void run();
  // Stops accepting; answers in progress are written, then their connections close. Callable
  // from any thread (a signal handler's thread included) and more than once.
  void stop();

  struct Impl;  // the io context, the acceptor and what connections share (http_server.cpp)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace greenbatch::serve
