// The TorchScript backend on the CPU with small models exported by scripts/export_models.py.
#include "backends/torchscript/torchscript_backend.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <map>
#include <sstream>

#include "arrivals/schedule.hpp"
#include "batching/policy.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "engine/engine.hpp"
#include "image/jpeg.hpp"
#include "image/normalize.hpp"
#include "image/preprocess.hpp"
#include "support/cli.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

using testing::run_greenbatch;

TorchScriptOptions options(const std::string& model) {
  TorchScriptOptions o;
  o.model = model;
  o.models_dir = GB_TEST_MODELS;
  o.images_dir = GB_IMAGES;
  return o;
}

void expect_user_error(const TorchScriptOptions& o, const std::string& fragment) {
  try {
    make_torchscript_backend(o);
    FAIL() << "accepted model " << o.model << " on " << o.device;
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(TorchScript, ATinyModelRunsBatchesAndDescribesItself) {
  auto b = make_torchscript_backend(options("tiny_cnn"));
  b->warmup(2, 3);
  b->run(consecutive_requests(0, 5));
  b->run(consecutive_requests(5, 1));
  EXPECT_EQ(b->model(), "tiny_cnn");
  EXPECT_EQ(b->device(), "cpu");
  EXPECT_FALSE(b->follows_clock());
  const nlohmann::json f = b->facts();
  EXPECT_EQ(f["libtorch_version"], TORCH_VERSION);
  EXPECT_EQ(f["preprocess"], "cached");
  EXPECT_EQ(f["images"].size(), 3u);
  EXPECT_EQ(f["model_info"]["name"], "tiny_cnn");
  EXPECT_GE(f["threads"].get<int>(), 1);
  EXPECT_EQ(f["host_memory"], "cached");
  // LibTorch links a BLAS: the record names the one this process mapped, and it is a known kind.
  const std::string library = f["blas"]["library"];
  EXPECT_TRUE(std::filesystem::is_regular_file(library)) << library;
  EXPECT_NE(f["blas"]["name"], "unknown") << library;
  EXPECT_NE(f["blas"]["name"], "none loaded");
  EXPECT_TRUE(f["onednn"]["built"].is_boolean());
}

// The knobs (issue 23): each loads, runs, is described, and records how far its outputs are
// from fp32's on the shipped images.
TEST(TorchScript, EachKnobRunsAndRecordsItsAgreementWithFp32) {
  struct Case {
    const char* knobs;
    double max_relative_diff;  // of the largest logit
  };
  for (const Case& c : {Case{"precision=bf16", 0.1}, Case{"memory_format=channels_last", 1e-5}, Case{"precision=int8", 0.1},
                        Case{"precision=bf16,memory_format=channels_last", 0.1}}) {
    SCOPED_TRACE(c.knobs);
    TorchScriptOptions o = options("tiny_cnn");
    o.knobs = parse_knobs(c.knobs);
    auto b = make_torchscript_backend(o);
    b->warmup(1, 2);
    BatchOutput out;
    b->run_outputs(consecutive_requests(0, 3), out);
    EXPECT_EQ(out.width, 10u);
    const nlohmann::json f = b->facts();
    EXPECT_EQ(Knobs::from_json(f["knobs"]), o.knobs);
    const nlohmann::json& a = f["agreement"];
    ASSERT_TRUE(a.is_object()) << f.dump();
    EXPECT_EQ(a["images"], 3);
    EXPECT_GE(a["top1_agreement"].get<double>(), 0.0);
    EXPECT_LE(a["top1_agreement"].get<double>(), 1.0);
    EXPECT_EQ(a["top1_agreement"].get<double>(), a["top1_same"].get<double>() / 3);
    const double diff = a["max_abs_logit_diff"], largest = a["max_abs_logit"];
    EXPECT_GT(largest, 0.0);
    EXPECT_LE(diff, c.max_relative_diff * largest);
    if (o.knobs.precision != Precision::kFp32) {
      EXPECT_GT(diff, 0.0);  // a lower precision is not exact
    }
    if (o.knobs.precision == Precision::kInt8) {
      EXPECT_FALSE(f["quantized_engine"].get<std::string>().empty());
      EXPECT_NE(f["model_path"].get<std::string>().find("tiny_cnn.int8.pt"), std::string::npos);
    }
  }
  // fp32 has nothing to agree with.
  EXPECT_FALSE(make_torchscript_backend(options("tiny_cnn"))->facts().contains("agreement"));
}

TEST(TorchScript, AKnobTheModelOrDeviceCannotTakeIsAClearError) {
  TorchScriptOptions o = options("tiny_cnn");
  o.knobs.precision = Precision::kFp16;
  expect_user_error(o, "half precision is for CUDA devices");
  o.knobs = parse_knobs("cuda_graphs");
  expect_user_error(o, "CUDA graphs need a CUDA device");
  // int8 without the quantized export: says how to make it.
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("gb-int8-{}", getpid());
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(std::filesystem::path(GB_TEST_MODELS) / "tiny_cnn.pt", dir / "tiny_cnn.pt",
                             std::filesystem::copy_options::overwrite_existing);
  o = options("tiny_cnn");
  o.models_dir = dir.string();
  o.knobs.precision = Precision::kInt8;
  expect_user_error(o, "scripts/export_models.py --int8 tiny_cnn");
  std::filesystem::remove_all(dir);
}

TEST(TorchScript, CachedHostMemoryCannotGoBackToSystemInOneProcess) {
  TorchScriptOptions o = options("tiny_cnn");
  // (A name other than cached or system no longer reaches the backend: HostMemory is typed, and
  // the CLI and experiment files refuse other names; see Cli.BadInputIsAClearErrorAndANonZeroExit.)
  o.host_memory = HostMemory::kCached;
  make_torchscript_backend(o);
  o.host_memory = HostMemory::kSystem;
  expect_user_error(o, "separate processes");
}

TEST(TorchScript, AnyTorchScriptFileRunsByItsPath) {
  auto b = make_torchscript_backend(options(std::string(GB_TEST_MODELS) + "/tiny_cnn.pt"));
  b->run(consecutive_requests(0, 3));
  EXPECT_EQ(b->model(), "tiny_cnn");  // the file's stem
  EXPECT_EQ(b->facts()["model_path"], std::string(GB_TEST_MODELS) + "/tiny_cnn.pt");
}

TEST(TorchScript, PerRequestPreprocessingRuns) {
  auto o = options("tiny_cnn");
  o.preprocess = Preprocess::kPerRequest;
  o.threads = 1;
  auto b = make_torchscript_backend(o);
  b->run(consecutive_requests(0, 4));
  EXPECT_EQ(b->facts()["preprocess"], "per-request");
  EXPECT_EQ(b->facts()["threads"], 1);
  EXPECT_GE(b->facts()["preprocess_threads"].get<int>(), 1);  // auto: at least one worker
}

TEST(TorchScript, RequestsArePreparedAsTheyArriveAndTimedEach) {
  for (const int workers : {0, 2}) {
    auto o = options("tiny_cnn");
    o.preprocess = Preprocess::kPerRequest;
    o.preprocess_threads = workers;
    o.threads = 1;
    auto b = make_torchscript_backend(o);
    EXPECT_EQ(b->facts()["preprocess_threads"], workers);
    b->start_requests();
    const auto reqs = consecutive_requests(0, 12);
    for (const Request& r : reqs) b->arrived(r);
    b->run(std::span(reqs).first(5));
    b->run(std::span(reqs).subspan(5));
    const std::vector<TimeNs> t = b->prepare_times();
    ASSERT_EQ(t.size(), 12u) << workers << " workers";
    for (TimeNs ns : t) EXPECT_GT(ns, 0) << workers << " workers";
    b->start_requests();  // a new run forgets the last one's times
    EXPECT_TRUE(b->prepare_times().empty());
  }
  // Cached preprocessing prepares nothing per request.
  auto cached = make_torchscript_backend(options("tiny_cnn"));
  EXPECT_FALSE(cached->facts().contains("preprocess_threads"));
  EXPECT_TRUE(cached->prepare_times().empty());
}

TEST(TorchScript, PerRequestAndCachedPreprocessingGiveTheNetworkTheSameInputs) {
  // The same requests through both paths: bit-identical logits, so the per-request pipeline
  // (decode, resize, collect, normalise into the batch) feeds the network what cached does.
  std::vector<float> logits[2];
  for (const Preprocess mode : {Preprocess::kCached, Preprocess::kPerRequest}) {
    auto o = options("shufflenet_v2_x0_5");
    o.threads = 1;  // one thread: the same order of float sums in both runs
    o.preprocess = mode;
    o.preprocess_threads = 2;
    auto b = make_torchscript_backend(o);
    b->start_requests();
    const auto reqs = consecutive_requests(0, 7);
    for (const Request& r : reqs) b->arrived(r);
    BatchOutput out;
    b->run_outputs(reqs, out);
    ASSERT_EQ(out.width, 1000u);
    ASSERT_EQ(out.values.size(), 7u * 1000u);
    logits[mode == Preprocess::kPerRequest] = out.values;
  }
  EXPECT_EQ(logits[0], logits[1]);
  // Requests 0 and 3 carry the same image (input mod 3): the same row.
  EXPECT_TRUE(std::equal(logits[1].begin(), logits[1].begin() + 1000, logits[1].begin() + 3000));
  // Different images give different rows.
  EXPECT_FALSE(std::equal(logits[1].begin(), logits[1].begin() + 1000, logits[1].begin() + 1000));
}

TEST(TorchScript, AFrontEndsPayloadsGiveTheLogitsOfTheirImages) {
  // A server brings each image itself: as the crop's pixels or as the normalised tensor. Either
  // gives the logits the replay's own image gives.
  auto o = options("shufflenet_v2_x0_5");
  o.threads = 1;
  auto b = make_torchscript_backend(o);
  BatchOutput want;
  b->run_outputs(consecutive_requests(0, 6), want);  // the three shipped images, sorted, twice
  ASSERT_EQ(want.width, 1000u);
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(GB_IMAGES))
    if (e.path().extension() == ".jpg") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  ASSERT_EQ(files.size(), 3u);
  const ImagePreprocessor pre;
  std::vector<std::vector<std::uint8_t>> pixels(3, std::vector<std::uint8_t>(pre.crop_bytes()));
  std::vector<std::vector<float>> tensors(3, std::vector<float>(3 * 224 * 224));
  std::vector<Payload> payloads;
  for (std::size_t i = 0; i < 3; ++i) {
    pre.jpeg_to_crop(read_file_bytes(files[i].string()), files[i].string(), pixels[i].data());
    imagenet_normalizer()(pixels[i].data(), 224 * 224, tensors[i].data());
  }
  for (std::size_t i = 0; i < 3; ++i) payloads.push_back({Payload::Kind::kPixels, pixels[i].data(), nullptr});
  for (std::size_t i = 0; i < 3; ++i) payloads.push_back({Payload::Kind::kTensor, nullptr, tensors[i].data()});
  std::vector<Request> reqs;
  for (std::size_t i = 0; i < payloads.size(); ++i) reqs.push_back(Request{i, 0, 0, &payloads[i]});
  BatchOutput got;
  b->run_outputs(reqs, got);
  ASSERT_EQ(got.values.size(), 6u * 1000u);
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_TRUE(std::equal(got.values.begin() + i * 1000, got.values.begin() + (i + 1) * 1000,
                           want.values.begin() + i * 1000))
        << "payload " << i;
  }
}

