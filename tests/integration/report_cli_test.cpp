// greenbatch report and recommend end to end: the study's files, our own runs (with a power
// trace), and bad input.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using testing::run_greenbatch;
using testing::slurp;
const std::string kStudy = std::string(GB_SOURCE_DIR) + "/data/study";

class ReportCli : public greenbatch::testing::TempDirTest {};

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST_F(ReportCli, TheStudysFilesGiveEveryFigure) {
  std::filesystem::create_directories(dir_);
  const std::string html = (dir_ / "r.html").string();
  const auto r = run_greenbatch("report " + kStudy + " --out " + html);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("75 runs in 75 configurations from 15 file(s)"), std::string::npos) << r.output;
  const std::string page = slurp(html);
  for (const char* h : {"1. Energy per image against maximum latency", "2. Peak power", "3. Energy per image by year",
                        "4. Accuracy and energy relative to AlexNet", "5. Energy/latency Pareto fronts",
                        "6. Power over time", "7. In process and through a server",
                        "8. Configurations and runs"}) {
    EXPECT_NE(page.find(h), std::string::npos) << h;
  }
  // 10 panels (five models, low and high rates), Fig. 3, Fig. 4, 5 Pareto charts.
  EXPECT_EQ(count(page, "<svg "), 10u + 1 + 1 + 5);
  EXPECT_EQ(page.find("nan"), std::string::npos);
  EXPECT_EQ(page.find("http://") , page.find("http://www.w3.org/2000/svg"));  // no link leaves the file
  EXPECT_FALSE(std::filesystem::exists(html + ".tmp"));
}

TEST_F(ReportCli, OurRunsWithAPowerTraceAndRepetitions) {
  const std::string d = dir_.string();
  for (int rep = 0; rep < 2; ++rep) {
    const auto r = run_greenbatch("run --clock virtual --model synthetic:base=5ms,per_item=1ms --rate 64 --policy fixed:8 "
                                  "--requests 256 --meter modelled:idle=50W,busy=150W --idle-window 0s --out " + d +
                                  "/runs --power-trace " + d + "/runs/power.csv");
    ASSERT_EQ(r.code, 0) << r.output;
  }
  const auto r = run_greenbatch("report " + d + "/runs --out " + d + "/r.html");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string page = slurp(d + "/r.html");
  EXPECT_NE(page.find("Power over time: synthetic"), std::string::npos);
  EXPECT_NE(page.find("1b. Energy per image against p99 latency"), std::string::npos);
  // Two repetitions: one configuration, "2" runs.
  EXPECT_NE(page.find("<td>fixed:8</td><td>fp32</td><td>2</td>"), std::string::npos);
}

TEST_F(ReportCli, RecommendOnTheStudysFiles) {
  const auto r = run_greenbatch("recommend " + kStudy + " --slo max=1s");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("AlexNet"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("study's rule"), std::string::npos) << r.output;
  const auto j = run_greenbatch("recommend " + kStudy + " --slo max=10s --json");
  ASSERT_EQ(j.code, 0) << j.output;
  const auto recs = nlohmann::json::parse(j.output);
  ASSERT_EQ(recs.size(), 15u);
  for (const auto& rec : recs) {
    ASSERT_TRUE(rec["best"].is_object()) << rec.dump();
    EXPECT_LE(rec["best"]["latency_s"].get<double>(), 10.0);
    EXPECT_EQ(rec["slo"], "max=10s");
  }
}

TEST_F(ReportCli, BadInputIsAClearErrorAndExitTwo) {
  std::filesystem::create_directories(dir_ / "empty");
  auto r = run_greenbatch("report " + (dir_ / "missing").string() + " --out " + (dir_ / "r.html").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no such file or folder"), std::string::npos) << r.output;
  r = run_greenbatch("report " + (dir_ / "empty").string() + " --out " + (dir_ / "r.html").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no results found"), std::string::npos) << r.output;
  r = run_greenbatch("recommend " + kStudy + " --slo p98=1s");  // p95 is accepted, as tune accepts it
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("accepted: p50, p90, p95, p99, max or mean"), std::string::npos) << r.output;
  r = run_greenbatch("report " + kStudy + " --out " + (dir_ / "no" / "such" / "r.html").string());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("cannot write"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace greenbatch

namespace greenbatch {
namespace {

// A symbolic link that points to itself under a results folder was an internal error (the
// filesystem's exception escaped); it is the user's to fix: exit 2 with the filesystem's message.
class ReportCliLoop : public testing::TempDirTest {};

TEST_F(ReportCliLoop, ASymlinkLoopUnderAResultsFolderIsAClearError) {
  std::filesystem::create_directories(dir_ / "res");
  std::filesystem::create_directory_symlink("self", dir_ / "res" / "self");
  for (const std::string& cmd : {"report " + (dir_ / "res").string() + " --out " + (dir_ / "r.html").string(),
                                "summarize " + (dir_ / "res").string(),
                                "recommend " + (dir_ / "res").string() + " --slo p99=1s"}) {
    const auto r = testing::run_greenbatch(cmd);
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
  }
}

}  // namespace
}  // namespace greenbatch
