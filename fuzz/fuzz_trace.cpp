// The trace reader (arrivals/trace.cpp): one time in seconds per line, or a CSV with a
// 'timestamp' column. The times it returns must start at 0 and never decrease.
#include <cstdio>
#include <cstdlib>

#include "arrivals/schedule.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  const std::string path = fuzz::write_temp("trace.csv", fuzz::as_text(data, size));
  fuzz::expect_user_errors([&] {
    const std::vector<TimeNs> times = read_trace(path);
    if (times.empty() || times.front() != 0) {
      std::fprintf(stderr, "fuzz finding: a trace read without error does not start at 0\n");
      std::abort();
    }
    for (std::size_t i = 1; i < times.size(); ++i) {
      if (times[i] < times[i - 1]) {
        std::fprintf(stderr, "fuzz finding: trace times decrease at %zu (%lld after %lld)\n", i,
                     static_cast<long long>(times[i]), static_cast<long long>(times[i - 1]));
        std::abort();
      }
    }
    // The schedule of the whole trace, as a run takes it.
    ArrivalSpec spec;
    spec.kind = ArrivalSpec::Kind::kTrace;
    spec.trace_path = path;
    spec.text = "trace:" + path;
    generate_schedule(spec, 1.0, 0, 1);
  });
  return 0;
}
