// greenbatch sweep / merge / summarize end to end, and experiment files.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fcntl.h>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "core/error.hpp"
#include "engine/execute.hpp"
#include "io/experiment.hpp"
#include "io/records.hpp"
#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using testing::run_greenbatch;
// A record's identity, through the codec (as resuming and merging compute it).
std::string identity(const nlohmann::json& record) { return RunRecord::from_json(record).identity(); }
const std::string kCi = std::string(GB_SOURCE_DIR) + "/configs/ci.toml";

class Sweep : public testing::TempDirTest {
 protected:
  std::string dir(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<nlohmann::json> records(const std::string& name) const { return read_jsonl(dir(name) + "/runs.jsonl"); }
  // Starts greenbatch in the background (output to a file); returns its pid.
  pid_t spawn(const std::vector<std::string>& args) {
    std::filesystem::create_directories(dir_);
    const pid_t pid = fork();
    if (pid == 0) {
      const int fd = ::open((dir_ / "spawn.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(GREENBATCH_EXE));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(GREENBATCH_EXE, argv.data());
      _exit(127);
    }
    return pid;
  }
  void wait_for_lines(const std::string& name, std::size_t n) {
    for (int i = 0; i < 400 && records(name).size() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
};

TEST_F(Sweep, AKillDashNineThenAResumeGivesEveryRunExactlyOnce) {
  const pid_t pid = spawn({"sweep", kCi, "--out", dir("k")});
  wait_for_lines("k", 3);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::size_t before = records("k").size();
  ASSERT_GE(before, 3u);
  ASSERT_LT(before, 24u) << "the sweep ended before the kill; the test proves nothing";
  const auto r = run_greenbatch("sweep " + kCi + " --out " + dir("k"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(std::to_string(before) + " already done"), std::string::npos) << r.output;
  std::map<std::string, int> seen;
  for (const auto& rec : records("k")) {
    ASSERT_TRUE(is_complete(rec));
    EXPECT_EQ(rec["sweep"], "ci");
    ++seen[identity(rec)];
  }
  EXPECT_EQ(seen.size(), 24u);
  for (const auto& [key, count] : seen) EXPECT_EQ(count, 1) << key;
  // A third pass has nothing to do.
  const auto again = run_greenbatch("sweep " + kCi + " --out " + dir("k"));
  EXPECT_NE(again.output.find("24 already done, 0 to run"), std::string::npos) << again.output;
  EXPECT_EQ(records("k").size(), 24u);
}

TEST_F(Sweep, ThreeShardsMergedEqualTheWholeGrid) {
  const std::string virt = " --set clock=\"virtual\" ";
  ASSERT_EQ(run_greenbatch("sweep " + kCi + virt + "--out " + dir("all")).code, 0);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_EQ(run_greenbatch("sweep " + kCi + virt + "--shard " + std::to_string(i) + "/3 --out " + dir("s" + std::to_string(i))).code, 0);
  }
  std::set<std::string> union_keys;
  std::size_t total = 0;
  for (int i = 1; i <= 3; ++i) {
    for (const auto& r : records("s" + std::to_string(i))) {
      union_keys.insert(identity(r));
      ++total;
    }
  }
  EXPECT_EQ(total, 24u);  // disjoint
  const auto m = run_greenbatch("merge " + dir("s1") + " " + dir("s2") + " " + dir("s3") + " --out " + dir("m"));
  ASSERT_EQ(m.code, 0) << m.output;
  std::map<std::string, nlohmann::json> whole, merged;
  for (const auto& r : records("all")) whole[identity(r)] = r;
  for (const auto& r : records("m")) merged[identity(r)] = r;
  ASSERT_EQ(whole.size(), 24u);
  ASSERT_EQ(merged.size(), 24u);
  for (const auto& [key, r] : whole) {
    ASSERT_TRUE(merged.contains(key)) << key;
    EXPECT_EQ(merged[key]["latency_s"], r["latency_s"]) << key;
    EXPECT_EQ(merged[key]["energy"]["joules"], r["energy"]["joules"]) << key;
    EXPECT_EQ(merged[key]["batches"], r["batches"]) << key;
  }
  // Merging again is idempotent; a conflicting result for the same run is refused.
  EXPECT_EQ(run_greenbatch("merge " + dir("s1") + " --out " + dir("m")).code, 0);
  EXPECT_EQ(records("m").size(), 24u);
  auto first = records("s1").front();
  first["latency_s"]["max"] = 123.0;
  std::filesystem::create_directories(dir_ / "bad");
  write("bad/runs.jsonl", first.dump() + "\n");
  const auto conflict = run_greenbatch("merge " + dir("s1") + " " + dir("bad") + " --out " + dir("m2"));
  EXPECT_EQ(conflict.code, 2);
  EXPECT_NE(conflict.output.find("two different results"), std::string::npos) << conflict.output;
}

TEST_F(Sweep, AFailingConfigurationDoesNotStopTheOthers) {
  const auto r = run_greenbatch("sweep " + kCi +
                                " --set 'models=[\"synthetic:base=1ms,max_batch=8\"]' --set 'policies=[\"fixed:16\",\"fixed:8\"]'"
                                " --set clock=\"virtual\" --set repetitions=1 --out " + dir("f"));
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("2 failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("out of memory at batch size 16"), std::string::npos) << r.output;
  std::size_t ok = 0, failed = 0;
  for (const auto& rec : records("f")) (is_complete(rec) ? ok : failed)++;
  EXPECT_EQ(ok, 2u);
  EXPECT_EQ(failed, 2u);
}

// A sweep over a trace: the record's rate is the grid's, so the resumed sweep finds its runs
// done, and merge takes the folder.
TEST_F(Sweep, ATraceSweepResumesWithNothingToRunAndMerges) {
  const std::string trace = write("arrivals.csv", "timestamp\n0\n0.01\n0.02\n0.5\n0.6\n0.61\n");
  const std::string file =
      write("trace.toml", "name = \"tr\"\nmodels = [\"synthetic:base=1ms\"]\nrates = [16, 64]\narrivals = [\"trace:" +
                              trace + "\"]\npolicies = [\"greedy\", \"fixed:2\"]\nrequests = 6\nclock = \"virtual\"\n"
                                      "meter = \"modelled:idle=50W,busy=150W\"\n");
  const auto first = run_greenbatch("sweep " + file + " --out " + dir("t"));
  ASSERT_EQ(first.code, 0) << first.output;
  const std::size_t lines = records("t").size();
  ASSERT_EQ(lines, 4u);
  for (const auto& r : records("t")) {
    EXPECT_TRUE(is_complete(r));
    EXPECT_TRUE(r["rate_hz"] == 16.0 || r["rate_hz"] == 64.0) << r["rate_hz"];  // the grid's rate
    EXPECT_DOUBLE_EQ(r["offered_rate_hz"].get<double>(), 5 / 0.61);                // the trace's
  }
  const auto again = run_greenbatch("sweep " + file + " --out " + dir("t"));
  ASSERT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("4 runs, 4 already done, 0 to run"), std::string::npos) << again.output;
  EXPECT_NE(again.output.find("0 run(s) done now"), std::string::npos) << again.output;
  EXPECT_EQ(records("t").size(), lines);
  const auto m = run_greenbatch("merge " + dir("t") + " --out " + dir("m"));
  ASSERT_EQ(m.code, 0) << m.output;
  EXPECT_EQ(records("m"), records("t"));
}

// A model file that cannot load is recorded under the name a completed run would have: the
// file's stem, not the path as given.
TEST_F(Sweep, AFailureRecordNamesTheModelAsACompletedRunWould) {
  write("x.pt", "this is not TorchScript");
  const std::string file = write("fail.toml", "name = \"bad\"\nmodels = [\"" + dir("x.pt") +
                                                  "\"]\nrates = [16]\npolicies = [\"fixed:8\"]\nrequests = 64\n"
                                                  "meter = \"none\"\nidle_window = \"0s\"\n");
  const auto r = run_greenbatch("sweep " + file + " --out " + dir("f"));
  EXPECT_EQ(r.code, 1) << r.output;
  const auto recs = records("f");
  ASSERT_EQ(recs.size(), 1u);
  const nlohmann::json& rec = recs[0];
  EXPECT_EQ(rec["model"], "x");
  EXPECT_EQ(rec["device"], "cpu");
  EXPECT_EQ(rec["sweep"], "bad");
  EXPECT_EQ(rec["completed"], 0);
  EXPECT_TRUE(rec["error"].is_string());
  // Nothing was measured: null, not zero; the same keys as a completed run's record.
  EXPECT_TRUE(rec["duration_s"].is_null());
  EXPECT_TRUE(rec["latency_s"].is_null());
  EXPECT_TRUE(rec["energy"].is_null());
  RunSpec spec;
  spec.model = "synthetic";
  spec.clock = ClockKind::kVirtual;
  spec.meter = "none";
  spec.requests = 4;
  PreparedRun ok(spec);
  nlohmann::json completed = ok.execute().record.to_json();
  for (const auto& [key, value] : completed.items()) EXPECT_TRUE(rec.contains(key)) << key;
  EXPECT_EQ(rec.size(), completed.size());
  EXPECT_FALSE(is_complete(rec));
}

TEST_F(Sweep, CtrlCStopsKeepsWhatWasWrittenAndSaysHowToResume) {
  const pid_t pid = spawn({"sweep", kCi, "--set", "requests=400", "--out", dir("c")});
  wait_for_lines("c", 1);
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string log = testing::slurp(dir_ / "spawn.log");
  EXPECT_NE(log.find("resume with"), std::string::npos) << log;
  // Every option given, the --set overrides too: following it resumes this experiment, not another.
  EXPECT_NE(log.find("greenbatch sweep " + kCi + " --set requests=400 --out " + dir("c")), std::string::npos) << log;
  for (const auto& rec : records("c")) EXPECT_TRUE(is_complete(rec));  // no half run on file
  EXPECT_LT(records("c").size(), 24u);
  // The resume command with quoting: an override with quotes and spaces comes back as one word.
  const pid_t quoted = spawn({"sweep", kCi, "--set", "requests=400", "--set", "policies=[\"fixed:8\", \"greedy:32\"]",
                              "--out", dir("q")});
  wait_for_lines("q", 1);
  kill(quoted, SIGTERM);
  waitpid(quoted, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 130);
  const std::string qlog = testing::slurp(dir_ / "spawn.log");
  EXPECT_NE(qlog.find(" --set 'policies=[\"fixed:8\", \"greedy:32\"]' "), std::string::npos) << qlog;
}

// merge --sweep checks the merged runs against the file's grid: incomplete shards are named and
// the exit status is 1; complete, 0; runs.csv is written beside runs.jsonl.
TEST_F(Sweep, MergeAgainstTheSweepNamesIncompleteShardsAndFails) {
  const std::string virt = " --set clock=\"virtual\" ";
  for (int i : {1, 3}) {
    ASSERT_EQ(run_greenbatch("sweep " + kCi + virt + "--shard " + std::to_string(i) + "/3 --out " + dir("s" + std::to_string(i))).code, 0);
  }
  const std::string merge = "merge " + dir("s1") + " " + dir("s3") + " --out " + dir("m") + " --sweep " + kCi + virt;
  const auto partial = run_greenbatch(merge + "--shards 3");
  EXPECT_EQ(partial.code, 1) << partial.output;
  EXPECT_NE(partial.output.find("INCOMPLETE against " + kCi + ": 8 of 24 runs missing, 0 failed"), std::string::npos)
      << partial.output;
  EXPECT_NE(partial.output.find("(shard 2/3)"), std::string::npos) << partial.output;
  EXPECT_NE(partial.output.find("incomplete shards: 2\n"), std::string::npos) << partial.output;
  EXPECT_EQ(records("m").size(), 16u);  // what there is, merged all the same
  const std::string csv = testing::slurp(dir_ / "m" / "runs.csv");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 17);  // header and 16 runs
  // Without the file's overrides the grid is another (real clock): every run is missing.
  const auto other = run_greenbatch("merge " + dir("s1") + " --out " + dir("m3") + " --sweep " + kCi + " --set requests=32");
  EXPECT_EQ(other.code, 1) << other.output;
  EXPECT_NE(other.output.find("24 of 24 runs missing"), std::string::npos) << other.output;
  ASSERT_EQ(run_greenbatch("sweep " + kCi + virt + "--shard 2/3 --out " + dir("s2")).code, 0);
  const auto whole = run_greenbatch("merge " + dir("s1") + " " + dir("s2") + " " + dir("s3") + " --out " + dir("m") +
                                    " --sweep " + kCi + virt + "--shards 3");
  EXPECT_EQ(whole.code, 0) << whole.output;
  EXPECT_NE(whole.output.find("complete: every one of the 24 runs"), std::string::npos) << whole.output;
  // --shards and --set need --sweep.
  EXPECT_EQ(run_greenbatch("merge " + dir("s1") + " --out " + dir("m4") + " --shards 3").code, 2);
}

TEST_F(Sweep, DryRunListsWithoutRunning) {
  const auto r = run_greenbatch("sweep " + kCi + " --dry-run --out " + dir("d"));
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("24 runs in shard 1/1, 0 already done, 24 to run"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "d" / "runs.jsonl"));
}

TEST_F(Sweep, SummarizeGivesMeanAndConfidencePerConfiguration) {
  ASSERT_EQ(run_greenbatch("sweep " + kCi + " --set clock=\"virtual\" --out " + dir("s")).code, 0);
  const auto r = run_greenbatch("summarize --json " + dir("s"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), 12u);  // 24 runs, 2 repetitions each
  for (const auto& g : j) {
    EXPECT_EQ(g["repetitions"], 2);
    EXPECT_EQ(g["energy_per_image_j"]["n"], 2);
    EXPECT_GE(g["latency_p99_s"]["ci95"].get<double>(), 0.0);
  }
}

// Regression: summarize pooled a real run and a simulated run of the same configuration as two
// repetitions of one; it now shares the report's aggregation, which keeps them apart.
TEST_F(Sweep, SummarizeNeverPoolsRealAndSimulatedRuns) {
  const std::string model = "--model synthetic:base=5ms,per_item=1ms --meter modelled:idle=50W,busy=150W ";
  ASSERT_EQ(run_greenbatch("profile " + model + "--clock virtual --batch-sizes 1,2,4 --out " + dir("p.json")).code, 0);
  ASSERT_EQ(run_greenbatch("run " + model + "--clock virtual --rate 64 --policy fixed:4 --requests 256 --out " + dir("real"))
                .code,
            0);
  ASSERT_EQ(run_greenbatch("simulate --profile " + dir("p.json") +
                           " --rate 64 --policy fixed:4 --requests 256 --out " + dir("sim"))
                .code,
            0);
  const auto r = run_greenbatch("summarize --json " + dir("real") + " " + dir("sim"));
  ASSERT_EQ(r.code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), 2u) << r.output;
  std::size_t simulated = 0;
  for (const auto& g : j) {
    EXPECT_EQ(g["repetitions"], 1);
    EXPECT_EQ(g["energy_per_image_j"]["n"], 1);
    if (g["configuration"].get<std::string>().find("simulated") != std::string::npos) ++simulated;
  }
  EXPECT_EQ(simulated, 1u) << r.output;
}

// A child process killed and reaped on every exit path of a test.
struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  }
};

