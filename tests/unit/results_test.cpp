#include "io/results.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using testing::slurp;

class ResultsTest : public testing::TempDirTest {
 protected:
  RunOutcome run(const std::string& policy, const std::string& meter = "modelled:idle=50W,busy=150W") {
    RunSpec spec;
    spec.model = "synthetic:base=5ms";
    spec.rate_hz = 64;
    spec.policy = policy;
    spec.requests = 100;
    spec.meter = meter;
    spec.clock = ClockKind::kVirtual;
    PreparedRun prepared(spec);
    return prepared.execute();
  }
  RunRecord record(const std::string& policy, const std::string& meter = "modelled:idle=50W,busy=150W") {
    return run(policy, meter).record;
  }
};

TEST_F(ResultsTest, JsonCarriesEveryDocumentedKey) {
  const nlohmann::json j = record("fixed:16").to_json();
  for (const char* key : {"schema", "tool_version", "git_rev", "started_utc", "host", "model", "device", "clock",
                          "rate_hz", "arrivals", "seed", "policy", "requests", "completed", "duration_s", "batches",
                          "avg_batch_size", "throughput_rps", "latency_s", "dispatch_late_s", "service_s", "energy"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  for (const char* key : {"mean", "p50", "p90", "p95", "p99", "max"}) EXPECT_TRUE(j["latency_s"].contains(key)) << key;
  for (const char* key : {"p50", "p99", "max"}) EXPECT_TRUE(j["dispatch_late_s"].contains(key)) << key;
  for (const char* key : {"method", "joules", "per_image_j", "idle_power_w", "dynamic_per_image_j", "window_s"})
    EXPECT_TRUE(j["energy"].contains(key)) << key;
  EXPECT_EQ(j["schema"], kRunSchema);
  EXPECT_EQ(j["completed"], 100);
  EXPECT_EQ(j["batches"], 7);
  EXPECT_EQ(j["policy"], "fixed:16");
  EXPECT_EQ(j["clock"], "virtual");
  EXPECT_EQ(j["energy"]["method"], "modelled");
  // Round trip through text keeps every digit.
  const nlohmann::json back = nlohmann::json::parse(j.dump());
  EXPECT_EQ(back["energy"]["joules"].get<double>(), j["energy"]["joules"].get<double>());
}

TEST_F(ResultsTest, UnmeasuredEnergyIsNullWithAReason) {
  const nlohmann::json j = record("fixed:16", "none").to_json();
  EXPECT_TRUE(j["energy"]["joules"].is_null());
  EXPECT_TRUE(j["energy"]["per_image_j"].is_null());
  EXPECT_FALSE(j["energy"]["measured"].get<bool>());
  EXPECT_NE(j["energy"]["reason"].get<std::string>().find("--meter none"), std::string::npos);
}

TEST_F(ResultsTest, PaperStyleRowsLookLikeTheStudysFiles) {
  const RunRecord fixed = record("fixed:16");
  const std::string row = csv_row(fixed, CsvStyle::kPaper);
  EXPECT_EQ(row.substr(0, 3), "16,");
  std::vector<std::string> cells;
  std::stringstream ss(row);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  ASSERT_EQ(cells.size(), 7u);
  EXPECT_DOUBLE_EQ(std::stod(cells[3]), *fixed.energy->joules);
  EXPECT_DOUBLE_EQ(std::stod(cells[5]), fixed.summary->latency_s.max);
  const std::string greedy = csv_row(record("greedy:128"), CsvStyle::kPaper);
  EXPECT_EQ(greedy.rfind("Greedy (1),", 0), 0u) << greedy;
  const std::string none = csv_row(record("fixed:16", "none"), CsvStyle::kPaper);
  EXPECT_NE(none.find(",nan,"), std::string::npos) << none;
}

TEST_F(ResultsTest, CsvHeaderIsWrittenOnceAndStylesDoNotMix) {
  const std::string p = (dir_ / "runs.csv").string();
  append_csv(p, CsvStyle::kGreenbatch, record("fixed:16"));
  append_csv(p, CsvStyle::kGreenbatch, record("fixed:32"));
  const std::string text = slurp(p);
  EXPECT_EQ(text.rfind(csv_header(CsvStyle::kGreenbatch) + "\n", 0), 0u);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_THROW(check_csv_compatible(p, CsvStyle::kPaper), UserError);
  EXPECT_NO_THROW(check_csv_compatible(p, CsvStyle::kGreenbatch));
}

// A disk that fills part-way through a write: half the bytes go, then ENOSPC.
ssize_t half_then_full(int fd, const void* data, std::size_t size) {
  static bool wrote_half = false;
  if (!wrote_half && size > 1) {
    wrote_half = true;
    return ::write(fd, data, size / 2);
  }
  wrote_half = false;
  errno = ENOSPC;
  return -1;
}
int fsync_full(int) {
  errno = ENOSPC;
  return -1;
}

// Regression: a full disk left a cut line in runs.jsonl. The append is whole or nothing now.
TEST_F(ResultsTest, AFailedAppendCutsTheFileBackToItsLastWholeLine) {
  const std::string p = (dir_ / "runs.jsonl").string();
  append_line_durable(p, "{\"a\":1}");
  const std::string before = slurp(p);
  DiskOps full = system_disk_ops();
  full.write = &half_then_full;
  try {
    append_line_durable(p, std::string(1000, 'x'), full);
    FAIL() << "a failed write was not reported";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("No space left on device"), std::string::npos) << e.what();
  }
  EXPECT_EQ(slurp(p), before);
  // ENOSPC on fsync (the data was written, then not made durable): cut back as well.
  DiskOps no_sync = system_disk_ops();
  no_sync.fsync = &fsync_full;
  EXPECT_THROW(append_line_durable(p, std::string(1000, 'y'), no_sync), UserError);
  EXPECT_EQ(slurp(p), before);
  // A file the failed append created is removed, not left empty.
  const std::string fresh = (dir_ / "fresh.jsonl").string();
  EXPECT_THROW(append_line_durable(fresh, "{}", full), UserError);
  EXPECT_FALSE(std::filesystem::exists(fresh));
  // A real device that is always full.
  EXPECT_THROW(append_line_durable("/dev/full", "{}"), UserError);
  EXPECT_THROW(append_line_durable("", "{}"), UserError);
}

// The CSV row goes after the record, whole; when it cannot, the error says that runs.jsonl has it.
TEST_F(ResultsTest, ACsvThatCannotBeWrittenSaysTheJsonlHoldsTheRun) {
  const auto csv = dir_ / "runs.csv";
  std::filesystem::create_directories(csv);  // a folder where the file should be
  try {
    append_csv(csv.string(), CsvStyle::kGreenbatch, record("fixed:16"));
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("recorded in runs.jsonl (the record of truth)"), std::string::npos) << e.what();
  }
  // A new CSV gets its header and first row in one write.
  const std::string p = (dir_ / "b" / "runs.csv").string();
  append_csv(p, CsvStyle::kGreenbatch, record("fixed:16"));
  const std::string text = slurp(p);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
}

