// The load generator's pure parts: the URL it accepts, the figures of its record.
#include <gtest/gtest.h>

#include "core/error.hpp"
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
  EXPECT_EQ(back.identity(), "load|http://127.0.0.1:8000|resnet50|100|poisson|7|3|0");
  EXPECT_EQ(back.to_json(), j);
}

}  // namespace
}  // namespace greenbatch