// Regression: two sweeps into one folder at once wrote every run twice. A writer locks the
// folder; a second one is refused at once with the holder's PID.
TEST_F(Sweep, ASecondWriterIntoTheSameFolderIsRefusedWithTheHoldersPid) {
  Child slow;
  // A slow run on the real clock: 40 requests, one every 250 ms (10 s), unless killed first.
  slow.pid = spawn({"run", "--model", "synthetic:base=1ms,per_item=100us", "--clock", "real", "--meter", "none",
                    "--idle-window", "0s", "--rate", "4", "--requests", "40", "--policy", "fixed:1", "--out",
                    dir("locked")});
  const auto lock = dir_ / "locked" / ".greenbatch.lock";
  const std::string pid = std::to_string(slow.pid);
  for (int i = 0; i < 500 && testing::slurp(lock).find(pid) == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(testing::slurp(lock).find(pid), std::string::npos) << testing::slurp(dir_ / "spawn.log");
  const auto t0 = std::chrono::steady_clock::now();
  const auto sweep = run_greenbatch("sweep " + kCi + " --set clock=\"virtual\" --out " + dir("locked"));
  EXPECT_EQ(sweep.code, 2) << sweep.output;
  EXPECT_NE(sweep.output.find("pid " + pid), std::string::npos) << sweep.output;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));  // at once, no waiting
  const auto run = run_greenbatch("run --model synthetic --clock virtual --meter none --requests 8 --out " + dir("locked"));
  EXPECT_EQ(run.code, 2) << run.output;
  EXPECT_NE(run.output.find("pid " + pid), std::string::npos) << run.output;
  const auto merge = run_greenbatch("merge " + dir("locked") + " --out " + dir("locked"));
  EXPECT_EQ(merge.code, 2) << merge.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "locked" / "runs.jsonl"));  // the slow run is still running
  // Once the holder is gone, the folder is free (a killed holder's lock goes with it).
  kill(slow.pid, SIGKILL);
  waitpid(slow.pid, nullptr, 0);
  slow.pid = -1;
  const auto after = run_greenbatch("sweep " + kCi + " --set clock=\"virtual\" --out " + dir("locked"));
  EXPECT_EQ(after.code, 0) << after.output;
  EXPECT_EQ(records("locked").size(), 24u);
}

