// The numeric path's knobs (core/knobs.hpp): their text, parsing and refusals, and their place in
// a run's record and identity.
#include "core/knobs.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/error.hpp"
#include "support/errors.hpp"
#include "engine/execute.hpp"
#include "engine/run_record.hpp"

namespace greenbatch {
namespace {


TEST(Knobs, TheirTextIsCanonicalAndParsesBack) {
  EXPECT_EQ(Knobs{}.text(), "");
  EXPECT_EQ(Knobs{}.label(), "fp32");
  EXPECT_TRUE(parse_knobs("fp32").is_default());
  EXPECT_TRUE(parse_knobs("").is_default());
  const Knobs k = parse_knobs("power_limit=250W,memory_format=channels_last,precision=bf16");
  EXPECT_EQ(k.precision, Precision::kBf16);
  EXPECT_EQ(k.memory_format, MemoryFormat::kChannelsLast);
  EXPECT_EQ(k.power_limit_w, 250.0);
  EXPECT_EQ(k.text(), "precision=bf16,memory_format=channels_last,power_limit=250W");
  EXPECT_EQ(k.label(), "bf16 channels_last 250W");
  EXPECT_EQ(parse_knobs(k.text()), k);
  EXPECT_EQ(parse_knobs("cuda_graphs,power_limit=300").text(), "cuda_graphs,power_limit=300W");
  EXPECT_EQ(Knobs::from_json(k.to_json()), k);
  EXPECT_EQ(Knobs::from_json(nlohmann::json(nullptr)), Knobs{});
  EXPECT_EQ(Knobs::from_json(nlohmann::json::object({{"precision", "int8"}})).precision, Precision::kInt8);
}

TEST(Knobs, AWrongKnobSaysWhatIsAccepted) {
  EXPECT_NE(testing::user_error_of([] { parse_knobs("precision=fp64"); }).find("accepted: fp32, bf16, fp16, int8"), std::string::npos);
  EXPECT_NE(testing::user_error_of([] { parse_knobs("turbo"); }).find("'turbo' is not a knob; accepted:"), std::string::npos);
  EXPECT_NE(testing::user_error_of([] { parse_knobs("precision=bf16,precision=int8"); }).find("given twice"), std::string::npos);
  EXPECT_NE(testing::user_error_of([] { parse_knobs("power_limit=lots"); }).find("not a number of watts"), std::string::npos);
  EXPECT_NE(testing::user_error_of([] { parse_knobs("cuda_graphs=yes"); }).find("is not a knob"), std::string::npos);
  EXPECT_NE(testing::user_error_of([] { Knobs::from_json(nlohmann::json::object({{"cuda_graphs", "yes"}})); }).find("knobs.cuda_graphs"),
            std::string::npos);
}

TEST(Knobs, TheDeviceRefusesWhatItCannotTake) {
  const auto refused = [](const char* knobs, const char* device) {
    return testing::user_error_of([&] { check_knobs(parse_knobs(knobs), device); });
  };
  EXPECT_NE(refused("precision=fp16", "cpu").find("accepted on the CPU: fp32, bf16, int8"), std::string::npos);
  EXPECT_NE(refused("cuda_graphs", "cpu").find("CUDA graphs need a CUDA device"), std::string::npos);
  EXPECT_NE(refused("power_limit=200W", "cpu").find("needs --device cuda"), std::string::npos);
  EXPECT_NE(refused("precision=int8", "cuda:1").find("accepted on CUDA: fp32, bf16, fp16"), std::string::npos);
  EXPECT_NE(refused("precision=bf16", "synthetic").find("synthetic model has no numeric path"), std::string::npos);
  EXPECT_NE(refused("power_limit=0.5W", "cuda").find("from 1 to 10000 W"), std::string::npos);
  for (const char* ok : {"precision=fp16,cuda_graphs,power_limit=300W", "precision=bf16,memory_format=channels_last"}) {
    EXPECT_EQ(refused(ok, "cuda:0"), "") << ok;
  }
  EXPECT_EQ(refused("precision=int8,memory_format=channels_last", "cpu"), "");
  EXPECT_EQ(refused("power_limit=300W", "synthetic"), "");
  // A run's spec is checked the same way before anything loads.
  RunSpec s;
  s.model = "synthetic:base=1ms";
  s.knobs.cuda_graphs = true;
  EXPECT_NE(testing::user_error_of([&] { PreparedRun run(s); }).find("no numeric path"), std::string::npos);
}

TEST(Knobs, JoinARunsIdentityOnlyWhenNotTheDefaults) {
  RunSpec s;
  s.model = "synthetic:base=1ms";
  const RunRecord plain = record_header(s);
  EXPECT_EQ(plain.identity(), plain.identity_without_knobs());
  EXPECT_FALSE(plain.to_json().contains("knobs"));  // a default run's record reads as before
  s.knobs = parse_knobs("power_limit=300W");
  const RunRecord limited = record_header(s);
  EXPECT_NE(limited.identity(), plain.identity());
  EXPECT_EQ(limited.identity_without_knobs(), plain.identity_without_knobs());
  EXPECT_EQ(limited.identity(), plain.identity() + "|power_limit=300W");
  // The record carries them, and reads back with the same identity.
  const nlohmann::json j = limited.to_json();
  ASSERT_TRUE(j.contains("knobs"));
  EXPECT_EQ(j["knobs"]["power_limit_w"], 300.0);
  EXPECT_EQ(j["knobs"]["precision"], "fp32");
  const RunRecord back = RunRecord::from_json(j);
  EXPECT_EQ(back.knobs, limited.knobs);
  EXPECT_EQ(back.identity(), limited.identity());
}

// A profile keeps its knobs in its backend facts; a synthetic model's backend has no knobs of its
// own, only the power limit's facts: tune across knobs and the simulator read the limit from
// those (two power-limited profiles of one model were taken for one knob set).
TEST(Knobs, ABackendsFactsGiveItsKnobsAndThePowerLimitSet) {
  EXPECT_TRUE(Knobs::from_backend(nlohmann::json::object()).is_default());
  EXPECT_TRUE(Knobs::from_backend(nlohmann::json()).is_default());
  const nlohmann::json synthetic = {{"power_limit", {{"requested_w", 250.0}, {"previous_w", 700.0}}}};
  EXPECT_EQ(Knobs::from_backend(synthetic), parse_knobs("power_limit=250W"));
  nlohmann::json torch = {{"knobs", parse_knobs("precision=bf16").to_json()}};
  EXPECT_EQ(Knobs::from_backend(torch), parse_knobs("precision=bf16"));
  torch["power_limit"] = {{"requested_w", 300.0}};
  EXPECT_EQ(Knobs::from_backend(torch), parse_knobs("precision=bf16,power_limit=300W"));
  // The knobs' own limit, where they have one, is the one set.
  torch["knobs"] = parse_knobs("precision=bf16,power_limit=300W").to_json();
  torch["power_limit"] = {{"requested_w", 999.0}};
  EXPECT_EQ(Knobs::from_backend(torch), parse_knobs("precision=bf16,power_limit=300W"));
  EXPECT_THROW(Knobs::from_backend({{"knobs", {{"precision", "fp8"}}}}), UserError);
}

}  // namespace
}  // namespace greenbatch
