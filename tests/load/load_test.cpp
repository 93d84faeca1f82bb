// The load generator's pure parts: the URL it accepts, the figures of its record.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "load/server_metrics.hpp"
#include "load/summary.hpp"
#include "load/target.hpp"

namespace greenbatch::load {
namespace {

TEST(ParseTarget, AcceptsHostAndPort) {
  const Target t = parse_target("http://127.0.0.1:8000");
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 8000);
  EXPECT_EQ(parse_target("http://localhost:1/").url(), "http://localhost:1");
  EXPECT_EQ(parse_target("http://my-server.example:65535").port, 65535);
}

TEST(ParseTarget, RefusesEverythingElse) {
  for (const char* url : {"https://h:1", "h:1", "http://h", "http://h:", "http://:80", "http://h:0", "http://h:65536",
                          "http://h:80/v2", "http://u@h:80", "http://[::1]:80", "http://h:8x", "http://h:80//"}) {
    EXPECT_THROW(parse_target(url), UserError) << url;
  }
  try {
    parse_target("http://h:99999");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("accepted: http://HOST:PORT"), std::string::npos) << e.what();
  }
}

RequestRecord answered(TimeNs scheduled, TimeNs sent, TimeNs done, int status) {
  return {scheduled, sent, done, status, Outcome::kHttp};
}

TEST(SummarizeLoad, CountsEveryOutcomeAndMeasuresFromTheSchedule) {
  const std::vector<RequestRecord> r = {
      answered(0, 0, 10 * kNsPerMs, 200),
      answered(100 * kNsPerMs, 101 * kNsPerMs, 130 * kNsPerMs, 200),  // 30 ms from its schedule
      answered(200 * kNsPerMs, 202 * kNsPerMs, 210 * kNsPerMs, 503),
      answered(300 * kNsPerMs, 300 * kNsPerMs, 301 * kNsPerMs, 404),
      {400 * kNsPerMs, 400 * kNsPerMs, 450 * kNsPerMs, 0, Outcome::kTimeout},
      {500 * kNsPerMs, -1, 500 * kNsPerMs, 0, Outcome::kConnectionError},
      answered(600 * kNsPerMs, 600 * kNsPerMs, 1000 * kNsPerMs, 302),
  };
  const LoadSummary s = summarize_load(r);
  const auto& st = s.figures.statuses;
  EXPECT_EQ(st.s2xx, 2u);
  EXPECT_EQ(st.s4xx, 1u);
  EXPECT_EQ(st.s5xx, 1u);
  EXPECT_EQ(st.other, 1u);
  EXPECT_EQ(st.timeout, 1u);
  EXPECT_EQ(st.connection_error, 1u);
  EXPECT_EQ(st.total(), r.size());
  EXPECT_EQ(s.summary.requests, 7u);
  EXPECT_EQ(s.summary.completed, 2u);
  EXPECT_DOUBLE_EQ(s.summary.latency_s.max, 0.03);
  EXPECT_DOUBLE_EQ(s.summary.latency_s.mean, 0.02);
  EXPECT_DOUBLE_EQ(s.summary.duration_s, 1.0);
  EXPECT_DOUBLE_EQ(s.summary.throughput_rps, 2.0);
  EXPECT_EQ(s.figures.sent, 6u);
  EXPECT_DOUBLE_EQ(*s.figures.achieved_rate_hz, 5.0 / 0.6);
  EXPECT_DOUBLE_EQ(s.figures.send_late_s->max, 0.002);
}

TEST(SummarizeLoad, ALoadThatChangesIsSummarisedPerWindowOfItsSchedule) {
  // 0.25 s windows: three answered in the first (latencies 10, 20, 40 ms), one failed and one
  // answered (5 ms) in the second, one answered (1 ms) in the third.
  const std::vector<RequestRecord> r = {
      answered(0, 0, 10 * kNsPerMs, 200),
      answered(100 * kNsPerMs, 100 * kNsPerMs, 120 * kNsPerMs, 200),
      answered(200 * kNsPerMs, 200 * kNsPerMs, 240 * kNsPerMs, 200),
      answered(300 * kNsPerMs, 300 * kNsPerMs, 301 * kNsPerMs, 503),
      answered(400 * kNsPerMs, 400 * kNsPerMs, 405 * kNsPerMs, 200),
      answered(600 * kNsPerMs, 600 * kNsPerMs, 601 * kNsPerMs, 200),
  };
  EXPECT_TRUE(summarize_load(r).summary.windows.empty());  // a steady load: none
  const auto w = summarize_load(r, 250 * kNsPerMs).summary.windows;
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].requests, 3u);
  EXPECT_DOUBLE_EQ(w[0].max_s, 0.040);
  EXPECT_DOUBLE_EQ(w[0].rate_hz, 3 / 0.25);
  EXPECT_EQ(w[1].requests, 1u);  // the 503 is not an answer
  EXPECT_DOUBLE_EQ(w[1].max_s, 0.005);
  EXPECT_EQ(w[2].requests, 1u);
  EXPECT_DOUBLE_EQ(w[2].t_s, 0.5);
  EXPECT_DOUBLE_EQ(w[2].rate_hz, 1 / 0.1);  // the last window: up to its last scheduled request
  EXPECT_EQ(w[0].batches, 0u);              // the server's to know
}