// Regression: synonyms in a grid ran twice and were counted twice.
TEST_F(Sweep, SynonymsInTheGridRunOnceAndTheDropIsSaid) {
  const std::string f = write("syn.toml",
                              "models = [\"synthetic:base=5ms,per_item=1ms\", \"synthetic:base=5000us,per_item=1000us\"]\n"
                              "rates = [400, 400.0]\narrivals = [\"poisson\", \"poisson\"]\n"
                              "policies = [\"fixed:8\", \"fixed:08\", \"greedy\", \"greedy:128\"]\n"
                              "requests = 16\nclock = \"virtual\"\nmeter = \"none\"\nidle_window = \"0s\"\n");
  const auto r = run_greenbatch("sweep " + f + " --out " + dir("syn"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("dropped 5 duplicate entries"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'fixed:08' is 'fixed:8'"), std::string::npos) << r.output;
  EXPECT_EQ(records("syn").size(), 2u);
}

// Regression: a bad value of the grid was refused only as each run started, writing failure
// records; every configuration is checked before the first run now.
TEST_F(Sweep, ABadConfigurationIsRefusedBeforeTheFirstRun) {
  for (const std::string& set : std::vector<std::string>{"rates=[400,inf]", "meter=\"modelled:idle=-50W,busy=150W\"", "rates=[1e-9]",
                                "arrivals=[\"constant\",\"trace:/no/such/trace.csv\"]"}) {
    const auto r = run_greenbatch("sweep " + kCi + " --set '" + set + "' --out " + dir("bad"));
    EXPECT_EQ(r.code, 2) << set << "\n" << r.output;
    EXPECT_NE(r.output.find("ci.toml"), std::string::npos) << r.output;  // where
    EXPECT_FALSE(std::filesystem::exists(dir_ / "bad" / "runs.jsonl")) << set;
  }
  // The segfaults of a dotted --set key, and a repetition count that wrapped or took 17.5 GB.
  for (const std::string& set : std::vector<std::string>{"a.b=1", "rates.x=1", "repetitions=2147483648", "repetitions=100000000"}) {
    const auto r = run_greenbatch("sweep " + kCi + " --dry-run --set " + set);
    EXPECT_EQ(r.code, 2) << set << "\n" << r.output;
  }
}

// Regression: output paths were checked after the run (the record appended, then the
// per-request CSV failed); `--out ''` appended to /runs.jsonl.
TEST_F(Sweep, OutputPathsAreCheckedBeforeAnyWork) {
  const std::string m = "--model synthetic:base=1ms,per_item=100us --clock virtual --meter modelled:idle=50W,busy=150W ";
  const std::string file = write("a-file", "x");
  std::filesystem::create_directories(dir_ / "a-folder");
  const std::string folder = dir("a-folder");
  const auto root_before = std::filesystem::exists("/runs.jsonl") ? std::filesystem::file_size("/runs.jsonl") : 0;
  for (const std::string& cmd : std::vector<std::string>{
           "run " + m + "--out ''", "run " + m + "--out " + file, "run " + m + "--out /proc/self",
           "run " + m + "--out " + dir("o1") + " --requests-out " + folder,
           "run " + m + "--out " + dir("o1") + " --power-trace " + folder,
           "run " + m + "--out " + dir("o1") + " --requests-out /proc/self/x.csv",
           "sweep " + kCi + " --out " + file, "sweep " + kCi + " --out ''", "merge " + dir("o1") + " --out " + file,
           "report " + std::string(GB_SOURCE_DIR) + "/data/study --out " + folder,
           "report " + std::string(GB_SOURCE_DIR) + "/data/study --out ''",
           "profile " + m + "--batch-sizes 1,2 --out " + folder, "profile " + m + "--batch-sizes 1,2 --out ''"}) {
    const auto r = run_greenbatch(cmd);
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "o1" / "runs.jsonl")) << cmd;
  }
  EXPECT_EQ(std::filesystem::exists("/runs.jsonl") ? std::filesystem::file_size("/runs.jsonl") : 0, root_before);
  // simulate checks its per-request CSV before the first run.
  ASSERT_EQ(run_greenbatch("profile " + m + "--batch-sizes 1,2 --out " + dir("p.json")).code, 0);
  const auto sim = run_greenbatch("simulate --profile " + dir("p.json") + " --out " + dir("o2") + " --requests-out " + folder);
  EXPECT_EQ(sim.code, 2) << sim.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "o2" / "runs.jsonl"));
}

