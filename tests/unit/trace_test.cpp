#include <gtest/gtest.h>

#include "arrivals/schedule.hpp"
#include "core/error.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

class TraceTest : public testing::TempDirTest {
 protected:
  // Expects read_trace to fail with a message naming the file and the line.
  void expect_error(const std::string& body, const std::string& line, const std::string& fragment) {
    const std::string p = write("t.txt", body);
    try {
      read_trace(p);
      FAIL() << "accepted: " << body;
    } catch (const UserError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p + line), std::string::npos) << msg;
      EXPECT_NE(msg.find(fragment), std::string::npos) << msg;
    }
  }
};

TEST_F(TraceTest, OneTimePerLineRelativeToTheFirst) {
  const auto t = read_trace(write("a.txt", "10.5\n10.75\n\n11\n12.000000001\n"));
  EXPECT_EQ(t, (std::vector<TimeNs>{0, 250'000'000, 500'000'000, 1'500'000'001}));
}

TEST_F(TraceTest, CsvWithATimestampColumn) {
  const auto t = read_trace(write("a.csv", "id,Timestamp,size\r\n1,0.0,3\r\n2,0.5,3\r\n3,0.5,4\r\n"));
  EXPECT_EQ(t, (std::vector<TimeNs>{0, 500'000'000, 500'000'000}));
}

TEST_F(TraceTest, BadTracesNameTheFileAndLine) {
  expect_error("0.1\n0.3\n0.2\n", ":3", "sorted");
  expect_error("0.1\n-0.3\n", ":2", "negative");
  expect_error("0.1\nabc\n", ":2", "not a time");
  expect_error("0.1\nnan\n", ":2", "not a time");
  expect_error("0.1\ninf\n", ":2", "not a time");
  expect_error("when,who\n1,2\n", ":1", "timestamp");
  expect_error("x,timestamp\n1,2\n3\n", ":3", "columns");
  expect_error("1,2\n", ":1", "header");
}

TEST_F(TraceTest, EmptyAndMissingFiles) {
  for (const char* body : {"", "\n\n", "timestamp\n"}) {
    const std::string p = write("e.txt", body);
    try {
      read_trace(p);
      FAIL() << "accepted an empty trace";
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos);
      EXPECT_NE(std::string(e.what()).find("no arrival"), std::string::npos);
    }
  }
  EXPECT_THROW(read_trace((dir_ / "missing.txt").string()), UserError);
}

TEST_F(TraceTest, ScheduleTakesTheFirstNOrRefusesMore) {
  const std::string p = write("a.txt", "0\n1\n2\n3\n");
  const ArrivalSpec spec = parse_arrivals("trace:" + p);
  EXPECT_EQ(generate_schedule(spec, 1, 2, 0), (std::vector<TimeNs>{0, kNsPerS}));
  EXPECT_EQ(generate_schedule(spec, 1, 0, 0).size(), 4u);  // 0: the whole trace
  EXPECT_THROW(generate_schedule(spec, 1, 5, 0), UserError);
}

}  // namespace
}  // namespace greenbatch
