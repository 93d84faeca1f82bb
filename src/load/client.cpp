#include "load/client.hpp"

#include <utility>  // first: Boost 1.74's asio/awaitable.hpp uses std::exchange without including it

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <deque>
#include <memory>
#include <stdexcept>

#include "core/error.hpp"

namespace greenbatch::load {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::uint64_t kMaxResponseBytes = 64ull << 20;

// "connection refused" (the system's message, first letter lowered); a timeout says so.
std::string reason(const error_code& ec) {
  if (ec == beast::error::timeout) return "no answer in time";
  std::string m = ec.message();
  if (!m.empty()) m[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(m[0])));
  return m;
}

tcp::resolver::results_type resolve(net::io_context& io, const Target& target) {
  tcp::resolver resolver(io);
  error_code ec;
  auto endpoints = resolver.resolve(target.host, std::to_string(target.port), ec);
  if (ec) throw UserError(fmt::format("cannot connect to {}: {}", target.url(), reason(ec)));
  return endpoints;
}

// The request on the wire: its header and body, written once and sent as they are.
std::string raw_request(const OpenLoopConfig& c, const Body& b) {
  std::string head = fmt::format(
      "POST {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: greenbatch-load\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
      c.path, c.target.host, c.target.port, b.content_type, b.content.size());
  if (b.header_length) head += fmt::format("Inference-Header-Content-Length: {}\r\n", *b.header_length);
  head += "\r\n";
  return head + b.content;
}

struct Conn {
  explicit Conn(net::io_context& io) : socket(io), deadline(io) {}
  tcp::socket socket;
  net::steady_timer deadline;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::string_body>> parser;
  bool connected = false, closed = false, busy = false;
  std::size_t current = 0;  // the request it carries while busy
  std::size_t answered = 0;  // requests answered on it
};
using ConnPtr = std::shared_ptr<Conn>;

class Runner {
 public:
  Runner(const OpenLoopConfig& c, std::span<const TimeNs> s)
      : cfg_(c), schedule_(s), records_(s.size()), retried_(s.size(), false) {
    for (const Body& b : cfg_.bodies) raw_.push_back(raw_request(cfg_, b));
    for (std::size_t i = 0; i < s.size(); ++i) records_[i].scheduled = s[i];
  }

  std::vector<RequestRecord> run() {
    endpoints_ = resolve(io_, cfg_.target);
    if (schedule_.empty()) return std::move(records_);
    start_ = std::chrono::steady_clock::now();
    arm_tick();
    if (cfg_.cancel) watch_cancel();
    io_.run();
    return std::move(records_);
  }

