// The serving metrics (src/serve/metrics): exact text, escaping, histograms, concurrency, name
// checks, function-backed series, and the text read back by prometheus_client's own parser.
#include "serve/metrics.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

using namespace greenbatch::serve;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A small registry of every kind, with known values.
void fill_small(MetricsRegistry& r) {
  auto& requests = r.counter_family("app_requests_total", "Requests answered.", {"model", "code"});
  requests.labels({"resnet", "200"}).inc();
  requests.labels({"resnet", "200"}).inc();
  requests.labels({"alexnet", "404"}).inc(0.5);
  r.gauge("app_temperature_celsius", "Temperature.").set(-2.25);
  auto& h = r.histogram("app_latency_seconds", "Latency.", {0.5, 1, 2.5});
  for (const double v : {0.25, 0.5, 0.75, 3.0}) h.observe(v);
  r.gauge_fn("app_queue_depth", "Waiting.", [] { return 7.0; });
  r.counter_family("app_errors_total", "Errors, by kind.", {"kind"});  // no child yet
}

const char* const kSmallGolden =
    "# HELP app_requests_total Requests answered.\n"
    "# TYPE app_requests_total counter\n"
    "app_requests_total{model=\"alexnet\",code=\"404\"} 0.5\n"
    "app_requests_total{model=\"resnet\",code=\"200\"} 2\n"
    "# HELP app_temperature_celsius Temperature.\n"
    "# TYPE app_temperature_celsius gauge\n"
    "app_temperature_celsius -2.25\n"
    "# HELP app_latency_seconds Latency.\n"
    "# TYPE app_latency_seconds histogram\n"
    "app_latency_seconds_bucket{le=\"0.5\"} 2\n"
    "app_latency_seconds_bucket{le=\"1\"} 3\n"
    "app_latency_seconds_bucket{le=\"2.5\"} 3\n"
    "app_latency_seconds_bucket{le=\"+Inf\"} 4\n"
    "app_latency_seconds_sum 4.5\n"
    "app_latency_seconds_count 4\n"
    "# HELP app_queue_depth Waiting.\n"
    "# TYPE app_queue_depth gauge\n"
    "app_queue_depth 7\n"
    "# HELP app_errors_total Errors, by kind.\n"
    "# TYPE app_errors_total counter\n";

}  // namespace

TEST(MetricsRender, SmallRegistryIsExactlyTheGoldenText) {
  MetricsRegistry r;
  fill_small(r);
  EXPECT_EQ(r.render(), kSmallGolden);
  EXPECT_EQ(MetricsRegistry().render(), "");
}

TEST(MetricsRender, HelpAndLabelValuesAreEscaped) {
  EXPECT_EQ(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");  // a quote stays in help
  EXPECT_EQ(escape_label_value("a\\b\nc\"d"), "a\\\\b\\nc\\\"d");
  MetricsRegistry r;
  r.gauge_family("app_info", "Back\\slash and\nnew line.", {"path"}).labels({"C:\\dir\n\"x\""}).set(1);
  EXPECT_EQ(r.render(),
            "# HELP app_info Back\\\\slash and\\nnew line.\n"
            "# TYPE app_info gauge\n"
            "app_info{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsRender, ValuesReadBackExactly) {
  EXPECT_EQ(format_value(0.1), "0.1");
  EXPECT_EQ(format_value(1.0), "1");
  EXPECT_EQ(format_value(-0.5), "-0.5");
  EXPECT_EQ(format_value(1e300), "1e+300");
  EXPECT_EQ(format_value(kInf), "+Inf");
  EXPECT_EQ(format_value(-kInf), "-Inf");
  EXPECT_EQ(format_value(kNaN), "NaN");
  EXPECT_EQ(format_value(9007199254740993.0), "9007199254740992");  // 2^53 + 1 is not a double
  std::mt19937_64 rng(20);
  for (int i = 0; i < 100000; ++i) {
    double v = std::bit_cast<double>(rng());
    if (!std::isfinite(v)) continue;
    const auto text = format_value(v);
    EXPECT_EQ(std::bit_cast<std::uint64_t>(std::strtod(text.c_str(), nullptr)), std::bit_cast<std::uint64_t>(v))
        << text;
  }
}

TEST(MetricsHistogram, BucketsAreCumulativeAndInclusiveSumAndCountExact) {
  MetricsRegistry r;
  auto& fam = r.histogram_family("app_size_bytes", "Sizes.", {"kind"}, {1, 2, 4, kInf});  // +Inf dropped
  auto& h = fam.labels({"a"});
  ASSERT_EQ(h.bounds().size(), 3u);
  for (const double v : {0.0, 1.0, 1.0, 1.5, 2.0, 4.0, 4.5, 100.0}) h.observe(v);
  auto s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{3, 5, 6, 8}));
  EXPECT_EQ(s.count, 8u);
  EXPECT_EQ(s.sum, 114.0);
  h.observe(kNaN);  // the +Inf bucket only; the sum is NaN from then on
  s = h.snapshot();
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{3, 5, 6, 9}));
  EXPECT_TRUE(std::isnan(s.sum));
  fam.labels({"b"}).observe(-1);
  EXPECT_EQ(r.render(),
            "# HELP app_size_bytes Sizes.\n"
            "# TYPE app_size_bytes histogram\n"
            "app_size_bytes_bucket{kind=\"a\",le=\"1\"} 3\n"
            "app_size_bytes_bucket{kind=\"a\",le=\"2\"} 5\n"
            "app_size_bytes_bucket{kind=\"a\",le=\"4\"} 6\n"
            "app_size_bytes_bucket{kind=\"a\",le=\"+Inf\"} 9\n"
            "app_size_bytes_sum{kind=\"a\"} NaN\n"
            "app_size_bytes_count{kind=\"a\"} 9\n"
            "app_size_bytes_bucket{kind=\"b\",le=\"1\"} 1\n"
            "app_size_bytes_bucket{kind=\"b\",le=\"2\"} 1\n"
            "app_size_bytes_bucket{kind=\"b\",le=\"4\"} 1\n"
            "app_size_bytes_bucket{kind=\"b\",le=\"+Inf\"} 1\n"
            "app_size_bytes_sum{kind=\"b\"} -1\n"
            "app_size_bytes_count{kind=\"b\"} 1\n");
}