// Regression: a stale profile.json.tmp (a kill) was appended to, and the profile written corrupt;
// temporary files are removed on every exit path.
TEST_F(Sweep, TemporaryFilesNeverCorruptNorStay) {
  const std::string m = "--model synthetic:base=1ms,per_item=100us --clock virtual --meter modelled:idle=50W,busy=150W ";
  write("p.json.tmp", "{\"stale\": ");
  const auto r = run_greenbatch("profile " + m + "--batch-sizes 1,2 --out " + dir("p.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(nlohmann::json::accept(testing::slurp(dir_ / "p.json"))) << testing::slurp(dir_ / "p.json");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "p.json.tmp"));
  ASSERT_EQ(run_greenbatch("sweep " + kCi + " --set clock=\"virtual\" --out " + dir("a")).code, 0);
  std::filesystem::create_directories(dir_ / "m");
  write("m/runs.jsonl.merging", "junk\n");
  ASSERT_EQ(run_greenbatch("merge " + dir("a") + " --out " + dir("m")).code, 0);
  EXPECT_EQ(records("m").size(), 24u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "m" / "runs.jsonl.merging"));
  const auto rep = run_greenbatch("report " + dir("a") + " --out " + dir("r.html"));
  ASSERT_EQ(rep.code, 0) << rep.output;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "r.html.tmp"));
}