 private:
  TimeNs now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  }

  void arm_tick() {
    tick_.expires_at(start_ + std::chrono::nanoseconds(schedule_[next_]));
    tick_.async_wait([this](const error_code& ec) {
      if (ec) return;
      const TimeNs t = now();
      while (next_ < schedule_.size() && schedule_[next_] <= t) waiting_.push_back(next_++);
      dispatch();
      if (next_ < schedule_.size()) arm_tick();
    });
  }

  // Polls the cancel flag; a set flag stops the io loop where it is.
  void watch_cancel() {
    cancel_timer_.expires_after(std::chrono::milliseconds(50));
    cancel_timer_.async_wait([this](const error_code& ec) {
      if (ec || finished_ == records_.size()) return;
      if (cfg_.cancel->load()) {
        io_.stop();
        return;
      }
      watch_cancel();
    });
  }

  // Hands waiting requests, oldest first, to idle connections, opening new ones up to the limit.
  void dispatch() {
    while (!waiting_.empty()) {
      ConnPtr c;
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      } else if (pool_.size() < cfg_.connections) {
        c = std::make_shared<Conn>(io_);
        pool_.push_back(c);
      } else {
        return;  // every connection busy: the request waits, and its latency shows it
      }
      const std::size_t i = waiting_.front();
      waiting_.pop_front();
      assign(c, i);
    }
  }

  void assign(const ConnPtr& c, std::size_t i) {
    c->busy = true;
    c->current = i;
    c->deadline.expires_after(std::chrono::nanoseconds(cfg_.timeout));
    c->deadline.async_wait([this, c, i](const error_code& ec) {
      if (ec || c->closed || !c->busy || c->current != i) return;
      finish(i, Outcome::kTimeout, 0);
      close(c);
      dispatch();
    });
    if (c->connected) {
      send(c, i);
      return;
    }
    net::async_connect(c->socket, endpoints_, [this, c, i](const error_code& ec, const tcp::endpoint&) {
      if (c->closed) return;
      if (ec) return fail(c, i);
      c->connected = true;
      error_code ignored;
      c->socket.set_option(tcp::no_delay(true), ignored);
      send(c, i);
    });
  }

  void send(const ConnPtr& c, std::size_t i) {
    c->parser.reset();  // no answer read yet for this request
    records_[i].sent = now();
    net::async_write(c->socket, net::buffer(raw_[i % raw_.size()]), [this, c, i](const error_code& ec, std::size_t) {
      if (c->closed) return;
      if (ec) return fail(c, i);
      read(c, i);
    });
  }

  void read(const ConnPtr& c, std::size_t i) {
    c->parser.emplace();
    c->parser->body_limit(kMaxResponseBytes);
    http::async_read(c->socket, c->buffer, *c->parser, [this, c, i](const error_code& ec, std::size_t) {
      if (c->closed) return;
      if (ec) return fail(c, i);
      const auto& res = c->parser->get();
      const bool keep = res.keep_alive();
      finish(i, Outcome::kHttp, static_cast<int>(res.result_int()));
      if (c->closed) {
        // the last answer: finish closed every connection
      } else if (keep) {
        ++c->answered;
        c->busy = false;
        c->deadline.cancel();
        idle_.push_back(c);
      } else {
        close(c);
      }
      dispatch();
    });
  }

  void fail(const ConnPtr& c, std::size_t i) {
    // A kept-alive connection the server closed while it was idle fails the next request before
    // any answer; that request is sent again once, first in line, on another connection (as
    // browsers and HTTP clients do). Anything else is the request's connection error.
    const bool stale = c->answered > 0 && !(c->parser && c->parser->got_some());
    if (stale && !retried_[i]) {
      retried_[i] = true;
      records_[i].sent = -1;
      close(c);
      waiting_.push_front(i);
      dispatch();
      return;
    }
    finish(i, Outcome::kConnectionError, 0);
    close(c);
    dispatch();
  }

  void finish(std::size_t i, Outcome outcome, int status) {
    RequestRecord& r = records_[i];
    r.done = now();
    r.outcome = outcome;
    r.status = status;
    if (++finished_ == records_.size()) {
      // All answered: nothing keeps the io loop running.
      tick_.cancel();
      cancel_timer_.cancel();
      for (const ConnPtr& c : std::vector<ConnPtr>(pool_)) close(c);
    }
  }

  void close(const ConnPtr& c) {
    if (c->closed) return;
    c->closed = true;
    c->busy = false;
    error_code ignored;
    c->socket.close(ignored);
    c->deadline.cancel();
    std::erase(pool_, c);
    std::erase(idle_, c);
  }

  const OpenLoopConfig& cfg_;
  std::span<const TimeNs> schedule_;
  std::vector<RequestRecord> records_;
  std::vector<bool> retried_;  // sent again after a stale keep-alive connection failed it
  std::vector<std::string> raw_;
  net::io_context io_{1};
  tcp::resolver::results_type endpoints_;
  net::steady_timer tick_{io_};
  net::steady_timer cancel_timer_{io_};
  std::chrono::steady_clock::time_point start_;
  std::size_t next_ = 0, finished_ = 0;
  std::deque<std::size_t> waiting_;
  std::vector<ConnPtr> pool_, idle_;
};

}  // namespace

std::vector<RequestRecord> run_open_loop(const OpenLoopConfig& config, std::span<const TimeNs> schedule) {
  if (config.bodies.empty()) throw std::invalid_argument("run_open_loop: no request bodies");
  if (config.connections == 0) throw std::invalid_argument("run_open_loop: no connections allowed");
  if (!std::is_sorted(schedule.begin(), schedule.end()) || (!schedule.empty() && schedule.front() < 0)) {
    throw std::invalid_argument("run_open_loop: the schedule must be ascending from 0");
  }
  return Runner(config, schedule).run();
}

HttpReply http_get(const Target& target, const std::string& path, TimeNs timeout) {
  net::io_context io{1};
  const auto endpoints = resolve(io, target);
  beast::tcp_stream stream(io);
  http::request<http::empty_body> req{http::verb::get, path, 11};
  req.set(http::field::host, fmt::format("{}:{}", target.host, target.port));
  req.set(http::field::user_agent, "greenbatch-load");
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  error_code result;
  stream.expires_after(std::chrono::nanoseconds(timeout));
  stream.async_connect(endpoints, [&](const error_code& ec, const tcp::endpoint&) {
    if (ec) {
      result = ec;
      return;
    }
    http::async_write(stream, req, [&](const error_code& ec2, std::size_t) {
      if (ec2) {
        result = ec2;
        return;
      }
      http::async_read(stream, buffer, res, [&](const error_code& ec3, std::size_t) { result = ec3; });
    });
  });
  io.run();
  if (result) throw UserError(fmt::format("cannot connect to {}: {}", target.url(), reason(result)));
  return {static_cast<int>(res.result_int()), std::move(res.body())};
}

}  // namespace greenbatch::load