TEST(TorchScript, BadModelsAndDevicesAreClearErrors) {
  expect_user_error(options("no_such_model"), "export_models.py no_such_model");
  expect_user_error(options("/nonexistent/model.pt"), "no such file");
  expect_user_error(options("tiny_flat"), "rejects a 1x3x224x224 input");
  auto o = options("tiny_cnn");
  o.device = "tpu";
  expect_user_error(o, "unknown device");
  o.device = "cuda";
  expect_user_error(o, "CUDA is not available");
  o.device = "cuda:x";
  expect_user_error(o, "not a whole number");
  o.device = "cpu";
  o.images_dir = "/nonexistent";
  expect_user_error(o, "no JPEG images");
}

class TorchScriptFiles : public testing::TempDirTest {};

TEST_F(TorchScriptFiles, AFileThatIsNotTorchScriptIsAClearError) {
  const std::string p = write("text.pt", "this is not a model\n");
  expect_user_error(options(p), "is not a TorchScript file");
}

TEST(TorchScript, AFailureAtABatchSizeIsThatRunsErrorNotACrash) {
  // tiny_fails_over_8 raises for batches larger than 8, as an out-of-memory would.
  auto backend = make_torchscript_backend(options("tiny_fails_over_8"));
  VirtualClock clock;
  NoMeter none("test");
  auto policy = parse_policy("fixed:4");
  RunResult ok = run_engine(generate_schedule(parse_arrivals("constant"), 1000, 12, 1), *policy, *backend, none, clock);
  EXPECT_TRUE(ok.error.empty()) << ok.error;
  EXPECT_EQ(ok.completed(), 12u);
  policy = parse_policy("fixed:16");
  RunResult bad = run_engine(generate_schedule(parse_arrivals("constant"), 1000, 40, 1), *policy, *backend, none, clock);
  EXPECT_EQ(bad.completed(), 0u);
  EXPECT_NE(bad.error.find("batch size 16"), std::string::npos) << bad.error;
}