TEST(MetricsConcurrency, ThreadsIncrementAndObserveExactly) {
  MetricsRegistry r;
  auto& requests = r.counter_family("app_requests_total", "Requests.", {"code"});
  auto& energy = r.counter("app_energy_joules_total", "Energy.");
  auto& depth = r.gauge("app_depth", "Depth.");
  auto& h = r.histogram("app_latency_seconds", "Latency.", {0.25, 0.5, 1});
  constexpr int kThreads = 4, kPerThread = 50000;
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    while (!done.load()) {
      const auto text = r.render();
      ASSERT_NE(text.find("app_latency_seconds_count"), std::string::npos);
      // Mid-update, a snapshot's buckets still rise and the +Inf bucket is the count.
      const auto s = h.snapshot();
      ASSERT_TRUE(std::is_sorted(s.cumulative.begin(), s.cumulative.end()));
      ASSERT_EQ(s.cumulative.back(), s.count);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto& mine = requests.labels({t % 2 ? "200" : "503"});  // children created concurrently
      for (int i = 0; i < kPerThread; ++i) {
        mine.inc();
        requests.labels({"all"}).inc();
        energy.inc(0.125);
        depth.inc();
        h.observe(0.25 * (i % 5));  // 0, 0.25, 0.5, 0.75, 1: sums exact in any order
      }
    });
  for (auto& th : threads) th.join();
  done = true;
  scraper.join();
  constexpr double n = double(kThreads) * kPerThread;
  EXPECT_EQ(requests.labels({"all"}).value(), n);
  EXPECT_EQ(requests.labels({"200"}).value(), n / 2);
  EXPECT_EQ(requests.labels({"503"}).value(), n / 2);
  EXPECT_EQ(energy.value(), n * 0.125);
  EXPECT_EQ(depth.value(), n);
  const auto s = h.snapshot();
  EXPECT_EQ(s.count, static_cast<std::uint64_t>(n));
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{80000, 120000, 200000, 200000}));
  EXPECT_EQ(s.sum, n / 5 * (0 + 0.25 + 0.5 + 0.75 + 1));
}