// Regression: merge into a folder whose runs.jsonl had an unreadable line dropped it silently.
TEST_F(Sweep, MergeSaysHowManyUnreadableLinesItLeftOut) {
  ASSERT_EQ(run_greenbatch("sweep " + kCi + " --set clock=\"virtual\" --out " + dir("a")).code, 0);
  std::ofstream(dir_ / "a" / "runs.jsonl", std::ios::app) << "{\"cut by a ki\n";
  const auto r = run_greenbatch("merge " + dir("a") + " --out " + dir("m"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("1 unreadable line(s)"), std::string::npos) << r.output;
}

class ExperimentFile : public testing::TempDirTest {
 protected:
  void expect_refused(const std::string& body, const std::string& fragment, const std::vector<std::string>& sets = {}) {
    const std::string p = write("e.toml", body);
    try {
      load_experiment(p, sets);
      FAIL() << "accepted:\n" << body;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  }
};

constexpr const char* kGood = "models = [\"synthetic\"]\nrates = [16, 32]\npolicies = [\"fixed:16\", \"greedy\"]\n";

TEST_F(ExperimentFile, AGoodFilePlansItsGrid) {
  const Experiment e = load_experiment(write("good.toml", std::string(kGood) + "repetitions = 3\n"));
  EXPECT_EQ(e.name, "good");
  EXPECT_EQ(e.out, "results/good");
  EXPECT_EQ(plan_runs(e).size(), 2u * 2u * 3u);
  const Experiment s = load_experiment(write("good.toml", kGood), {"rates=[16,64,128]", "name=\"other\""});
  EXPECT_EQ(s.rates, (std::vector<double>{16, 64, 128}));
  EXPECT_EQ(s.name, "other");
}

TEST_F(ExperimentFile, CarbonIntensityIsAFigureOrASeriesFile) {
  const Experiment e = load_experiment(write("c.toml", std::string(kGood) + "carbon_intensity = 350\n"));
  EXPECT_EQ(e.base.carbon_intensity, "350");
  for (const PlannedRun& r : plan_runs(e)) EXPECT_EQ(r.spec.carbon_intensity, "350");
  const std::string series = write("grid.csv", "time,intensity\n2026-12-01T10:00:00Z,200\n");
  EXPECT_EQ(load_experiment(write("s.toml", std::string(kGood) + "carbon_intensity = \"" + series + "\"\n"))
                .base.carbon_intensity,
            series);
  expect_refused(std::string(kGood) + "carbon_intensity = -1\n", "from 0 to 5000");
  expect_refused(std::string(kGood) + "carbon_intensity = \"nowhere.csv\"\n", "neither a number nor a readable file");
  expect_refused(std::string(kGood) + "carbon_intensity = [1]\n", "carbon_intensity");
}

TEST_F(ExperimentFile, ServeModeRunsEachPolicysRatesTogetherAndKnowsRunsByConfiguration) {
  // 8192 requests, a multiple of 16: no run's last requests wait on a server for a batch.
  const Experiment e = load_experiment(write("serve.toml", std::string(kGood) + "mode = \"serve\"\n"));
  EXPECT_EQ(e.mode, SweepMode::kServe);
  EXPECT_EQ(e.input, "tensor");  // preprocess cached: the client sends tensors
  const auto runs = plan_runs(e);
  ASSERT_EQ(runs.size(), 4u);
  // One server per model and policy: its rates follow one another.
  std::vector<std::string> order;
  for (const auto& p : runs) order.push_back(fmt::format("{} {:g}", p.spec.policy, p.spec.rate_hz));
  EXPECT_EQ(order, (std::vector<std::string>{"fixed:16 16", "fixed:16 32", "greedy:128 16", "greedy:128 32"}));
  // The identity is the configuration's, whatever port the server gets, and not an in-process run's.
  const load::LoadSpec a = load_spec(e, runs[0], "http://127.0.0.1:40001");
  const load::LoadSpec b = load_spec(e, runs[0], "http://127.0.0.1:40002");
  EXPECT_EQ(load::load_header(a).identity(), runs[0].key);
  EXPECT_EQ(load::load_header(b).identity(), runs[0].key);
  EXPECT_EQ(std::tie(a.via, a.meter, a.policy, a.model),
            (std::tuple<std::string, std::string, std::string, std::string>{"serve", "server", "fixed:16", "synthetic"}));
  const Experiment in_process = load_experiment(write("run.toml", kGood));
  for (const auto& p : plan_runs(in_process)) {
    for (const auto& q : runs) EXPECT_NE(p.key, q.key);
  }
  // Per-request preprocessing is sent as JPEG files, decoded by the server.
  const Experiment jpeg =
      load_experiment(write("serve.toml", std::string(kGood) + "mode = \"serve\"\npreprocess = \"per-request\"\n"));
  EXPECT_EQ(jpeg.input, "jpeg");
}

TEST_F(ExperimentFile, ATargetIsOneServerWhosePolicyIsRecorded) {
  const std::string file = "models = [\"resnet50\"]\nrates = [16, 32]\ntarget = \"http://10.0.0.7:8000/\"\n"
                           "server_policy = \"triton dynamic batching\"\nmeter = \"none\"\n";
  const Experiment e = load_experiment(write("t.toml", file));
  EXPECT_EQ(e.target, "http://10.0.0.7:8000");
  EXPECT_EQ(e.policies, std::vector<std::string>{"triton dynamic batching"});
  const auto runs = plan_runs(e);
  ASSERT_EQ(runs.size(), 2u);
  const RunRecord h = load::load_header(load_spec(e, runs[0], e.target));
  EXPECT_EQ(std::tie(h.mode, h.target, h.policy, h.model, h.device),
            (std::tuple<std::string, std::string, std::string, std::string, std::string>{
                "load", "http://10.0.0.7:8000", "triton dynamic batching", "resnet50", "remote"}));
  EXPECT_EQ(h.identity(), runs[0].key);
  // Another server is another run.
  const Experiment other = load_experiment(write("t.toml", file), {"target=\"http://10.0.0.8:8000\""});
  EXPECT_NE(plan_runs(other)[0].key, runs[0].key);
}

TEST_F(ExperimentFile, BadFilesAreRefusedWithTheKeyAndTheLine) {
  expect_refused(std::string(kGood) + "reqests = 5\n", "e.toml:4: key 'reqests': unknown key");
  expect_refused(std::string(kGood) + "requests = \"many\"\n", "e.toml:4: key 'requests': expected a whole number");
  expect_refused("models = [\"synthetic\"]\nrates = []\npolicies = [\"fixed:16\"]\n", "e.toml:2: key 'rates': the list is empty");
  expect_refused("models = [\"synthetic\"]\nrates = [16]\npolicies = [\"fixed:16\",\n  \"fixd:16\"]\n",
                 "e.toml:4: key 'policies': --policy 'fixd:16': unknown policy");
  expect_refused("models = [\"no_such_model\"]\nrates = [16]\npolicies = [\"fixed:16\"]\n",
                 "e.toml:1: key 'models': model 'no_such_model' not found");
  expect_refused("models = [\"synthetic\"]\npolicies = [\"fixed:16\"]\n", "key 'rates' is missing");
  expect_refused(std::string(kGood) + "meter = \"wattmeter\"\n", "e.toml:4: key 'meter'");
  expect_refused(std::string(kGood) + "host_memory = \"pooled\"\n", "e.toml:4: key 'host_memory': accepted: cached, system");
  EXPECT_EQ(load_experiment(write("g.toml", kGood), {"host_memory=\"system\""}).base.host_memory, HostMemory::kSystem);
  expect_refused("models = [\"synthetic\"\n", "not valid TOML");
  expect_refused(kGood, "--set 'rates': expected key=value", {"rates"});
  expect_refused(kGood, "key 'rates': expected numbers, got a string", {"rates=[16,"});
  EXPECT_EQ(load_experiment(write("g.toml", kGood), {"device=cuda"}).base.device, "cuda");  // a bare word is a string
  expect_refused(kGood, "is not a valid TOML key", {"a b=1"});
  EXPECT_THROW(parse_shard("3/2"), UserError);
  EXPECT_EQ(parse_shard("2/8"), std::make_pair(2, 8));
}

TEST_F(ExperimentFile, ShardsAreDisjointAndCoverTheGrid) {
  const Experiment e = load_experiment(kCi);
  std::set<std::string> all;
  for (const auto& p : plan_runs(e)) all.insert(p.key);
  EXPECT_EQ(all.size(), 24u);
  std::set<std::string> joined;
  for (int i = 1; i <= 5; ++i)
    for (const auto& p : plan_runs(e, i, 5)) EXPECT_TRUE(joined.insert(p.key).second) << p.key;
  EXPECT_EQ(joined, all);
  // The random order is the same on every call (seeded), and differs from the grid order.
  const auto a = plan_runs(e), b = plan_runs(e);
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].key, b[i].key);
  bool moved = false;
  for (std::size_t i = 0; i < a.size(); ++i) moved |= a[i].grid_index != i;
  EXPECT_TRUE(moved);
}