class TorchCli : public testing::TempDirTest {
 protected:
  std::string common() const {
    return fmt::format("run --models-dir {} --images {} --out {} ", GB_TEST_MODELS, GB_IMAGES, dir_.string());
  }
};

TEST_F(TorchCli, ShuffleNetRunsEndToEndOnTheCpu) {
  const auto r = run_greenbatch(common() +
                           "--model shufflenet_v2_x0_5 --device cpu --rate 200 --requests 24 --policy fixed:8 "
                           "--warmup-batches 1 --warmup-batch-size 2 --meter modelled:idle=10W,busy=30W");
  ASSERT_EQ(r.code, 0) << r.output;
  const nlohmann::json j = nlohmann::json::parse(testing::slurp(dir_ / "runs.jsonl"));
  EXPECT_EQ(j["model"], "shufflenet_v2_x0_5");
  EXPECT_EQ(j["device"], "cpu");
  EXPECT_EQ(j["completed"], 24);
  EXPECT_EQ(j["batches"], 3);
  EXPECT_EQ(j["warmup"]["batches"], 1);
  EXPECT_EQ(j["backend"]["libtorch_version"], TORCH_VERSION);
  EXPECT_EQ(j["backend"]["model_info"]["torchvision_name"], "shufflenet_v2_x0_5");
  EXPECT_EQ(j["backend"]["preprocess"], "cached");
  // A real network takes real time: every batch's latency includes its forward pass.
  EXPECT_GT(j["latency_s"]["max"].get<double>(), 0.0);
  EXPECT_TRUE(j["error"].is_null());
}

