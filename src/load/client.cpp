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

#include "core/clock.hpp"
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
    request_fine_timer_slack();  // the tick's sleeps end within 1 ns of their deadline, not 50 us
    start_ = std::chrono::steady_clock::now();
    if (cfg_.cancel) watch_cancel();
    {
      // Keeps run_one() waiting while no operation is pending (between a spin and the next send).
      auto work = net::make_work_guard(io_);
      // A cancelled run stops the io loop (watch_cancel): then run_one() and poll_one() return at
      // once, and the loop ends with the requests not finished left pending.
      while (finished_ < records_.size() && !io_.stopped()) {
        if (next_ < schedule_.size() && schedule_[next_] - now() <= spin_before(next_)) {
          spin_and_send();
        } else {
          arm_tick();
          io_.run_one();
        }
      }
    }
    io_.run();  // the handlers of the closed connections, each returning at once (none if cancelled)
    return std::move(records_);
  }

 private:
  TimeNs now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start_).count();
  }

  // Sleeps on the timer until the margin before the next scheduled send: the io thread is idle
  // (blocked in epoll) while nothing is due soon. The wake-up's lateness teaches the margin.
  void arm_tick() {
    if (armed_for_ == next_ || next_ >= schedule_.size()) return;
    armed_for_ = next_;
    const TimeNs wake = schedule_[next_] - spin_before(next_);
    tick_.expires_at(start_ + std::chrono::nanoseconds(wake));
    tick_.async_wait([this, wake](const error_code& ec) {
      if (ec) return;  // set again for a later request, or the run is over
      armed_for_ = kNone;  // fired: the loop arms it again if the margin shrank below what is left
      margin_.observe(now() - wake);
    });
  }

  // How long before request k's time the spin starts: the margin, but at most a quarter of the
  // gap from the request before, so that the spin takes at most a quarter of the io thread's
  // time, however high the rate (at 10,000/s: 25 us of every 100 us).
  TimeNs spin_before(std::size_t k) const {
    const TimeNs gap = schedule_[k] - (k > 0 ? schedule_[k - 1] : 0);
    return std::min(margin_.ns(), gap / 4);
  }

  // The next send is within the margin: spins to its scheduled time, handling what the sockets
  // have ready meanwhile (one handler at a time, so that none delays the send by much), then hands
  // every request due to a connection at once.
  void spin_and_send() {
    TimeNs t = now();
    while (t < schedule_[next_]) {
      io_.poll_one();
      t = now();
    }
    while (next_ < schedule_.size() && schedule_[next_] <= t) waiting_.push_back(next_++);
    dispatch();
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
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t armed_for_ = kNone;  // the request the pending tick is set for; kNone: no tick pending
  // The spin before each send: 20 to 80 us. Without it, sends on the project's 2-core machine
  // left about 45 us after their time at the median (p90 60 us: the timer's wake-up), so 80 us
  // covers most. RealClock's ceiling (2 ms) lets the margin follow rare long wake-ups: at
  // 1,000 req/s that spun 90 % of a core, on a machine the server shares (docs/measurements/load.md).
  SpinMargin margin_{20 * kNsPerUs, 80 * kNsPerUs};
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
