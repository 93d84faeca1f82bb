// The run record's one codec: whole records round-trip exactly, records of earlier versions
// read, bad records are refused naming the key; and one identity on both sides of a sweep.
#include "engine/run_record.hpp"

#include <gtest/gtest.h>

#include <string>

#include "arrivals/schedule.hpp"
#include "core/error.hpp"
#include "engine/execute.hpp"
#include "io/experiment.hpp"
#include "io/records.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using nlohmann::json;

// Lines as greenbatch writes them (host, revision and times replaced).
const std::string kCompleted =
    R"({"arrivals":"constant","avg_batch_size":14.285714285714286,"backend":{},"batches":7,"clock":"virtual",)"
    R"("completed":100,"device":"synthetic","dispatch_late_s":{"max":0.0,"p50":0.0,"p99":0.0},"duration_s":1.551875,)"
    R"("energy":{"avg_power_w":52.2553362867499,"busy_power_w":150.0,"cross_check":null,"dynamic_per_image_j":0.035,)"
    R"("idle_power_w":50.0,"joules":81.09375,"measured":true,"method":"modelled","peak_power_w":150.0,)"
    R"("per_image_j":0.8109375,"reason":null,"samples":0,"sensor":{},"warnings":[],"window_s":1.551875},"error":null,)"
    R"("git_rev":"0123456789ab","host":"example-host","latency_s":{"max":0.239375,"mean":0.1184375,"p50":0.114375,)"
    R"("p90":0.22375,"p95":0.239375,"p99":0.239375},"meter":"modelled:idle=50W,busy=150W",)"
    R"("model":"synthetic:base=5ms,per_item=0s","offered_rate_hz":64.0,"policy":"fixed:16","power_trace":null,)"
    R"("rate_hz":64.0,"repetition":0,"requests":100,"schema":"greenbatch.run/1","seed":1,)"
    R"("service_s":{"max":0.005,"mean":0.005,"min":0.005,"p50":0.005,"p90":0.005},"started_utc":"2026-01-02T03:04:05Z",)"
    R"("sweep":null,"throughput_rps":64.4381796214257,"tool_version":"0.1.0","warmup":{"batch_size":0,"batches":0}})";

// A real network's run with a sensor: a cross-check, warnings, backend facts, a power trace.
const std::string kCompletedNvml =
    R"({"arrivals":"trace:arrivals.csv","avg_batch_size":7.5,"backend":{"backend":"torchscript","device_name":"GPU X",)"
    R"("preprocess_threads":1,"threads":4},"batches":2,"clock":"real","completed":15,"device":"cuda:0","dispatch_late_s":{"max":0.0002,)"
    R"("p50":0.0001,"p99":0.0002},"duration_s":0.5,"energy":{"avg_power_w":120.5,"busy_power_w":180.25,)"
    R"("cross_check":{"difference_pct":-1.5,"instant_joules":59.0,"joules":59.5,"method":"nvml-sampled",)"
    R"("per_image_j":3.9666666666666668},"dynamic_per_image_j":2.1,"idle_power_w":60.0,"joules":60.25,"measured":true,)"
    R"("method":"nvml","peak_power_w":210.0,"per_image_j":4.016666666666667,"reason":null,"samples":50,)"
    R"("sensor":{"name":"GPU X","power_limit_w":250.0},"warnings":["the counter is coarse"],"window_s":0.5},)"
    R"("error":null,"git_rev":"0123456789ab","host":"example-host","latency_s":{"max":0.3,"mean":0.2,"p50":0.19,)"
    R"("p90":0.28,"p95":0.29,"p99":0.3},"meter":"nvml","model":"resnet50","offered_rate_hz":28.0,"policy":"greedy:128",)"
    R"("prepare_s":{"max":0.004,"mean":0.002,"p50":0.0019,"p99":0.0035},"power_trace":"power.csv","rate_hz":64.0,"repetition":2,"requests":15,"schema":"greenbatch.run/1","seed":3,)"
    R"("service_s":{"max":0.12,"mean":0.1,"min":0.08,"p50":0.1,"p90":0.12},"started_utc":"2026-01-02T03:04:05Z",)"
    R"("sweep":"paper","throughput_rps":30.0,"tool_version":"0.1.0","warmup":{"batch_size":32,"batches":256}})";