TEST(MetricsNames, BadNamesAndConventionsAreRefused) {
  struct Bad {
    const char* name;
    MetricType type;
  };
  for (const auto& [name, type] : {
           Bad{"", MetricType::gauge}, Bad{"9lives", MetricType::gauge}, Bad{"a-b", MetricType::gauge},
           Bad{"a b", MetricType::gauge}, Bad{"café", MetricType::gauge},
           Bad{"job:rate5m", MetricType::gauge},  // colons: recording rules only
           Bad{"__internal", MetricType::gauge}, Bad{"app_requests", MetricType::counter},
           Bad{"_total", MetricType::counter}, Bad{"app_requests_total", MetricType::gauge},
           Bad{"app_size_total", MetricType::histogram}, Bad{"app_latency_ms", MetricType::histogram},
           Bad{"app_latency_milliseconds", MetricType::gauge}, Bad{"app_energy_kwh_total", MetricType::counter},
           Bad{"app_power_kilowatts", MetricType::gauge}, Bad{"app_load_percent", MetricType::gauge}}) {
    EXPECT_THROW(check_metric_name(name, type), std::invalid_argument) << name;
  }
  EXPECT_NO_THROW(check_metric_name("greenbatch_energy_joules_total", MetricType::counter));
  EXPECT_NO_THROW(check_metric_name("_x9", MetricType::gauge));

  MetricsRegistry r;
  const auto labels = [&](std::vector<std::string> names, MetricType type = MetricType::gauge) {
    check_label_names(names, type);
  };
  for (const auto& bad : {"", "1a", "a-b", "__name__", "__x"})
    EXPECT_THROW(labels({bad}), std::invalid_argument) << bad;
  EXPECT_THROW(labels({"model", "model"}), std::invalid_argument);
  EXPECT_THROW(labels({"le"}, MetricType::histogram), std::invalid_argument);
  EXPECT_NO_THROW(labels({"le", "_a9"}));
  EXPECT_THROW(r.gauge_family("app_x", "X.", {"__x"}), std::invalid_argument);
  EXPECT_THROW(r.counter("app_x", "X."), std::invalid_argument);
  EXPECT_THROW(r.gauge("app_ok", "bad \xff help"), std::invalid_argument);

  // Names taken by another family's samples.
  r.histogram("app_latency_seconds", "L.", {1});
  r.counter("app_hits_total", "H.");
  EXPECT_THROW(r.gauge("app_latency_seconds_count", "C."), std::invalid_argument);
  EXPECT_THROW(r.gauge("app_latency_seconds", "C."), std::invalid_argument);
  EXPECT_THROW(r.gauge("app_hits", "C."), std::invalid_argument);  // the parser's name for app_hits_total
  EXPECT_THROW(r.counter_fn("app_hits_total", "C.", [] { return 1.0; }), std::invalid_argument);

  // Values and bounds.
  auto& fam = r.counter_family("app_requests_total", "R.", {"model", "code"});
  EXPECT_THROW(fam.labels({"resnet"}), std::invalid_argument);
  EXPECT_THROW(fam.labels({"resnet", "200", "x"}), std::invalid_argument);
  EXPECT_THROW(fam.labels({"res\xc3", "200"}), std::invalid_argument);         // cut short
  EXPECT_THROW(fam.labels({"\xc0\xaf", "200"}), std::invalid_argument);        // overlong
  EXPECT_THROW(fam.labels({"\xed\xa0\x80", "200"}), std::invalid_argument);    // surrogate
  EXPECT_NO_THROW(fam.labels({"caf\xc3\xa9 \xf0\x9f\x98\x80", "200"}));
  EXPECT_THROW(fam.labels({"a", "b"}).inc(-1), std::invalid_argument);
  EXPECT_THROW(fam.labels({"a", "b"}).inc(kNaN), std::invalid_argument);
  EXPECT_THROW(r.histogram("app_a_seconds", "A.", {}), std::invalid_argument);
  EXPECT_THROW(r.histogram("app_b_seconds", "B.", {kInf}), std::invalid_argument);
  EXPECT_THROW(r.histogram("app_c_seconds", "C.", {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("app_d_seconds", "D.", {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("app_e_seconds", "E.", {kNaN, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("app_f_seconds", "F.", {-kInf, 1}), std::invalid_argument);
  EXPECT_THROW(r.gauge_fn("app_g", "G.", {}), std::invalid_argument);
}

TEST(MetricsFunctions, ReadAtEachScrapeAndLeftOutWhenTheyThrow) {
  MetricsRegistry r;
  double joules = 1.5;
  bool broken = false;
  r.counter_fn("app_energy_joules_total", "Energy.", [&] { return joules; });
  r.gauge_fn("app_power_watts", "Power.", [&]() -> double {
    if (broken) throw std::runtime_error("sensor gone");
    return 42.125;
  });
  EXPECT_EQ(r.render(),
            "# HELP app_energy_joules_total Energy.\n# TYPE app_energy_joules_total counter\n"
            "app_energy_joules_total 1.5\n"
            "# HELP app_power_watts Power.\n# TYPE app_power_watts gauge\napp_power_watts 42.125\n");
  joules = 1e6 + 0.25;
  broken = true;
  EXPECT_EQ(r.render(),
            "# HELP app_energy_joules_total Energy.\n# TYPE app_energy_joules_total counter\n"
            "app_energy_joules_total 1000000.25\n"
            "# HELP app_power_watts Power.\n# TYPE app_power_watts gauge\n");
}

TEST(MetricsServing, StandardSetWithAndWithoutEnergy) {
  MetricsRegistry none;
  const auto m0 = register_serving_metrics(none, {[] { return 3.0; }, std::nullopt});
  EXPECT_EQ(m0.energy_per_inference, nullptr);
  const auto text0 = none.render();
  for (const auto* absent : {"energy", "power"}) EXPECT_EQ(text0.find(absent), std::string::npos) << absent;
  EXPECT_NE(text0.find("\ngreenbatch_queue_depth 3\n"), std::string::npos);
  EXPECT_THROW(register_serving_metrics(none, {[] { return 3.0; }, std::nullopt}), std::invalid_argument);
  MetricsRegistry bad;
  EXPECT_THROW(register_serving_metrics(bad, {{}, std::nullopt}), std::invalid_argument);

  MetricsRegistry r;
  auto m = register_serving_metrics(r, {[] { return 0.0; }, EnergySources{[] { return 12.5; }, [] { return 80.0; }, {}}});
  ASSERT_NE(m.energy_per_inference, nullptr);
  m.requests.labels({"resnet50", "200"}).inc();
  m.batch_size.observe(3);
  m.energy_per_inference->labels({"recent", "dynamic"}).set(0.75);
  const auto text = r.render();
  for (const auto* line :
       {"greenbatch_requests_total{model=\"resnet50\",code=\"200\"} 1\n",
        "greenbatch_batch_size_bucket{le=\"2\"} 0\n", "greenbatch_batch_size_bucket{le=\"4\"} 1\n",
        "greenbatch_batch_size_bucket{le=\"128\"} 1\n", "greenbatch_batch_size_sum 3\n",
        "greenbatch_request_duration_seconds_bucket{le=\"0.0001\"} 0\n",
        "greenbatch_request_duration_seconds_bucket{le=\"60\"} 0\n", "greenbatch_batches_total 0\n",
        "greenbatch_energy_joules_total 12.5\n", "greenbatch_power_watts 80\n",
        "greenbatch_energy_per_inference_joules{window=\"recent\",kind=\"dynamic\"} 0.75\n",
        "# TYPE greenbatch_inferences_total counter\n# HELP"})
    EXPECT_NE(text.find(line), std::string::npos) << line;
  EXPECT_EQ(text.find("greenbatch_idle_power_watts"), std::string::npos);  // no idle function: not exported
}

// ---- prometheus_client's parser --------------------------------------------------------------

namespace {

class MetricsPythonParser : public greenbatch::testing::TempDirTest {
 protected:
  // Renders, writes to a file, parses it with prometheus_client in a subprocess (failing, never
  // skipping, when Python or the module is missing) and returns its families.
  nlohmann::json parse(const MetricsRegistry& r) {
    const auto path = write("metrics.txt", r.render());
    const auto result = greenbatch::testing::run_command(std::string("'") + GREENBATCH_PYTHON + "' '" +
                                                         GB_SOURCE_DIR + "/tests/serve/parse_metrics.py' '" + path + "'");
    EXPECT_EQ(result.code, 0) << result.output;
    if (result.code != 0) return nlohmann::json::array();
    return nlohmann::json::parse(result.output);
  }
};

double value_of(const nlohmann::json& sample) { return std::strtod(sample["value"].get<std::string>().c_str(), nullptr); }

}  // namespace

TEST_F(MetricsPythonParser, SmallRegistryReadsBackAsRendered) {
  MetricsRegistry r;
  fill_small(r);
  r.gauge_family("app_info", "Back\\slash and\nnew line.", {"path"}).labels({"C:\\dir\n\"x\" caf\xc3\xa9"}).set(kNaN);
  r.gauge("app_ceiling", "Ceiling.").set(-kInf);
  r.gauge("app_tiny", "Tiny.").set(5e-324);
  const auto fams = parse(r);
  ASSERT_EQ(fams.size(), 8u) << fams.dump();

  EXPECT_EQ(fams[0]["name"], "app_requests");  // the parser's name for a counter family
  EXPECT_EQ(fams[0]["type"], "counter");
  EXPECT_EQ(fams[0]["documentation"], "Requests answered.");
  ASSERT_EQ(fams[0]["samples"].size(), 2u);
  EXPECT_EQ(fams[0]["samples"][0]["name"], "app_requests_total");
  EXPECT_EQ(fams[0]["samples"][0]["labels"], (nlohmann::json{{"model", "alexnet"}, {"code", "404"}}));
  EXPECT_EQ(value_of(fams[0]["samples"][0]), 0.5);
  EXPECT_EQ(fams[0]["samples"][1]["labels"], (nlohmann::json{{"model", "resnet"}, {"code", "200"}}));
  EXPECT_EQ(value_of(fams[0]["samples"][1]), 2.0);

  EXPECT_EQ(fams[1]["name"], "app_temperature_celsius");
  EXPECT_EQ(fams[1]["type"], "gauge");
  EXPECT_EQ(value_of(fams[1]["samples"][0]), -2.25);

  EXPECT_EQ(fams[2]["name"], "app_latency_seconds");
  EXPECT_EQ(fams[2]["type"], "histogram");
  const auto& hs = fams[2]["samples"];
  ASSERT_EQ(hs.size(), 6u);
  const char* les[] = {"0.5", "1", "2.5", "+Inf"};
  const double counts[] = {2, 3, 3, 4};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(hs[i]["name"], "app_latency_seconds_bucket");
    EXPECT_EQ(hs[i]["labels"], (nlohmann::json{{"le", les[i]}}));
    EXPECT_EQ(value_of(hs[i]), counts[i]);
  }
  EXPECT_EQ(hs[4]["name"], "app_latency_seconds_sum");
  EXPECT_EQ(value_of(hs[4]), 4.5);
  EXPECT_EQ(hs[5]["name"], "app_latency_seconds_count");
  EXPECT_EQ(value_of(hs[5]), 4.0);

  EXPECT_EQ(fams[3]["name"], "app_queue_depth");
  EXPECT_EQ(value_of(fams[3]["samples"][0]), 7.0);

  // A family without children: HELP and TYPE only, read back as a family without samples.
  EXPECT_EQ(fams[4]["name"], "app_errors");
  EXPECT_EQ(fams[4]["type"], "counter");
  EXPECT_EQ(fams[4]["documentation"], "Errors, by kind.");
  EXPECT_TRUE(fams[4]["samples"].empty());

  EXPECT_EQ(fams[5]["documentation"], "Back\\slash and\nnew line.");
  EXPECT_EQ(fams[5]["samples"][0]["labels"]["path"], "C:\\dir\n\"x\" caf\xc3\xa9");
  EXPECT_TRUE(std::isnan(value_of(fams[5]["samples"][0])));
  EXPECT_EQ(value_of(fams[6]["samples"][0]), -kInf);
  EXPECT_EQ(value_of(fams[7]["samples"][0]), 5e-324);
}

TEST_F(MetricsPythonParser, StandardSetReadsBackSampleForSample) {
  MetricsRegistry r;
  auto m = register_serving_metrics(
      r, {[] { return 5.0; }, EnergySources{[] { return 1234.5678; }, [] { return 71.3; }, [] { return 30.25; }}});
  m.requests.labels({"shufflenet", "200"}).inc();
  m.requests.labels({"shufflenet", "503"}).inc();
  m.inferences.labels({"shufflenet"}).inc(8);
  for (const double s : {0.0004, 0.003, 0.0123, 0.2, 75.0}) m.request_duration.observe(s);
  m.queue_wait.observe(0.001);
  m.batch_size.observe(8);
  m.batches.inc();
  m.energy_per_inference->labels({"since_start", "total"}).set(0.1 + 0.2);
  const auto text = r.render();
  const auto fams = parse(r);
  // Every sample line comes back, with the value as written.
  std::vector<std::pair<std::string, double>> parsed;
  for (const auto& f : fams)
    for (const auto& s : f["samples"]) parsed.emplace_back(s["name"].get<std::string>(), value_of(s));
  std::vector<std::pair<std::string, double>> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = text.find('\n', pos);
    const auto line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("#")) continue;
    const auto name_end = line.find_first_of("{ ");
    lines.emplace_back(line.substr(0, name_end), std::strtod(line.substr(line.rfind(' ') + 1).c_str(), nullptr));
  }
  EXPECT_EQ(parsed, lines);
  EXPECT_EQ(fams.size(), 11u);
  EXPECT_EQ(text.find("greenbatch_energy_per_inference_joules{window=\"since_start\",kind=\"total\"} "
                      "0.30000000000000004\n") != std::string::npos,
            true);
}
