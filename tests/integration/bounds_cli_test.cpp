// Issue 18 through the binary: exit codes (0, 1, 2, 130, 70 only), numeric flags refused with
// their bound, readably, before anything runs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace {

using greenbatch::testing::run_greenbatch;
using greenbatch::testing::slurp;

class BoundsCli : public greenbatch::testing::TempDirTest {
 protected:
  std::string m() const {
    return "--model synthetic:base=1ms,per_item=100us --clock virtual --meter modelled:idle=50W,busy=150W --out " +
           (dir_ / "out").string() + " ";
  }
  // Expects exit 2, the fragment, a short message, and nothing written.
  void expect_refused(const std::string& args, const std::string& fragment) {
    const auto r = run_greenbatch(args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
    EXPECT_LT(r.output.size(), 600u) << args << "\n" << r.output;
    EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "out" / "runs.jsonl")) << args;
  }
  std::string profile(bool idle) {
    const std::string p = (dir_ / "p.json").string();
    const auto r = run_greenbatch("profile --model synthetic:base=1ms,per_item=100us --clock virtual --meter "
                                  "modelled:idle=50W,busy=150W --batch-sizes 1,4 --idle-gaps 5ms --out " + p);
    EXPECT_EQ(r.code, 0) << r.output;
    if (idle) return p;
    nlohmann::json j = nlohmann::json::parse(slurp(p));
    j["idle_power_w"] = nullptr;
    const std::string q = (dir_ / "noidle.json").string();
    std::ofstream(q) << j.dump();
    return q;
  }
};

// CLI11's own refusals exited 104, 105, 106, 109; --help and --version stay 0.
TEST_F(BoundsCli, ParseErrorsExitTwoHelpAndVersionZero) {
  expect_refused("run --bogus", "--bogus");
  expect_refused("", "subcommand");
  expect_refused("run " + m() + "--csv-style odd", "--csv-style");
  expect_refused("run " + m() + "--requests", "--requests");
  EXPECT_EQ(run_greenbatch("run --help").code, 0);
  EXPECT_EQ(run_greenbatch("--help").code, 0);
  EXPECT_EQ(run_greenbatch("--version").code, 0);
}

// "Value 0 not in range 0.000000 to 17976931348623157..." (309 digits) became the bound, readably.
TEST_F(BoundsCli, RangeErrorsSayTheBoundReadably) {
  expect_refused("run " + m() + "--rate 0", "1e-06");
  expect_refused("run " + m() + "--rate 1e-9 --requests 50", "1e-06");
  expect_refused("run " + m() + "--arrivals bursty --rate 1e-300", "1e-06");
  expect_refused("run " + m() + "--requests 1099511627776", "100000000");
  expect_refused("run " + m() + "--requests 0", "--requests");
  expect_refused("run " + m() + "--threads -1", "from 0 to 4096");
  expect_refused("run " + m() + "--rate 1e-6 --requests 10000", "100 years");
  expect_refused("run " + m() + "--arrivals bursty:on=1ns --requests 50", "at least 3907ns");
}

// --seed -1 equalled --seed 99999999999999999999999, and --seed '' was 0.
TEST_F(BoundsCli, SeedsNeverWrap) {
  expect_refused("run " + m() + "--seed -1", "18446744073709551615");
  expect_refused("run " + m() + "--seed 99999999999999999999999", "18446744073709551615");
  expect_refused("run " + m() + "--seed ''", "--seed");
  const auto ok = run_greenbatch("run " + m() + "--requests 4 --seed 18446744073709551615");
  EXPECT_EQ(ok.code, 0) << ok.output;
}

TEST_F(BoundsCli, TraceLinesPast100YearsAndExtraFieldsAreRefused) {
  const std::string far = write("far.txt", "0\n1e10\n");
  expect_refused("run " + m() + "--arrivals trace:" + far, "100 years");
  const std::string two = write("two.txt", "0\n0,5\n");
  expect_refused("run " + m() + "--arrivals trace:" + two, "2 fields");
}

TEST_F(BoundsCli, SimulateRefusesNoRequestsAndEmptyLists) {
  const std::string p = profile(true);
  const std::string sim = "simulate --profile " + p + " --out " + (dir_ / "out").string() + " ";
  expect_refused(sim + "--requests 0", "--requests");
  expect_refused(sim + "--rate ''", "at least one rate");
  expect_refused(sim + "--rate ,", "at least one rate");
  expect_refused(sim + "--policy ''", "at least one policy");
  expect_refused(sim + "--rate 1e-9", "1e-06");
  expect_refused("simulate --profile '' --out " + (dir_ / "out").string(), "at least one profile");
}

// tune --cap 1000000000 hung; --cap 0 and a profile without idle power said "the model is too slow".
TEST_F(BoundsCli, TuneSaysWhatIsWrong) {
  const std::string p = profile(true);
  const std::string tune = "tune --out " + (dir_ / "out").string() + " --profile ";
  expect_refused(tune + p + " --cap 1000000000", "1024");
  expect_refused(tune + p + " --cap 0", "--cap");
  expect_refused(tune + p + " --rate 1e-9", "1e-06");
  expect_refused(tune + p + " --requests 0", "--requests");
  const auto r = run_greenbatch(tune + profile(false));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no idle power"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("too slow"), std::string::npos) << r.output;
}

// profile --rounds 1000000000 would not end.
TEST_F(BoundsCli, ProfileRoundsAreBounded) {
  const std::string prof = "profile --model synthetic:base=1ms --clock virtual --meter none --out " +
                           (dir_ / "p.json").string() + " ";
  expect_refused(prof + "--batch-sizes 1 --rounds 1000000000", "100");
  expect_refused(prof + "--batch-sizes 1 --rounds 0", "--rounds");
  expect_refused(prof + "--batch-sizes 1,99999999", "65536");
}

}  // namespace