// Regression: a dotted key segfaulted (--set a.b=1); a 50,000-part dotted key in the file
// crashed toml++'s recursion. Neither reaches toml++ now.
TEST_F(ExperimentFile, DottedKeysTablesAndDeepNestingAreRefusedWithTheLine) {
  expect_refused(kGood, "'a.b' is a dotted key", {"a.b=1"});
  expect_refused(kGood, "'rates.x' is a dotted key", {"rates.x=1"});
  std::string deep = "a";
  for (int i = 0; i < 50000; ++i) deep += ".a";
  expect_refused(std::string(kGood) + deep + " = 1\n", "e.toml:4: dotted keys");
  expect_refused(std::string(kGood) + "[table]\nx = 1\n", "e.toml:4: tables");
  expect_refused(std::string(kGood) + "name = {a = 1}\n", "e.toml:4: inline tables");
  expect_refused(std::string(kGood) + "name = " + std::string(100000, '[') + "\n", "e.toml:4: lists nested deeper");
  // Dots inside strings, numbers and comments are no keys.
  const Experiment e = load_experiment(write("ok.toml", "# a.b = 1\nmodels = [\"synthetic\"] # x.y\nrates = [16.5]\n"
                                                         "policies = ['fixed:16']\nname = \"a.b = [[[{\"\n"));
  EXPECT_EQ(e.name, "a.b = [[[{");
  EXPECT_EQ(e.rates, std::vector<double>{16.5});
}