TEST(SummarizeLoad, NothingAnswered) {
  const std::vector<RequestRecord> r = {{0, -1, 5, 0, Outcome::kConnectionError}};
  const LoadSummary s = summarize_load(r);
  EXPECT_EQ(s.summary.completed, 0u);
  EXPECT_EQ(s.figures.statuses.connection_error, 1u);
  EXPECT_FALSE(s.figures.send_late_s);
  EXPECT_FALSE(s.figures.achieved_rate_hz);
}

}  // namespace
}  // namespace greenbatch::load

namespace greenbatch {
namespace {

TEST(LoadRecord, RoundTripsWithItsOwnKeys) {
  RunRecord rec;
  rec.mode = "load";
  rec.target = "http://127.0.0.1:8000";
  rec.server = {{"name", "greenbatch"}};
  rec.model = "resnet50";
  rec.device = "remote";
  rec.arrivals = "poisson";
  rec.policy = "server";
  rec.rate_hz = 100;
  rec.seed = 7;
  rec.requests = 3;
  const std::vector<load::RequestRecord> r = {{0, 0, 5, 200, load::Outcome::kHttp},
                                              {10, 11, 20, 503, load::Outcome::kHttp},
                                              {20, -1, 25, 0, load::Outcome::kConnectionError}};
  const load::LoadSummary s = load::summarize_load(r);
  rec.summary = s.summary;
  rec.load = s.figures;
  const nlohmann::json j = rec.to_json();
  EXPECT_EQ(j["statuses"]["5xx"], 1);
  EXPECT_EQ(j["statuses"]["connection_error"], 1);
  EXPECT_TRUE(j["batches"].is_null());
  EXPECT_TRUE(j["service_s"].is_null());
  const RunRecord back = RunRecord::from_json(j);
  EXPECT_EQ(back.mode, "load");
  EXPECT_EQ(back.target, rec.target);
  EXPECT_EQ(back.server, rec.server);
  ASSERT_TRUE(back.load);
  EXPECT_EQ(back.load->statuses.total(), 3u);
  EXPECT_EQ(back.load->sent, 2u);
  EXPECT_EQ(back.identity(), "load|http://127.0.0.1:8000|resnet50|100|poisson|7|3|0|server");
  EXPECT_EQ(back.to_json(), j);
}

TEST(LoadRecord, ThroughASweepsServerItIsKnownByItsConfigurationNotItsPort) {
  RunRecord rec;
  rec.mode = "load";
  rec.via = "serve";
  rec.target = "http://127.0.0.1:40001";
  rec.model = "synthetic:base=5ms";
  rec.device = "synthetic";
  rec.arrivals = "constant";
  rec.policy = "fixed:8";
  rec.rate_hz = 64;
  rec.requests = 64;
  Summary s;
  s.requests = s.completed = 64;
  s.batches = 8;
  s.avg_batch_size = 8;
  rec.summary = s;
  rec.load = LoadFigures{};
  const nlohmann::json j = rec.to_json();
  EXPECT_EQ(j["via"], "serve");
  EXPECT_EQ(j["batches"], 8);  // the server's batches, read from its metrics
  EXPECT_EQ(j["avg_batch_size"], 8.0);
  EXPECT_TRUE(j["service_s"].is_null());
  const RunRecord back = RunRecord::from_json(j);
  EXPECT_EQ(back.via, "serve");
  EXPECT_EQ(back.to_json(), j);
  RunRecord other = back;
  other.target = "http://127.0.0.1:40002";  // another start of the same server
  other.model = "synthetic:base=5000us";    // the same model in another form
  EXPECT_EQ(other.identity(), back.identity());
  other.policy = "fixed:16";
  EXPECT_NE(other.identity(), back.identity());
  nlohmann::json bad = j;
  bad["via"] = "carrier-pigeon";
  EXPECT_THROW(RunRecord::from_json(bad), UserError);
}

using load::check_model_name;
using load::metric_sum;
using load::parse_server_reading;
using load::server_energy;
using load::ServerReading;
using load::url_safe_name;

TEST(ServerMetrics, SumsEverySampleOfANameAndOnlyThatName) {
  const std::string text =
      "# HELP greenbatch_inferences_total Inferences (images) run, by model.\n"
      "# TYPE greenbatch_inferences_total counter\n"
      "greenbatch_inferences_total{model=\"a\"} 10\n"
      "greenbatch_inferences_total{model=\"b{x}\"} 5.5\n"
      "greenbatch_inferences_totally 99\n"
      "greenbatch_batch_size_sum 40\n"
      "greenbatch_batch_size_count 10\n"
      "greenbatch_batches_total NaN\n"
      "greenbatch_energy_joules_total 12.5 1700000000000\n"
      "greenbatch_power_watts not-a-number\n";
  EXPECT_EQ(metric_sum(text, "greenbatch_inferences_total"), 15.5);
  EXPECT_EQ(metric_sum(text, "greenbatch_batch_size_sum"), 40);
  EXPECT_EQ(metric_sum(text, "greenbatch_energy_joules_total"), 12.5);  // a timestamp after the value
  EXPECT_FALSE(metric_sum(text, "greenbatch_batches_total"));           // not a finite number
  EXPECT_FALSE(metric_sum(text, "greenbatch_power_watts"));
  EXPECT_FALSE(metric_sum(text, "greenbatch_idle_power_watts"));
  EXPECT_FALSE(metric_sum("", "x"));
}

TEST(ServerMetrics, TheWindowsEnergyPerSuccessfulInferenceAndAboveIdle) {
  const ServerReading before = parse_server_reading(
      "greenbatch_energy_joules_total 100\ngreenbatch_idle_power_watts 10\ngreenbatch_inferences_total{model=\"m\"} "
      "0\ngreenbatch_batches_total 0\n",
      1 * kNsPerS);
  const ServerReading after = parse_server_reading(
      "greenbatch_energy_joules_total 130\ngreenbatch_idle_power_watts 10\ngreenbatch_inferences_total{model=\"m\"} "
      "50\ngreenbatch_batches_total 5\n",
      3 * kNsPerS);
  Energy e = server_energy(before, after, 50);
  ASSERT_TRUE(e.measured);
  EXPECT_EQ(e.method, "server");
  EXPECT_DOUBLE_EQ(e.window_s, 2);
  EXPECT_DOUBLE_EQ(*e.joules, 30);
  EXPECT_DOUBLE_EQ(*e.per_image_j, 0.6);
  EXPECT_DOUBLE_EQ(*e.dynamic_per_image_j, (30 - 20) / 50.0);
  EXPECT_DOUBLE_EQ(*e.avg_power_w, 15);
  EXPECT_TRUE(e.warnings.empty());
  // Another client's work in the window is said.
  e = server_energy(before, after, 40);
  ASSERT_EQ(e.warnings.size(), 1u);
  EXPECT_NE(e.warnings[0].find("other clients"), std::string::npos);
  // A server without a meter: not measured, and why.
  const ServerReading none = parse_server_reading("greenbatch_batches_total 5\n", 3 * kNsPerS);
  e = server_energy(none, none, 50);
  EXPECT_FALSE(e.measured);
  EXPECT_FALSE(e.joules);
  EXPECT_NE(e.reason.find("exports no energy"), std::string::npos);
}

TEST(ModelName, IsAUrlPathSegment) {
  EXPECT_NO_THROW(check_model_name("resnet-50_v1.5", "--model"));
  for (const std::string& bad : std::vector<std::string>{"", "a/b", "a b", "a?b", std::string(129, 'a')}) {
    EXPECT_THROW(check_model_name(bad, "--model"), UserError) << bad;
  }
  EXPECT_EQ(url_safe_name("synthetic:base=5ms"), "synthetic_base_5ms");
  EXPECT_EQ(url_safe_name("fixed:8"), "fixed_8");
  EXPECT_EQ(url_safe_name(""), "model");
}

}  // namespace
}  // namespace greenbatch