// A sweep over knob sets: each a run of its own identity, resumed as such; a knob the model
// cannot take fails its runs only.
TEST_F(TorchCli, ASweepOverKnobsRunsEachAndResumesThem) {
  const std::string file = write("knobs.toml", fmt::format(
      "name = \"knobs\"\nmodels = [\"tiny_cnn\", \"tiny_flat\"]\nrates = [200]\npolicies = [\"fixed:2\"]\n"
      "requests = 4\nknobs = [\"fp32\", \"precision=bf16\", \"precision=int8\", \"fp32\"]\n"
      "meter = \"modelled:idle=10W,busy=30W\"\n"
      "idle_window = \"0s\"\nwarmup_batches = 1\nwarmup_batch_size = 1\nmodels_dir = \"{}\"\n"
      "images_dir = \"{}\"\nout = \"{}\"\n",
      GB_TEST_MODELS, GB_IMAGES, (dir_ / "out").string()));
  const auto r = run_greenbatch("sweep " + file);
  EXPECT_NE(r.code, 0) << r.output;  // tiny_flat rejects every image batch: its runs fail, the rest go on
  EXPECT_NE(r.output.find("knobs: 'fp32' listed twice"), std::string::npos) << r.output;
  std::map<std::string, std::string> by_knobs;
  std::istringstream records(testing::slurp(dir_ / "out" / "runs.jsonl"));
  for (std::string line; std::getline(records, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["model"] != "tiny_cnn") continue;
    const std::string k = j.contains("knobs") ? j["knobs"]["precision"].get<std::string>() : "fp32";
    by_knobs[k] = j["error"].is_null() ? "ok" : j["error"].get<std::string>();
    if (k != "fp32") {
      EXPECT_TRUE(j["backend"]["agreement"].is_object()) << line;
    }
  }
  EXPECT_EQ(by_knobs, (std::map<std::string, std::string>{{"bf16", "ok"}, {"fp32", "ok"}, {"int8", "ok"}}));
  const auto again = run_greenbatch("sweep " + file);
  EXPECT_NE(again.output.find("6 runs, 3 already done, 3 to run"), std::string::npos) << again.output;
  // recommend chooses across them and says what each knob set saves; the report tabulates them.
  const auto rec = run_greenbatch("recommend " + (dir_ / "out").string() + " --slo max=100s");
  ASSERT_EQ(rec.code, 0) << rec.output;
  EXPECT_NE(rec.output.find("knobs against fp32's best: bf16: "), std::string::npos) << rec.output;
  EXPECT_NE(rec.output.find("int8: "), std::string::npos) << rec.output;
  const auto loose = run_greenbatch("recommend " + (dir_ / "out").string() + " --slo max=100s --min-agreement 0 --json");
  ASSERT_EQ(loose.code, 0) << loose.output;
  const auto recs = nlohmann::json::parse(loose.output);
  bool tiny = false;
  for (const auto& r : recs) {
    if (r["model"] != "tiny_cnn") continue;
    tiny = true;
    EXPECT_EQ(r["knob_savings"].size(), 2u) << r.dump();
    EXPECT_TRUE(r["best"]["knobs"].is_object()) << r.dump();
  }
  EXPECT_TRUE(tiny) << loose.output;
  EXPECT_NE(run_greenbatch("recommend " + (dir_ / "out").string() + " --min-agreement 101").output.find(
                "--min-agreement 101: must be a percentage from 0 to 100"),
            std::string::npos);
  const auto html = (dir_ / "report.html").string();
  ASSERT_EQ(run_greenbatch("report " + (dir_ / "out").string() + " --out " + html).code, 0);
  const std::string page = testing::slurp(html);
  const auto knobs_at = page.find("<h2>10. Knobs</h2>");
  ASSERT_NE(knobs_at, std::string::npos);
  EXPECT_NE(page.find("<td>bf16</td>", knobs_at), std::string::npos);
  EXPECT_NE(page.find("<td>int8</td>", knobs_at), std::string::npos);
}