// Regression: integers wrapped (repetitions=2147483648 planned 0 runs and exited 0; 2147483647
// took 10 GB), seeds could be negative; the grid's size is bounded before it is planned.
TEST_F(ExperimentFile, IntegersAndTheGridAreBoundedNeverWrapped) {
  expect_refused(std::string(kGood) + "repetitions = 2147483648\n", "e.toml:4: key 'repetitions': must be from 1 to 10000");
  expect_refused(std::string(kGood) + "repetitions = 2147483647\n", "must be from 1 to 10000");
  expect_refused(kGood, "key 'repetitions': must be from 1 to 10000", {"repetitions=100000000"});
  expect_refused(std::string(kGood) + "seed = -1\n", "key 'seed': must be from 0");
  expect_refused(std::string(kGood) + "order_seed = -1\n", "key 'order_seed': must be from 0");
  expect_refused(std::string(kGood) + "requests = 99999999999\n", "key 'requests': must be from 1");
  expect_refused(std::string(kGood) + "threads = 4294967297\n", "key 'threads'");
  std::string rates, policies;
  for (int i = 1; i <= 101; ++i) rates += (i > 1 ? "," : "") + std::to_string(i);
  for (int i = 1; i <= 100; ++i) policies += (i > 1 ? ",\"fixed:" : "\"fixed:") + std::to_string(i) + "\"";
  expect_refused("models = [\"synthetic\"]\nrates = [" + rates + "]\npolicies = [" + policies + "]\nrepetitions = 100\n",
                 "a sweep holds at most 1000000 runs");
}