const std::string kFailedToStart =
    R"({"arrivals":"constant","avg_batch_size":null,"backend":null,"batches":null,"clock":"real","completed":0,)"
    R"("device":"cpu","dispatch_late_s":null,"duration_s":null,"energy":null,)"
    R"("error":"--model 'm/x.pt': is not a TorchScript file","git_rev":"0123456789ab","host":"example-host",)"
    R"("latency_s":null,"meter":"auto","model":"x","offered_rate_hz":null,"policy":"fixed:8","power_trace":null,)"
    R"("rate_hz":16.0,"repetition":0,"requests":64,"schema":"greenbatch.run/1","seed":1,"service_s":null,)"
    R"("started_utc":"2026-01-02T03:04:05Z","sweep":"gold","throughput_rps":null,"tool_version":"0.1.0",)"
    R"("warmup":{"batch_size":32,"batches":256}})";

const std::string kSimulated =
    R"({"arrivals":"constant","avg_batch_size":3.8461538461538463,"backend":{"backend":"simulated",)"
    R"("profile_meter":"modelled:idle=50W,busy=150W","profile_model":"synthetic:base=5ms,per_item=1ms"},"batches":13,)"
    R"("clock":"virtual","completed":50,"device":"synthetic","dispatch_late_s":{"max":0.0,"p50":0.0,"p99":0.0},)"
    R"("duration_s":1.53825,"energy":{"avg_power_w":57.47602795384365,"busy_power_w":149.99999999999991,)"
    R"("cross_check":null,"dynamic_per_image_j":0.22999999999999976,"idle_power_w":50.0,"joules":88.41249999999998,)"
    R"("measured":true,"method":"simulated","peak_power_w":null,"per_image_j":1.7682499999999997,"reason":null,)"
    R"("samples":0,"sensor":{},"warnings":[],"window_s":1.53825},"error":null,"git_rev":"0123456789ab",)"
    R"("host":"example-host","latency_s":{"max":0.10275,"mean":0.054545,"p50":0.04025,"p90":0.10275,"p95":0.10275,)"
    R"("p99":0.10275},"meter":"profile:modelled:idle=50W,busy=150W","model":"synthetic:base=5ms,per_item=1ms",)"
    R"("offered_rate_hz":32.0,"policy":"fixed:4","power_trace":null,"profile":"profile.json","rate_hz":32.0,)"
    R"("repetition":0,"requests":50,"schema":"greenbatch.run/1","seed":1,"service_s":{"max":0.009,)"
    R"("mean":0.008846153846153844,"min":0.007,"p50":0.009,"p90":0.009},"simulated":true,)"
    R"("started_utc":"2026-01-02T03:04:05Z","sweep":null,"throughput_rps":32.50446936453763,"tool_version":"0.1.0",)"
    R"("warmup":{"batch_size":0,"batches":0}})";

json round_trip(const std::string& line) {
  return json::parse(RunRecord::from_json(json::parse(line)).to_json().dump());
}

TEST(RunRecordCodec, ACompletedRecordRoundTripsExactly) {
  EXPECT_EQ(round_trip(kCompleted), json::parse(kCompleted));
  EXPECT_EQ(round_trip(kCompletedNvml), json::parse(kCompletedNvml));
  const RunRecord r = RunRecord::from_json(json::parse(kCompleted));
  EXPECT_TRUE(r.complete());
  EXPECT_FALSE(r.simulated);
  ASSERT_TRUE(r.summary && r.energy);
  EXPECT_EQ(r.summary->batches, 7u);
  EXPECT_EQ(r.energy->joules, 81.09375);
  EXPECT_FALSE(r.summary->prepare_s);  // nothing prepared per request: no key
  EXPECT_FALSE(r.to_json().contains("prepare_s"));
  const RunRecord nvml = RunRecord::from_json(json::parse(kCompletedNvml));
  ASSERT_TRUE(nvml.summary && nvml.summary->prepare_s);
  EXPECT_EQ(nvml.summary->prepare_s->p99, 0.0035);
  // Not simulated: no `simulated` or `profile` key, as before.
  EXPECT_FALSE(r.to_json().contains("simulated"));
  EXPECT_FALSE(r.to_json().contains("profile"));
}

TEST(RunRecordCodec, AFailedToStartRecordRoundTripsExactly) {
  EXPECT_EQ(round_trip(kFailedToStart), json::parse(kFailedToStart));
  const RunRecord r = RunRecord::from_json(json::parse(kFailedToStart));
  EXPECT_FALSE(r.complete());
  EXPECT_FALSE(r.summary);  // nothing measured: null figures, not zeros
  EXPECT_FALSE(r.energy);
  EXPECT_EQ(r.error, "--model 'm/x.pt': is not a TorchScript file");
}

TEST(RunRecordCodec, ASimulatedRecordRoundTripsExactly) {
  EXPECT_EQ(round_trip(kSimulated), json::parse(kSimulated));
  const RunRecord r = RunRecord::from_json(json::parse(kSimulated));
  EXPECT_TRUE(r.simulated);
  EXPECT_EQ(r.profile, "profile.json");
}