// Minor page faults of the children this process has waited for, so far.
long child_minor_faults() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return u.ru_minflt;
}

TEST_F(TorchCli, CachedHostMemorySparesEachBatchThePageFaultsOfItsTensors) {
  // ShuffleNet's activations at batch 16 are megabytes: with glibc's defaults each is mapped
  // anew per batch and every one of its pages faults; cached, the heap keeps them.
  std::map<std::string, long> faults;
  for (const std::string mode : {"system", "cached"}) {
    const long before = child_minor_faults();
    const auto r = run_greenbatch(fmt::format(
        "run --models-dir {} --images {} --out {} --model shufflenet_v2_x0_5 --threads 1 --rate 1000 --requests 320 "
        "--policy fixed:16 --warmup-batches 2 --warmup-batch-size 16 --meter none --idle-window 0s --host-memory {}",
        GB_TEST_MODELS, GB_IMAGES, (dir_ / mode).string(), mode));
    ASSERT_EQ(r.code, 0) << r.output;
    faults[mode] = child_minor_faults() - before;
    const nlohmann::json j = nlohmann::json::parse(testing::slurp(dir_ / mode / "runs.jsonl"));
    EXPECT_EQ(j["backend"]["host_memory"], mode);
  }
  // Measured here: about 7 times fewer over the whole process (45,000 against 319,000), loading included.
  EXPECT_LT(faults["cached"] * 4, faults["system"]) << "cached " << faults["cached"] << ", system " << faults["system"];
}

