// The estimate meter (no sensor): CPU facts from a fake /proc and cgroup tree, the per-CPU power
// from the table, the flags or CCF's averages, the energy from a fake CPU-time clock, and the
// whole path through the CLI, recommend and the report, labelled estimated throughout.
#include "energy/estimate.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/units.hpp"
#include "engine/run_record.hpp"
#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

class Estimate : public testing::TempDirTest {
 protected:
  void tree(const std::string& model, int cpus, const std::string& cpu_max) {
    std::string info;
    for (int i = 0; i < cpus; ++i) info += fmt::format("processor\t: {}\nmodel name\t: {}\nflags\t\t: fpu\n\n", i, model);
    std::filesystem::create_directories(dir_ / "proc");
    write("proc/cpuinfo", info);
    if (!cpu_max.empty()) {
      std::filesystem::create_directories(dir_ / "sys/fs/cgroup");
      write("sys/fs/cgroup/cpu.max", cpu_max);
    }
  }
};

TEST_F(Estimate, ReadsTheCpuAndItsAllotmentFromProcAndTheCgroup) {
  tree("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", 4, "150000 100000\n");
  CpuFacts f = read_cpu_facts(dir_.string());
  EXPECT_EQ(f.model_name, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz");
  EXPECT_EQ(f.logical_cpus, 4u);
  EXPECT_DOUBLE_EQ(f.allotted_cpus, 1.5);
  EXPECT_EQ(f.allotted_from, "cgroup cpu.max");
  // No quota: every CPU.
  tree("Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", 4, "max 100000\n");
  f = read_cpu_facts(dir_.string());
  EXPECT_DOUBLE_EQ(f.allotted_cpus, 4);
  // A quota above the CPUs there are is no limit.
  tree("x", 2, "800000 100000\n");
  EXPECT_DOUBLE_EQ(read_cpu_facts(dir_.string()).allotted_cpus, 2);
  // Nothing readable: one CPU, no name (the estimate then says it used CCF's averages).
  EXPECT_EQ(read_cpu_facts((dir_ / "nowhere").string()).logical_cpus, 1u);
}

TEST_F(Estimate, PowerPerCpuFromTheTableTheFlagsOrCcfsAverages) {
  CpuFacts f;
  f.logical_cpus = 8;
  f.model_name = "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz";
  CpuPower p = cpu_power(f, std::nullopt, std::nullopt, std::nullopt);
  EXPECT_DOUBLE_EQ(p.max_w_per_cpu, 270.0 / 80);  // the package's TDP over its 80 threads
  EXPECT_NEAR(p.idle_w_per_cpu, 270.0 / 80 * 0.74 / 3.5, 1e-12);
  EXPECT_NE(p.source.find("Intel ARK"), std::string::npos) << p.source;
  // Another processor whose name starts the same is not that row.
  f.model_name = "Intel(R) Xeon(R) Platinum 8380H CPU @ 2.90GHz";
  p = cpu_power(f, std::nullopt, std::nullopt, std::nullopt);
  EXPECT_DOUBLE_EQ(p.max_w_per_cpu, 3.5);
  EXPECT_DOUBLE_EQ(p.idle_w_per_cpu, 0.74);
  EXPECT_NE(p.source.find("Cloud Carbon Footprint"), std::string::npos) << p.source;
  EXPECT_NE(p.source.find("estimate:tdp=W"), std::string::npos) << p.source;
  // Given: the TDP over the threads given, or over the machine's CPUs.
  p = cpu_power(f, 100.0, 20.0, 10u);
  EXPECT_DOUBLE_EQ(p.max_w_per_cpu, 10);
  EXPECT_DOUBLE_EQ(p.idle_w_per_cpu, 2);
  p = cpu_power(f, 80.0, std::nullopt, std::nullopt);
  EXPECT_DOUBLE_EQ(p.max_w_per_cpu, 10);
  EXPECT_NEAR(p.idle_w_per_cpu, 10 * 0.74 / 3.5, 1e-12);
  // Every table row is a sane figure.
  for (const KnownCpu& k : known_cpus()) {
    EXPECT_GT(k.tdp_w / k.threads, 0.5) << k.name;
    EXPECT_LT(k.tdp_w / k.threads, 10) << k.name;
  }
  EXPECT_THROW(cpu_power(f, 100.0, 120.0, std::nullopt), UserError);  // idle above the TDP
  EXPECT_THROW(cpu_power(f, std::nullopt, 20.0, std::nullopt), UserError);  // idle without a TDP
  EXPECT_THROW(cpu_power(f, 0.0, std::nullopt, std::nullopt), UserError);
}

TEST_F(Estimate, IdleShareOverTheWindowPlusCpuTimeAboveIdle) {
  CpuFacts f;
  f.model_name = "test CPU";
  f.logical_cpus = 8;
  f.allotted_cpus = 2;
  f.allotted_from = "affinity";
  CpuPower p{1.0, 5.0, "test"};
  double cpu = 1.0;  // the fake clock: CPU time so far, in seconds
  EstimateMeter m(p, f, [&cpu] { return cpu; }, "estimate", "");
  EXPECT_DOUBLE_EQ(*m.measure_idle_w(0), 2.0);  // 1 W x 2 CPUs
  m.start(0);
  cpu = 2.0;
  const auto a = m.live(kNsPerS, 0, false);  // 1 s, 1 s of CPU: 2 J idle + 4 J
  ASSERT_TRUE(a.has_value());
  EXPECT_DOUBLE_EQ(a->joules, 6.0);
  EXPECT_DOUBLE_EQ(*a->power_w, 6.0);
  cpu = 3.0;
  const Energy e = m.stop(2 * kNsPerS, {}, 6);  // 2 s, 2 s of CPU: 4 J idle + 8 J
  EXPECT_EQ(e.method, "estimate");
  EXPECT_FALSE(e.measured);
  EXPECT_TRUE(e.estimated);
  EXPECT_TRUE(e.has_figures());
  EXPECT_DOUBLE_EQ(*e.joules, 12.0);
  EXPECT_DOUBLE_EQ(*e.per_image_j, 2.0);
  EXPECT_DOUBLE_EQ(*e.dynamic_per_image_j, 8.0 / 6);
  EXPECT_DOUBLE_EQ(*e.idle_power_w, 2.0);
  EXPECT_DOUBLE_EQ(e.sensor["cpu_time_s"].get<double>(), 2.0);
  EXPECT_EQ(e.sensor["allotted_from"], "affinity");
  ASSERT_FALSE(e.warnings.empty());
  EXPECT_NE(e.warnings[0].find("estimated, not measured"), std::string::npos) << e.warnings[0];
  // The record says estimated, and reads back so; a measured record has no such key.
  RunRecord rec;
  rec.energy = e;
  const nlohmann::json j = rec.to_json();
  EXPECT_TRUE(j["energy"]["estimated"].get<bool>());
  EXPECT_FALSE(j["energy"]["measured"].get<bool>());
  EXPECT_TRUE(RunRecord::from_json(j).energy->estimated);
  Energy measured;
  measured.measured = true;
  rec.energy = measured;
  EXPECT_FALSE(rec.to_json()["energy"].contains("estimated"));
}

TEST_F(Estimate, ThroughTheCliRecommendAndTheReportLabelledEstimated) {
  const std::string out = (dir_ / "out").string();
  for (const char* policy : {"fixed:4", "fixed:16"}) {
    const auto r = testing::run_greenbatch(fmt::format(
        "run --model synthetic:base=2ms --rate 200 --policy {} --requests 64 --meter estimate:tdp=100W,threads=10 "
        "--idle-window 0s --carbon-intensity 360 --out {}",
        policy, out));
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_NE(r.output.find("ESTIMATED"), std::string::npos) << r.output;
  }
  const std::string lines = testing::slurp(dir_ / "out" / "runs.jsonl");
  const nlohmann::json j = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
  EXPECT_EQ(j["meter"], "estimate:tdp=100W,threads=10");
  EXPECT_TRUE(j["energy"]["estimated"].get<bool>());
  EXPECT_GT(j["energy"]["per_image_j"].get<double>(), 0);
  // Carbon from the (estimated) energy at 360 gCO2e/kWh, marked estimated too.
  EXPECT_NEAR(j["carbon"]["grams"].get<double>(), j["energy"]["joules"].get<double>() / 3.6e6 * 360, 1e-15);
  EXPECT_NEAR(j["carbon"]["grams_per_image"].get<double>(), j["energy"]["per_image_j"].get<double>() / 3.6e6 * 360, 1e-15);
  EXPECT_TRUE(j["carbon"]["estimated"].get<bool>());
  const auto rec = testing::run_greenbatch("recommend " + out + " --slo max=10s");
  ASSERT_EQ(rec.code, 0) << rec.output;
  EXPECT_NE(rec.output.find("ENERGY ESTIMATED"), std::string::npos) << rec.output;
  EXPECT_NE(rec.output.find("best fixed:"), std::string::npos) << rec.output;
  const auto js = testing::run_greenbatch("recommend " + out + " --slo max=10s --json");
  ASSERT_EQ(js.code, 0) << js.output;
  const nlohmann::json rj = nlohmann::json::parse(js.output);
  EXPECT_TRUE(rj[0]["energy_estimated"].get<bool>());
  EXPECT_NEAR(rj[0]["best"]["carbon_g_per_image"].get<double>(), rj[0]["best"]["energy_per_image_j"].get<double>() / 3.6e6 * 360,
              1e-12);
  EXPECT_NE(rec.output.find("mg CO2e"), std::string::npos) << rec.output;
  // The study's files have no carbon: recommend gives them one from a figure.
  const auto study = testing::run_greenbatch(std::string("recommend ") + GB_SOURCE_DIR + "/data/study --slo max=10s --json "
                                             "--carbon-intensity 300");
  ASSERT_EQ(study.code, 0) << study.output;
  const nlohmann::json sj = nlohmann::json::parse(study.output);
  EXPECT_NEAR(sj[0]["best"]["carbon_g_per_image"].get<double>(), sj[0]["best"]["energy_per_image_j"].get<double>() / 3.6e6 * 300,
              1e-12);
  const auto bad = testing::run_greenbatch("run --model synthetic --requests 4 --carbon-intensity lots --out " + out);
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--carbon-intensity 'lots'"), std::string::npos) << bad.output;
  const std::string html = (dir_ / "r.html").string();
  const auto rep = testing::run_greenbatch("report " + out + " --out " + html);
  ASSERT_EQ(rep.code, 0) << rep.output;
  EXPECT_NE(testing::slurp(html).find("(estimated energy)"), std::string::npos);
  // load's own meter cannot estimate the server's work.
  const auto load = testing::run_greenbatch("load http://127.0.0.1:9 --model m --meter estimate --out " + out);
  EXPECT_EQ(load.code, 2) << load.output;
  EXPECT_NE(load.output.find("--meter server"), std::string::npos) << load.output;
  // profile says so of its own table, and marks the profile (energy_estimated).
  const std::string profile = (dir_ / "est.profile.json").string();
  const auto prof = testing::run_greenbatch("profile --model synthetic:base=2ms --meter estimate:tdp=100W,threads=10 "
                                            "--batch-sizes 1,2 --idle-gaps 5ms --idle-samples 5 --refine 0 "
                                            "--warmup-batches 0 --idle-window 0s --min-window 200ms --out " + profile);
  ASSERT_EQ(prof.code, 0) << prof.output;
  EXPECT_NE(prof.output.find("* energy ESTIMATED"), std::string::npos) << prof.output;
  EXPECT_NE(prof.output.find("energy J/image*"), std::string::npos) << prof.output;
  EXPECT_TRUE(nlohmann::json::parse(testing::slurp(profile)).value("energy_estimated", false));
  // Bad parameters are clear errors.
  const auto idle = testing::run_greenbatch("run --model synthetic --meter estimate:idle=5W --requests 4 --out " + out);
  EXPECT_NE(idle.code, 0);
  EXPECT_NE(idle.output.find("idle and threads go with tdp"), std::string::npos) << idle.output;
}

}  // namespace
}  // namespace greenbatch