// Every configuration is checked with the file, line and key before anything runs.
TEST_F(ExperimentFile, EveryConfigurationIsCheckedWithTheKeyAndTheLine) {
  expect_refused("models = [\"synthetic\"]\nrates = [16, inf]\npolicies = [\"fixed:16\"]\n",
                 "e.toml:2: key 'rates': a rate must be from");
  expect_refused(std::string(kGood) + "meter = \"modelled:idle=-5W,busy=150W\"\n", "e.toml:4: key 'meter'");
  expect_refused(std::string(kGood) + "meter = \"modelled:idle=150W,busy=5W\"\n", "e.toml:4: key 'meter'");
  expect_refused(std::string(kGood) + "clock = \"virtual\"\nmeter = \"rapl\"\n", "key 'models': clock \"virtual\"");
  expect_refused(std::string(kGood) + "arrivals = [\"trace:no-such-file.csv\"]\n", "e.toml:4: key 'arrivals'");
  // Each rate with each arrival process, as a run checks it: a schedule past 100 years, a bursty on
  // period too short for the rate (these used to start the sweep and fail each run at its start).
  expect_refused("models = [\"synthetic\"]\nrates = [1e-6]\npolicies = [\"fixed:16\"]\n",
                 "e.toml:2: key 'rates': --rate 1e-06 with 8192 requests");
  expect_refused("models = [\"synthetic\"]\nrates = [64]\narrivals = [\"bursty:on=1ns\"]\npolicies = [\"fixed:16\"]\n",
                 "e.toml:2: key 'rates': --arrivals 'bursty");
}

TEST_F(ExperimentFile, SynonymsAreOneConfiguration) {
  const Experiment e = load_experiment(
      write("s.toml", "models = [\"synthetic:base=5ms\", \"synthetic:base=5000us\", \"synthetic\"]\nrates = [400, 400.0, 16]\n"
                      "arrivals = [\"poisson\", \"poisson\"]\npolicies = [\"fixed:8\", \"fixed:08\", \"greedy\", \"greedy:128\"]\n"));
  EXPECT_EQ(e.models.size(), 2u);
  EXPECT_EQ(e.rates, (std::vector<double>{400, 16}));
  EXPECT_EQ(e.arrivals.size(), 1u);
  EXPECT_EQ(e.policies, (std::vector<std::string>{"fixed:8", "greedy:128"}));
  EXPECT_EQ(e.duplicates.size(), 5u);
  std::set<std::string> keys;
  for (const auto& p : plan_runs(e)) EXPECT_TRUE(keys.insert(p.key).second) << p.key;
  EXPECT_EQ(keys.size(), 2u * 2u * 2u);
}

}  // namespace
}  // namespace greenbatch
