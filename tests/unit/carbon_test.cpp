// Carbon intensity: a figure or a grid operator's time series, averaged over a run's window, and
// the grams a record carries.
#include "core/carbon.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "engine/run_record.hpp"
#include "support/errors.hpp"

namespace greenbatch {
namespace {

std::string series_file(const std::string& name, const std::string& body) {
  const auto p = std::filesystem::temp_directory_path() / ("greenbatch_carbon_" + std::to_string(::getpid()) + name);
  std::ofstream(p) << body;
  return p.string();
}

TEST(Carbon, TimesInIsoUtcWithOffsetsOrUnixSeconds) {
  EXPECT_DOUBLE_EQ(*parse_utc_time("2026-12-01T10:00:00Z"), 1796119200);
  EXPECT_DOUBLE_EQ(*parse_utc_time("2026-12-01 10:00:00"), 1796119200);
  EXPECT_DOUBLE_EQ(*parse_utc_time("2026-12-01T10:00"), 1796119200);
  EXPECT_DOUBLE_EQ(*parse_utc_time("2026-12-01T11:00:00+01:00"), 1796119200);
  EXPECT_DOUBLE_EQ(*parse_utc_time("2026-12-01T10:00:30.5Z"), 1796119230.5);
  EXPECT_DOUBLE_EQ(*parse_utc_time("1796119200"), 1796119200);
  for (const char* bad : {"", "yesterday", "2026-13-01T10:00Z", "2026-12-01T10:00:00 UTC", "2026-12-01"}) {
    EXPECT_FALSE(parse_utc_time(bad).has_value()) << bad;
  }
}

TEST(Carbon, AFigureOrASeriesAveragedOverTheWindow) {
  const CarbonIntensity fixed = parse_carbon_intensity("350");
  EXPECT_DOUBLE_EQ(*mean_intensity(fixed, 0, 10, nullptr), 350);
  EXPECT_EQ(fixed.source, "350 gCO2e/kWh");
  // Half-hourly steps: 200 from 10:00, 400 from 10:30, 300 from 11:00 (holding until 11:30).
  const std::string path = series_file("a.csv",
                                       "datetime,carbon_intensity,zone\n"
                                       "2026-12-01T10:00:00Z,200,GB\n"
                                       "2026-12-01T10:30:00Z,400,GB\n"
                                       "2026-12-01T11:00:00Z,300,GB\n");
  const CarbonIntensity s = parse_carbon_intensity(path);
  ASSERT_EQ(s.series.size(), 3u);
  const double t10 = 1796119200;
  EXPECT_DOUBLE_EQ(*mean_intensity(s, t10 + 60, t10 + 120, nullptr), 200);           // inside one step
  EXPECT_DOUBLE_EQ(*mean_intensity(s, t10 + 1500, t10 + 2100, nullptr), 300);        // 5 min at 200, 5 at 400
  EXPECT_DOUBLE_EQ(*mean_intensity(s, t10 + 3600, t10 + 5400, nullptr), 300);        // the last step, to its end
  std::string why;
  EXPECT_FALSE(mean_intensity(s, t10 - 60, t10 + 60, &why).has_value());              // before the series
  EXPECT_NE(why.find("not the run's window"), std::string::npos) << why;
  EXPECT_FALSE(mean_intensity(s, t10 + 5000, t10 + 5500, &why).has_value());          // after its last step
  std::filesystem::remove(path);
}

TEST(Carbon, BadIntensitiesAreClearErrors) {
  EXPECT_NE(testing::user_error_of([] { parse_carbon_intensity("-3"); }).find("from 0 to 5000"), std::string::npos);
  EXPECT_NE(testing::user_error_of([] { parse_carbon_intensity("no-such-file.csv"); }).find("neither a number"),
            std::string::npos);
  const std::string unordered = series_file("b.csv", "2026-12-01T10:30:00Z,1\n2026-12-01T10:00:00Z,2\n");
  EXPECT_NE(testing::user_error_of([&] { parse_carbon_intensity(unordered); }).find("line 2: times must increase"),
            std::string::npos);
  const std::string garbage = series_file("c.csv", "time,intensity\n2026-12-01T10:00:00Z,lots\n");
  EXPECT_NE(testing::user_error_of([&] { parse_carbon_intensity(garbage); }).find("line 2"), std::string::npos);
  const std::string empty = series_file("d.csv", "time,intensity\n");
  EXPECT_NE(testing::user_error_of([&] { parse_carbon_intensity(empty); }).find("no time,intensity rows"),
            std::string::npos);
  for (const auto& p : {unordered, garbage, empty}) std::filesystem::remove(p);
}

TEST(Carbon, TheRecordCarriesGramsAndGramsPerImage) {
  RunRecord rec;
  Energy e;
  e.measured = true;
  e.joules = 7200;  // 2 Wh
  e.per_image_j = 72;
  e.window_s = 60;
  rec.energy = e;
  apply_carbon(rec, parse_carbon_intensity("450"), 1796119200);
  ASSERT_TRUE(rec.carbon.has_value());
  EXPECT_DOUBLE_EQ(rec.carbon->grams, 0.9);  // 0.002 kWh x 450 g
  EXPECT_DOUBLE_EQ(*rec.carbon->grams_per_image, 0.009);
  EXPECT_FALSE(rec.carbon->estimated);
  const RunRecord back = RunRecord::from_json(rec.to_json());
  ASSERT_TRUE(back.carbon.has_value());
  EXPECT_DOUBLE_EQ(back.carbon->grams, 0.9);
  EXPECT_EQ(back.carbon->source, "450 gCO2e/kWh");
  // Estimated energy gives estimated carbon; no energy, no carbon (and no key in the record).
  rec.energy->measured = false;
  rec.energy->estimated = true;
  apply_carbon(rec, parse_carbon_intensity("450"), 1796119200);
  EXPECT_TRUE(rec.carbon->estimated);
  rec.energy = Energy{};
  apply_carbon(rec, parse_carbon_intensity("450"), 1796119200);
  EXPECT_FALSE(rec.carbon.has_value());
  EXPECT_FALSE(rec.to_json().contains("carbon"));
  // A series that misses the window: no figure, and a warning saying why.
  const std::string path = series_file("e.csv", "2020-01-01T00:00:00Z,100\n2020-01-01T01:00:00Z,100\n");
  rec.energy = e;
  apply_carbon(rec, parse_carbon_intensity(path), 1796119200);
  EXPECT_FALSE(rec.carbon.has_value());
  ASSERT_FALSE(rec.energy->warnings.empty());
  EXPECT_NE(rec.energy->warnings.back().find("no carbon figure"), std::string::npos);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace greenbatch