TEST_F(ResultsTest, OutputPathsAreCheckedAndTemporaryFilesGoOnEveryExitPath) {
  std::filesystem::create_directories(dir_);
  EXPECT_THROW(check_writable_file("", "--out"), UserError);
  EXPECT_THROW(check_writable_file(dir_.string(), "--out"), UserError);  // a folder
  EXPECT_THROW(check_writable_file("/proc/self/no-such-file", "--out"), UserError);  // read-only, even for root
  const std::string ok = (dir_ / "sub" / "out.csv").string();
  EXPECT_NO_THROW(check_writable_file(ok, "--out"));
  EXPECT_FALSE(std::filesystem::exists(ok));  // the probe leaves nothing behind
  const std::string file = write("plain", "x");
  EXPECT_THROW(check_results_folder(file), UserError);  // a file, not a folder
  EXPECT_THROW(check_results_folder(""), UserError);
  EXPECT_THROW(check_results_folder("/proc/self"), UserError);  // cannot be written
  const std::string tmp = (dir_ / "x.tmp").string();
  write("x.tmp", "stale");
  try {
    const TempFile t(tmp);
    EXPECT_FALSE(std::filesystem::exists(tmp));  // a stale one is removed first
    std::ofstream(tmp) << "half";
    throw UserError("failed mid-way");
  } catch (const UserError&) {
  }
  EXPECT_FALSE(std::filesystem::exists(tmp));
}