TEST(RunRecordCodec, ARecordOfAnEarlierVersionReads) {
  // Before offered_rate_hz: a completed record without it.
  json old = json::parse(kCompleted);
  old.erase("offered_rate_hz");
  const RunRecord r = RunRecord::from_json(old);
  EXPECT_FALSE(r.offered_rate_hz);
  EXPECT_TRUE(r.complete());
  json expected = old;
  expected["offered_rate_hz"] = nullptr;
  EXPECT_EQ(r.to_json(), expected);

  // An earlier sweep's failure record: few keys, the model as given.
  const json failed = json::parse(
      R"({"schema":"greenbatch.run/1","tool_version":"0.1.0","git_rev":"abc","started_utc":"2025-01-01T00:00:00Z",)"
      R"("host":"h","sweep":"gold","repetition":0,"model":"models/dir/x.pt","device":"cuda","rate_hz":16.0,)"
      R"("arrivals":"constant","seed":1,"policy":"fixed:8","requests":64,"completed":0,"error":"cannot load"})");
  const RunRecord f = RunRecord::from_json(failed);
  EXPECT_FALSE(f.complete());
  EXPECT_FALSE(f.summary);
  EXPECT_FALSE(f.energy);
  EXPECT_EQ(f.model, "models/dir/x.pt");
  EXPECT_EQ(f.error, "cannot load");
  EXPECT_TRUE(f.backend.is_null());
  // Its identity is that of the run it stands for.
  RunRecord now = f;
  now.model = "x";
  now.device = "cuda:0";
  EXPECT_EQ(f.identity(), now.identity());

  // Without repetition, sweep, simulated or profile (the first records).
  json first = json::parse(kCompleted);
  for (const char* key : {"offered_rate_hz", "repetition", "sweep", "warmup", "power_trace"}) first.erase(key);
  const RunRecord fr = RunRecord::from_json(first);
  EXPECT_EQ(fr.repetition, 0);
  EXPECT_TRUE(fr.sweep.empty());
}

void expect_refused(const json& j, const std::string& fragment) {
  try {
    RunRecord::from_json(j);
    FAIL() << "accepted: " << j.dump();
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(RunRecordCodec, AMissingOrMistypedKeyIsAUserErrorNamingIt) {
  const json good = json::parse(kCompleted);
  for (const char* key : {"model", "device", "rate_hz", "arrivals", "seed", "policy", "requests"}) {
    json j = good;
    j.erase(key);
    expect_refused(j, std::string("'") + key + "' is missing");
    j[key] = nullptr;
    expect_refused(j, std::string("'") + key + "' is missing");
  }
  json j = good;
  j["policy"] = 16;
  expect_refused(j, "key 'policy': expected a string");
  j = good;
  j["seed"] = "1";
  expect_refused(j, "key 'seed'");
  j = good;
  j["requests"] = -5;
  expect_refused(j, "key 'requests'");
  j = good;
  j["energy"]["joules"] = "many";
  expect_refused(j, "key 'energy.joules'");
  j = good;
  j["latency_s"] = 3;
  expect_refused(j, "key 'latency_s'");
  // A record of completed requests without its figures was read as zeros (summarize printed a 0 ms
  // latency): now the missing figure is named.
  j = good;
  j.erase("latency_s");
  expect_refused(j, "'latency_s' is missing");
  j = good;
  j["latency_s"].erase("p99");
  expect_refused(j, "'latency_s.p99' is missing");
  j = good;
  j["schema"] = "greenbatch.run/9";
  expect_refused(j, "schema");
  expect_refused(json::array(), "object");
}

TEST(RunRecordIdentity, IsCanonicalAndLeavesOutWhenAndWhere) {
  RunRecord a = RunRecord::from_json(json::parse(kCompleted));
  RunRecord b = a;
  b.host = "elsewhere";
  b.started_utc = "2030-01-01T00:00:00Z";
  b.offered_rate_hz = 63.0;
  b.meter = "none";
  EXPECT_EQ(a.identity(), b.identity());
  b.model = "synthetic:base=5ms";  // the same model, not in canonical form
  EXPECT_EQ(a.identity(), b.identity());
  b.repetition = 1;
  EXPECT_NE(a.identity(), b.identity());
  b = a;
  b.rate_hz = 32;
  EXPECT_NE(a.identity(), b.identity());
}

class RecordHeader : public testing::TempDirTest {};

TEST_F(RecordHeader, CanonicalisesTheSpecAsTheBackendsNameIt) {
  RunSpec s;
  s.model = "models/dir/foo.pt";
  s.device = "cuda";
  s.policy = "greedy";
  s.arrivals = "jitter:0.20";
  const RunRecord h = record_header(s);
  EXPECT_EQ(h.model, "foo");
  EXPECT_EQ(h.device, "cuda:0");
  EXPECT_EQ(h.policy, "greedy:128");
  EXPECT_EQ(h.arrivals, parse_arrivals("jitter:0.2").text);
  EXPECT_EQ(h.warmup_batches, s.warmup_batches);
  RunSpec syn;
  syn.model = "synthetic:base=5ms";
  syn.device = "cuda";
  const RunRecord hs = record_header(syn);
  EXPECT_EQ(hs.model, "synthetic:base=5ms,per_item=0s");
  EXPECT_EQ(hs.device, "synthetic");
  EXPECT_EQ(hs.warmup_batches, 0u);
  // A whole trace: its length.
  RunSpec t;
  t.arrivals = "trace:" + write("t.csv", "0\n0.5\n1\n");
  EXPECT_EQ(record_header(t).requests, 3u);
}

TEST_F(RecordHeader, ARunsRecordHasThePlansIdentityWithATrace) {
  const std::string trace = write("t.csv", "0\n0.01\n0.02\n0.5\n");
  const std::string file = write("e.toml", "models = [\"synthetic:base=1ms\"]\nrates = [16]\narrivals = [\"trace:" +
                                               trace + "\"]\npolicies = [\"greedy\"]\nrequests = 4\nclock = \"virtual\"\n"
                                               "meter = \"modelled:idle=50W,busy=150W\"\n");
  const Experiment e = load_experiment(file);
  const auto plan = plan_runs(e);
  ASSERT_EQ(plan.size(), 1u);
  PreparedRun run(plan[0].spec);
  RunOutcome out = run.execute();
  out.record.repetition = plan[0].repetition;
  EXPECT_EQ(out.record.identity(), plan[0].key);
  EXPECT_EQ(out.record.rate_hz, 16);  // the rate asked for
  ASSERT_TRUE(out.record.offered_rate_hz);
  EXPECT_DOUBLE_EQ(*out.record.offered_rate_hz, 3 / 0.5);  // the trace's own
  // And through the codec.
  EXPECT_EQ(RunRecord::from_json(json::parse(out.record.to_json().dump())).identity(), plan[0].key);
  EXPECT_EQ(json::parse(out.record.to_json().dump()), round_trip(out.record.to_json().dump()));
}

}  // namespace
}  // namespace greenbatch

