// Issue 18: every numeric input within a bound, refused with the bound in the message; parsers
// of untrusted text quote it short; nothing wraps, overflows or hangs.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "engine/execute.hpp"
#include "io/experiment.hpp"
#include "support/temp_dir.hpp"

namespace greenbatch {
namespace {

// The message of the UserError `f` throws ("" when it throws none).
template <typename F>
std::string error_of(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_REFUSED(expr, fragment)                                              \
  do {                                                                              \
    const std::string msg_ = error_of([&] { (void)(expr); });                       \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << #expr << ": " << msg_;     \
    EXPECT_LT(msg_.size(), 400u) << msg_; /* no 309-digit bound, no echoed input */ \
  } while (0)

TEST(Bounds, ZeroNeedsNoUnit) {
  EXPECT_EQ(parse_duration_ns("0", "x"), 0);
  EXPECT_EQ(parse_duration_ns("0.0", "x"), 0);
  EXPECT_REFUSED(parse_duration_ns("5", "--d"), "no unit");
}

TEST(Bounds, DurationsPast100YearsAreRefused) {
  EXPECT_EQ(parse_duration_ns("3155760000s", "x"), limits::kMaxTimeNs);
  EXPECT_REFUSED(parse_duration_ns("3155760001s", "--d"), "100 years");
  EXPECT_REFUSED(parse_duration_ns("1e300s", "--d"), "100 years");
}

TEST(Bounds, WholeNumbersNeverWrap) {
  EXPECT_EQ(parse_whole("7", "x", 1, 10), 7u);
  EXPECT_REFUSED(parse_whole("-1", "--n", 0, 10), "from 0 to 10");
  EXPECT_REFUSED(parse_whole("", "--n", 0, 10), "from 0 to 10");
  EXPECT_REFUSED(parse_whole("+1", "--n", 0, 10), "from 0 to 10");
  EXPECT_REFUSED(parse_whole(" 1", "--n", 0, 10), "from 0 to 10");
  EXPECT_REFUSED(parse_whole("11", "--n", 0, 10), "largest accepted, 10");
  EXPECT_REFUSED(parse_whole("0", "--n", 1, 10), "least accepted, 1");
  EXPECT_REFUSED(parse_whole("99999999999999999999999", "--n", 0, 10), "largest accepted, 10");
}

TEST(Bounds, SeedsRefuseNegativeEmptyAndOutOfRange) {
  EXPECT_EQ(parse_seed("0", "--seed"), 0u);
  EXPECT_EQ(parse_seed("18446744073709551615", "--seed"), 18446744073709551615ULL);
  EXPECT_REFUSED(parse_seed("-1", "--seed"), "--seed");
  EXPECT_REFUSED(parse_seed("", "--seed"), "--seed");
  EXPECT_REFUSED(parse_seed("99999999999999999999999", "--seed"), "18446744073709551615");
  EXPECT_REFUSED(parse_seed("18446744073709551616", "--seed"), "18446744073709551615");
}

TEST(Bounds, RatesSayTheirBoundReadably) {
  EXPECT_EQ(parse_rate_hz("64", "--rate"), 64);
  EXPECT_EQ(check_rate_hz(1e-6, "--rate"), 1e-6);
  EXPECT_REFUSED(parse_rate_hz("1e-9", "--rate"), "1e-06");
  EXPECT_REFUSED(parse_rate_hz("0", "--rate"), "1e-06");
  EXPECT_REFUSED(parse_rate_hz("-5", "--rate"), "1e-06");
  EXPECT_REFUSED(parse_rate_hz("1e-300", "--rate"), "1e-06");
  EXPECT_REFUSED(parse_rate_hz("1e10", "--rate"), "1e+09");
  EXPECT_REFUSED(parse_rate_hz("inf", "--rate"), "--rate");
  EXPECT_REFUSED(check_rate_hz(std::numeric_limits<double>::quiet_NaN(), "--rate"), "--rate");
}

TEST(Bounds, RequestsAtMostOneHundredMillion) {
  EXPECT_EQ(check_requests(limits::kMaxRequests, "--requests"), limits::kMaxRequests);
  EXPECT_REFUSED(check_requests(1099511627776ULL, "--requests"), "100000000");
  EXPECT_REFUSED(check_requests(0, "--requests"), "from 1");
}

TEST(Bounds, PowersAtMostOneMegawatt) {
  EXPECT_EQ(parse_power_w("1000kW", "x"), 1e6);
  EXPECT_REFUSED(parse_power_w("1e308W", "--meter"), "1 MW");
}

TEST(Bounds, QuotedTextIsShortAndEscaped) {
  EXPECT_EQ(quote_text("abc"), "'abc'");
  EXPECT_EQ(quote_text(std::string("a\0b\xff'", 4)), "'a\\x00b\\xff'");
  const std::string q = quote_text(std::string(5'000'000, 'x'));
  EXPECT_LT(q.size(), 100u);
  EXPECT_NE(q.find("(5000000 bytes)"), std::string::npos) << q;
}

// `run M --rate 1e-9 --requests 50` recorded a negative p50: its arrivals overflowed int64 ns.
TEST(Bounds, ArrivalsPast100YearsAreRefusedNotWrapped) {
  const auto constant = parse_arrivals("constant");
  // 50 requests at the lowest rate: 49 million seconds, about 1.6 years; fine and exact.
  const auto t = generate_schedule(constant, 1e-6, 50, 1);
  EXPECT_NEAR(static_cast<double>(t.back()), 4.9e16, 1e3);  // 1e-6 is not exact in binary
  EXPECT_REFUSED(generate_schedule(constant, 1e-9, 50, 1), "1e-06");
  EXPECT_REFUSED(generate_schedule(constant, 1e-6, 10'000, 1), "100 years");
  EXPECT_REFUSED(generate_schedule(parse_arrivals("poisson"), 1e-6, 10'000, 1), "100 years");
  EXPECT_REFUSED(generate_schedule(parse_arrivals("jitter:0.2"), 1e-6, 10'000, 1), "100 years");
  EXPECT_REFUSED(generate_schedule(parse_arrivals("bursty:on=100000s"), 1e-6, 10'000, 1), "100 years");
}

TEST(Bounds, ACountThatWouldNotFitIsRefusedBeforeAllocating) {
  EXPECT_REFUSED(generate_schedule(parse_arrivals("constant"), 64, 1ULL << 40, 1), "100000000");
}

// bursty:on=1ns drew about four million on periods per request at 64/s (14 s for 50).
TEST(Bounds, ABurstyOnPeriodFarShorterThanTheGapIsRefused) {
  EXPECT_REFUSED(generate_schedule(parse_arrivals("bursty:on=1ns"), 64, 50, 1), "at least 3907ns");
  EXPECT_REFUSED(check_schedule(parse_arrivals("bursty"), 1e-300, 50), "1e-06");
  // At the bound the work per request stays about a thousand draws: 2,000 requests are instant.
  const auto t0 = std::chrono::steady_clock::now();
  const auto t = generate_schedule(parse_arrivals("bursty:on=3907ns"), 64, 2000, 1);
  EXPECT_EQ(t.size(), 2000u);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 2.0);
}

TEST(Bounds, ASyntheticServiceThatCouldOverflowTheClockIsRefused) {
  EXPECT_NO_THROW(check_synthetic_run(parse_synthetic("synthetic:base=1ms,per_item=100us"), 100'000'000));
  EXPECT_REFUSED(check_synthetic_run(parse_synthetic("synthetic:base=100000000s"), 100), "100 years");
  EXPECT_REFUSED(parse_synthetic("synthetic:max_batch=99999999999999999999"), "max_batch");
  // The stall counts once, with its start: each within 100 years, together past it.
  EXPECT_NO_THROW(check_synthetic_run(parse_synthetic("synthetic:base=1ms,stall=1s@2s"), 100'000'000));
  EXPECT_REFUSED(parse_synthetic("synthetic:stall=3155760001s@0s"), "100 years");
  EXPECT_REFUSED(check_synthetic_run(parse_synthetic("synthetic:stall=3155760000s@1s"), 1), "100 years");
  EXPECT_REFUSED(check_synthetic_run(parse_synthetic("synthetic:base=1s,stall=3155759999s@0s"), 2), "100 years");
}

TEST(Bounds, PreparedRunChecksEveryNumber) {
  RunSpec s;
  s.model = "synthetic:base=1ms,per_item=100us";
  s.clock = ClockKind::kVirtual;
  s.meter = "none";
  s.requests_given = true;
  s.requests = 1ULL << 40;
  EXPECT_REFUSED(PreparedRun{s}, "100000000");
  s.requests = 50;
  s.rate_hz = 1e-9;
  EXPECT_REFUSED(PreparedRun{s}, "1e-06");
  s.rate_hz = 64;
  s.warmup_batches = 1ULL << 40;
  EXPECT_REFUSED(PreparedRun{s}, "--warmup-batches");
  s.warmup_batches = 0;
  s.threads = -1;
  EXPECT_REFUSED(PreparedRun{s}, "--threads");
  s.threads = 0;
  EXPECT_NO_THROW(PreparedRun{s});
}

TEST(Bounds, ShardsNeverWrap) {
  EXPECT_EQ(parse_shard("2/8"), std::make_pair(2, 8));
  EXPECT_REFUSED(parse_shard("1/4294967297"), "1000000");
  EXPECT_REFUSED(parse_shard("4294967298/4294967297"), "1000000");
  EXPECT_REFUSED(parse_shard("-1/4"), "expected I/N");
  EXPECT_REFUSED(parse_shard("0/4"), "least accepted, 1");
  EXPECT_REFUSED(parse_shard("3/2"), "1 <= I <= N");
}

class TraceBounds : public testing::TempDirTest {};

// A line `0,5` in a trace without a header read as 0.
TEST_F(TraceBounds, ExtraFieldsInAPlainTraceAreRefused) {
  const std::string p = write("t.txt", "0\n0,5\n1\n");
  EXPECT_REFUSED(read_trace(p), p + ":2:");
  EXPECT_REFUSED(read_trace(p), "2 fields");
  // With a header, other columns are fine.
  EXPECT_EQ(read_trace(write("c.csv", "id,timestamp\n1,0\n2,0.5\n")).size(), 2u);
}

TEST_F(TraceBounds, BinaryAndHugeLinesAreQuotedShort) {
  const std::string bin = write("b.bin", std::string("\x7f" "ELF\x02\x01\x01\0\0\0\xff\xfe", 13) + "\n0\n");
  const std::string msg = error_of([&] { read_trace(bin); });
  ASSERT_FALSE(msg.empty());
  EXPECT_EQ(msg.find('\0'), std::string::npos);
  EXPECT_NE(msg.find("\\x7fELF\\x02"), std::string::npos) << msg;
  const std::string huge = write("h.txt", std::string(5'000'000, 'x') + "\n");
  EXPECT_REFUSED(read_trace(huge), "(5000000 bytes)");
  const std::string cell = write("c.txt", "0\n" + std::string(1'000'000, '9') + "z\n");
  EXPECT_REFUSED(read_trace(cell), "bytes)");
}

TEST_F(TraceBounds, AByteOrderMarkIsAccepted) {
  EXPECT_EQ(read_trace(write("a.csv", "\xEF\xBB\xBFtimestamp\n0\n0.5\n")), (std::vector<TimeNs>{0, 500'000'000}));
  EXPECT_EQ(read_trace(write("b.txt", "\xEF\xBB\xBF" "1\n1.5\n")), (std::vector<TimeNs>{0, 500'000'000}));
}

TEST_F(TraceBounds, AFolderSaysItIsAFolder) {
  std::filesystem::create_directories(dir_ / "d");
  EXPECT_REFUSED(read_trace((dir_ / "d").string()), "is a folder");
}

// A trace `0` / `1e10` overflowed as the rate did.
TEST_F(TraceBounds, TimesPast100YearsAreRefused) {
  const std::string p = write("t.txt", "0\n1e10\n");
  EXPECT_REFUSED(read_trace(p), p + ":2:");
  EXPECT_REFUSED(read_trace(p), "100 years");
}

}  // namespace
}  // namespace greenbatch