TEST_F(ResultsTest, JsonLinesAppend) {
  const std::string p = (dir_ / "sub" / "runs.jsonl").string();
  append_line_durable(p, record("fixed:16").to_json().dump());
  append_line_durable(p, record("greedy:128").to_json().dump());
  std::ifstream in(p);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(in, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1]["policy"], "greedy:128");
}

TEST_F(ResultsTest, PerRequestCsvIsExact) {
  const RunOutcome out = run("fixed:16");
  const std::string p = (dir_ / "req.csv").string();
  write_requests_csv(p, out.result);
  std::ifstream in(p);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "id,arrival_s,dispatch_s,done_s,batch_id,batch_size,prepare_s");
  std::getline(in, line);
  EXPECT_EQ(line, "0,0.000000000,0.234375000,0.239375000,0,16,");
  int rows = 1;
  std::string last;
  while (std::getline(in, line)) {
    ++rows;
    last = line;
  }
  EXPECT_EQ(rows, 100);
  EXPECT_EQ(last, "99,1.546875000,1.546875000,1.551875000,6,4,");
}

TEST_F(ResultsTest, APowerTraceReadsBackAsWritten) {
  const RunOutcome out = run("fixed:16");
  ASSERT_FALSE(out.result.energy.trace.empty());
  const std::string p = (dir_ / "power.csv").string();
  write_power_trace(p, out.result);
  const PowerTrace t = read_power_trace(p);
  ASSERT_EQ(t.samples.size(), out.result.energy.trace.size());
  for (std::size_t i = 0; i < t.samples.size(); ++i) {
    const PowerSample& w = out.result.energy.trace[i];
    EXPECT_DOUBLE_EQ(t.samples[i].t_s, ns_to_s(w.t_ns));
    EXPECT_EQ(t.samples[i].power_w, w.power_w);
    EXPECT_EQ(t.samples[i].instant_w, w.instant_w);
  }
  ASSERT_EQ(t.batches.size(), out.result.batches.size());
  for (std::size_t b = 0; b < t.batches.size(); ++b) {
    EXPECT_EQ(t.batches[b].id, b);
    EXPECT_DOUBLE_EQ(t.batches[b].start_s, ns_to_s(out.result.batches[b].start_ns));
    EXPECT_DOUBLE_EQ(t.batches[b].end_s, ns_to_s(out.result.batches[b].end_ns));
    EXPECT_EQ(t.batches[b].size, out.result.batches[b].size);
  }
}

TEST_F(ResultsTest, APowerTraceWithoutInstantPowerOrBatchesReads) {
  const std::string p = write("p.csv", "t_s,power_w,instant_w\n0.000000000,50,nan\n0.010000000,150\n");
  const PowerTrace t = read_power_trace(p);
  ASSERT_EQ(t.samples.size(), 2u);
  EXPECT_EQ(t.samples[1].t_s, 0.01);
  EXPECT_EQ(t.samples[1].power_w, 150);
  EXPECT_TRUE(std::isnan(t.samples[0].instant_w));
  EXPECT_TRUE(std::isnan(t.samples[1].instant_w));
  EXPECT_TRUE(t.batches.empty());  // no p.batches.csv
}

TEST_F(ResultsTest, ABadPowerTraceIsRefusedWithItsLine) {
  const std::string p = write("p.csv", "t_s,power_w,instant_w\n0,50,50\n0.01,lots,50\n");
  try {
    read_power_trace(p);
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(p + ":3"), std::string::npos) << e.what();
  }
  write("p.csv", "t_s,power_w,instant_w\n0,50,50\n");
  write("p.batches.csv", "batch_id,start_s,end_s,size\n0,0.1\n");
  EXPECT_THROW(read_power_trace(p), UserError);
  EXPECT_THROW(read_power_trace((dir_ / "none.csv").string()), UserError);
}

}  // namespace
}  // namespace greenbatch