TEST_F(TorchCli, PerRequestPreprocessingIsRecordedPerRequestAndInTheRecord) {
  const std::string csv = (dir_ / "requests.csv").string();
  const auto r = run_greenbatch(common() +
                                "--model tiny_cnn --threads 1 --rate 1000 --requests 30 --policy fixed:8 "
                                "--warmup-batches 1 --warmup-batch-size 2 --meter none --preprocess per-request "
                                "--preprocess-threads 1 --requests-out " + csv);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("preprocessing per request: mean"), std::string::npos) << r.output;
  const nlohmann::json j = nlohmann::json::parse(testing::slurp(dir_ / "runs.jsonl"));
  EXPECT_EQ(j["backend"]["preprocess"], "per-request");
  EXPECT_EQ(j["backend"]["preprocess_threads"], 1);
  ASSERT_TRUE(j.contains("prepare_s")) << j.dump();
  EXPECT_GT(j["prepare_s"]["mean"].get<double>(), 0.0);
  EXPECT_GE(j["prepare_s"]["max"].get<double>(), j["prepare_s"]["p99"].get<double>());
  // Every request's row has its preparation time.
  std::istringstream rows(testing::slurp(csv));
  std::string line;
  std::getline(rows, line);
  EXPECT_EQ(line, "id,arrival_s,dispatch_s,done_s,batch_id,batch_size,prepare_s");
  int n = 0;
  while (std::getline(rows, line)) {
    ++n;
    const std::string last = line.substr(line.rfind(',') + 1);
    EXPECT_FALSE(last.empty()) << line;
    EXPECT_GT(std::stod(last), 0.0) << line;
  }
  EXPECT_EQ(n, 30);
  // A bad thread count is refused before anything runs.
  const auto bad = run_greenbatch(common() + "--model tiny_cnn --requests 4 --preprocess-threads many");
  EXPECT_EQ(bad.code, 2) << bad.output;
  EXPECT_NE(bad.output.find("--preprocess-threads"), std::string::npos) << bad.output;
}

TEST_F(TorchCli, AFailingBatchSizeIsRecordedAndExitsNonZero) {
  const auto r = run_greenbatch(common() + "--model tiny_fails_over_8 --rate 1000 --requests 32 --policy fixed:16 "
                                      "--warmup-batches 1 --warmup-batch-size 2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("batch size 16"), std::string::npos) << r.output;
  const nlohmann::json j = nlohmann::json::parse(testing::slurp(dir_ / "runs.jsonl"));
  EXPECT_NE(j["error"].get<std::string>().find("batch size 16"), std::string::npos);
}

TEST_F(TorchCli, ModelErrorsExitWithAMessage) {
  for (const auto& [args, fragment] : std::vector<std::pair<std::string, std::string>>{
           {"--model no_such_model", "export_models.py"},
           {"--model tiny_flat", "rejects a 1x3x224x224 input"},
           {"--model tiny_cnn --device cuda", "CUDA is not available"},
           {"--model tiny_cnn --device tpu", "unknown device"},
           {"--model tiny_cnn --clock virtual", "--clock virtual"},
           {"--model tiny_fails_over_8 --warmup-batches 1 --warmup-batch-size 32", "warm-up failed at batch size 32"},
       }) {
    const auto r = run_greenbatch(common() + args + " --requests 4");
    EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
    EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir_ / "runs.jsonl")) << args;
  }
}

}  // namespace
}  // namespace greenbatch
