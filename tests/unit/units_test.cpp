#include "core/units.hpp"

#include <gtest/gtest.h>

#include "core/error.hpp"

namespace greenbatch {
namespace {

TEST(Units, DurationsInEveryUnit) {
  EXPECT_EQ(parse_duration_ns("500ns", "x"), 500);
  EXPECT_EQ(parse_duration_ns("100us", "x"), 100'000);
  EXPECT_EQ(parse_duration_ns("2ms", "x"), 2'000'000);
  EXPECT_EQ(parse_duration_ns("2.5ms", "x"), 2'500'000);
  EXPECT_EQ(parse_duration_ns("1.5s", "x"), 1'500'000'000);
  EXPECT_EQ(parse_duration_ns("0s", "x"), 0);
  // Minutes and hours, for loads that change over a day.
  EXPECT_EQ(parse_duration_ns("5min", "x"), 300 * kNsPerS);
  EXPECT_EQ(parse_duration_ns("10m", "x"), 600 * kNsPerS);
  EXPECT_EQ(parse_duration_ns("1.5h", "x"), 5400 * kNsPerS);
}

TEST(Units, DurationErrorsSayWhatIsAccepted) {
  for (const char* bad : {"50", "50 ms", "ms", "-1ms", "5mins", "5hr", "nanms", ""}) {
    try {
      parse_duration_ns(bad, "--thing");
      FAIL() << bad << " was accepted";
    } catch (const UserError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("--thing"), std::string::npos) << msg;
    }
  }
  try {
    parse_duration_ns("50", "D");
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("no unit"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("ms"), std::string::npos);
  }
}

TEST(Units, Powers) {
  EXPECT_DOUBLE_EQ(parse_power_w("150W", "x"), 150);
  EXPECT_DOUBLE_EQ(parse_power_w("150", "x"), 150);
  EXPECT_DOUBLE_EQ(parse_power_w("1.5kW", "x"), 1500);
  EXPECT_DOUBLE_EQ(parse_power_w("250mW", "x"), 0.25);
  EXPECT_THROW(parse_power_w("150V", "x"), UserError);
  EXPECT_THROW(parse_power_w("-3W", "x"), UserError);
}

TEST(Units, KeyValues) {
  const auto kv = parse_key_values("base=2ms,per_item=100us", "m", "base,per_item");
  ASSERT_EQ(kv.size(), 2u);
  EXPECT_EQ(kv.at("base"), "2ms");
  EXPECT_EQ(kv.at("per_item"), "100us");
  EXPECT_TRUE(parse_key_values("", "m", "base").empty());
  EXPECT_THROW(parse_key_values("bse=2ms", "m", "base,per_item"), UserError);
  EXPECT_THROW(parse_key_values("base=2ms,base=3ms", "m", "base"), UserError);
  EXPECT_THROW(parse_key_values("base", "m", "base"), UserError);
  EXPECT_THROW(parse_key_values("base=", "m", "base"), UserError);
}

TEST(Units, ExactSecondsAndSpecs) {
  EXPECT_EQ(format_seconds_exact(15'625'000), "0.015625000");
  EXPECT_EQ(format_seconds_exact(7'989'375'000), "7.989375000");
  EXPECT_EQ(format_seconds_exact(-1), "-0.000000001");
  EXPECT_EQ(duration_spec(50'000'000), "50ms");
  EXPECT_EQ(duration_spec(100'000), "100us");
  EXPECT_EQ(duration_spec(2'000'000'000), "2s");
  EXPECT_EQ(duration_spec(1'500), "1500ns");
  EXPECT_EQ(split_spec("timeout:32:50ms"), std::make_pair(std::string("timeout"), std::string("32:50ms")));
  EXPECT_EQ(split_spec("poisson"), std::make_pair(std::string("poisson"), std::string()));
}

}  // namespace
}  // namespace greenbatch
