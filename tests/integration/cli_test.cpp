// greenbatch run end to end: files written, human summary, and clear errors with a non-zero exit.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace {

using greenbatch::testing::run_greenbatch;
using greenbatch::testing::slurp;

class Cli : public greenbatch::testing::TempDirTest {
 protected:
  std::string out() const { return "--out " + dir_.string(); }
};

constexpr const char* kVirtual = "run --clock virtual --model synthetic:base=5ms --rate 64 ";

TEST_F(Cli, RunWritesJsonlCsvAndRequests) {
  const auto req = dir_ / "req.csv";
  const auto r = run_greenbatch(std::string(kVirtual) + "--policy fixed:16 --requests 512 --meter modelled:idle=50W,busy=150W " +
                       out() + " --requests-out " + req.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("512 of 512 requests in 32 batches"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("max 239.4 ms"), std::string::npos) << r.output;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_ / "runs.jsonl"));
  EXPECT_EQ(j["latency_s"]["max"].get<double>(), 0.239375);
  EXPECT_EQ(j["energy"]["dynamic_per_image_j"].get<double>(), 0.03125);
  EXPECT_EQ(j["requests"], 512);
  const std::string csv = slurp(dir_ / "runs.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2);
  const std::string requests = slurp(req);
  EXPECT_EQ(std::count(requests.begin(), requests.end(), '\n'), 513);
}

TEST_F(Cli, RunsAppendAndNeverOverwrite) {
  ASSERT_EQ(run_greenbatch(std::string(kVirtual) + "--policy fixed:16 --requests 64 " + out()).code, 0);
  ASSERT_EQ(run_greenbatch(std::string(kVirtual) + "--policy greedy --requests 64 " + out()).code, 0);
  const std::string jsonl = slurp(dir_ / "runs.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 2);
}

TEST_F(Cli, PaperStyleRefusesToMixWithAnotherStyleBeforeRunning) {
  ASSERT_EQ(run_greenbatch(std::string(kVirtual) + "--policy fixed:16 --requests 64 --csv-style paper " + out()).code, 0);
  const std::string before = slurp(dir_ / "runs.csv");
  EXPECT_EQ(before.rfind("Batch Size,Average Power(W),Time(s),Energy(J)", 0), 0u);
  const auto r = run_greenbatch(std::string(kVirtual) + "--policy fixed:16 --requests 64 " + out());
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("another format"), std::string::npos) << r.output;
  EXPECT_EQ(slurp(dir_ / "runs.csv"), before);
  // Nothing ran, so nothing was appended to runs.jsonl either.
  const std::string jsonl = slurp(dir_ / "runs.jsonl");
  EXPECT_EQ(std::count(jsonl.begin(), jsonl.end(), '\n'), 1);
}

TEST_F(Cli, ATraceRunUsesTheWholeTrace) {
  const std::string trace = write("t.csv", "timestamp\n0\n0.01\n0.02\n0.5\n");
  const auto r = run_greenbatch(std::string(kVirtual) + "--policy greedy --arrivals trace:" + trace + " " + out());
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(slurp(dir_ / "runs.jsonl"));
  EXPECT_EQ(j["requests"], 4);
  // The trace's own mean rate is the offered rate; rate_hz stays the rate asked for (--rate).
  EXPECT_DOUBLE_EQ(j["offered_rate_hz"].get<double>(), 3 / 0.5);
  EXPECT_DOUBLE_EQ(j["rate_hz"].get<double>(), 64);
}

TEST_F(Cli, BadInputIsAClearErrorAndANonZeroExit) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--policy fixd:16", "unknown policy 'fixd'"},
      {"--policy fixed:0", "N must be from 1"},
      {"--policy timeout:32", "needs a batch size and a delay"},
      {"--policy greedy:-1", "CAP must be from 1"},
      {"--arrivals poison", "unknown arrival process"},
      {"--arrivals trace:/nonexistent/trace.csv", "cannot open"},
      {"--model resnet50", "--model 'resnet50'"},
      {"--model synthetic:base=2", "no unit"},
      {"--meter wattmeter", "unknown meter"},
      {"--meter rapl:root=/nonexistent", "no RAPL package zones"},
      {"--meter nvml", "NVML measures a GPU"},
      {"--meter nvml:period=1us,gpu=0", "at least 100us"},
      {"--idle-window 5", "no unit"},
      {"--meter modelled:idle=50W", "needs both idle and busy"},
      {"--rate 0", "--rate"},
      {"--rate abc", "--rate"},
      {"--requests 0", "--requests"},
      {"--clock wall", "--clock"},
      {"--host-memory pooled", "--host-memory"},
  };
  for (const auto& [args, fragment] : cases) {
    const auto r = run_greenbatch("run --clock virtual --requests 8 " + args + " " + out());
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;  // bad input, CLI11's refusals too
    EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "runs.jsonl")) << args;
  }
}

// A folder that cannot be made (a file stands in its way) is the user's to fix: exit 2 with the
// filesystem's message, not "internal error".
TEST_F(Cli, AFileInTheWayOfAFolderIsABadInputNotABug) {
  std::filesystem::create_directories(dir_);  // else the blocker is never written
  std::ofstream(dir_ / "blocker") << "a file, not a folder\n";
  std::filesystem::create_directories(dir_ / "in");
  std::ofstream(dir_ / "in" / "runs.jsonl") << "";
  const auto r = run_greenbatch("merge " + (dir_ / "in").string() + " --out " + (dir_ / "blocker" / "merged").string());
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("greenbatch: error:"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
}

TEST_F(Cli, VersionAndHelp) {
  const auto v = run_greenbatch("--version");
  EXPECT_EQ(v.code, 0);
  EXPECT_NE(v.output.find("greenbatch 0."), std::string::npos) << v.output;
  const auto h = run_greenbatch("run --help");
  EXPECT_EQ(h.code, 0);
  for (const char* flag : {"--model", "--rate", "--arrivals", "--policy", "--requests", "--seed", "--meter", "--clock",
                           "--out", "--requests-out", "--csv-style"})
    EXPECT_NE(h.output.find(flag), std::string::npos) << flag;
  EXPECT_NE(run_greenbatch("").code, 0);
}

}  // namespace