namespace greenbatch {
namespace {

class RunsFile : public testing::TempDirTest {};

// Issue 18: 100,000-deep nesting in runs.jsonl overflowed the stack inside the JSON parser; a
// line nested deeper than 64 levels is refused before parsing, naming the file and line.
TEST_F(RunsFile, DeepNestingIsRefusedWithFileAndLine) {
  const std::string path = write("runs.jsonl", kCompleted + "\n" + std::string(100000, '[') + std::string(100000, ']') + "\n");
  try {
    read_runs(path);
    FAIL() << "accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("runs.jsonl:2: JSON nested deeper than 64 levels"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_jsonl(path), UserError);
}

TEST(JsonNesting, CountsBracketsOutsideStrings) {
  EXPECT_EQ(json_nesting_depth("1"), 0u);
  EXPECT_EQ(json_nesting_depth(R"({"a":[1,{"b":[]}]})"), 4u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[\"[["})"), 1u);
  EXPECT_EQ(json_nesting_depth(kCompleted), 3u);  // the record, its energy, the energy's sensor
}

TEST(RunRecordCodec, AServerLifetimeRecordRoundTripsWithItsModeAndIdentity) {
  json served = json::parse(kCompleted);
  served["mode"] = "serve";
  served["arrivals"] = "served";
  served["rate_hz"] = 0.0;
  EXPECT_EQ(round_trip(served.dump()), served);
  const RunRecord r = RunRecord::from_json(served);
  EXPECT_EQ(r.mode, "serve");
  // A served record's identity does not parse "served" as an arrival process; two lifetimes of
  // the same model and policy differ by their start.
  const std::string id = r.identity();
  EXPECT_TRUE(id.starts_with("serve|")) << id;
  RunRecord later = r;
  later.started_utc = "2030-01-01T00:00:00Z";
  EXPECT_NE(later.identity(), id);
  // A replay's record has no mode key (as before) and reads back as a run.
  EXPECT_FALSE(json::parse(kCompleted).contains("mode"));
  EXPECT_EQ(RunRecord::from_json(json::parse(kCompleted)).mode, "run");
  served["mode"] = "stream";
  try {
    RunRecord::from_json(served);
    FAIL() << "an unknown mode was accepted";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("accepted: run, serve"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace greenbatch
