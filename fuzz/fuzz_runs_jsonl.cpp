// The runs.jsonl reader (io/records.cpp read_runs through RunRecord::from_json), and what its
// readers do with each record: identity, the JSON written back, the report's view.
#include "engine/run_record.hpp"
#include "fuzz_common.hpp"
#include "io/records.hpp"
#include "report/runs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  const std::string path = fuzz::write_temp("runs.jsonl", fuzz::as_text(data, size));
  fuzz::expect_user_errors([&] {
    std::size_t skipped = 0;
    for (const RunRecord& r : read_runs(path, &skipped)) {
      (void)r.identity();
      (void)r.complete();
      // Written back, a record reads again as the same record.
      const RunRecord again = RunRecord::from_json(r.to_json());
      (void)again.identity();
      (void)report::run_from_record(r, path);
    }
    for (const auto& j : read_jsonl(path)) (void)is_complete(j);
  });
  return 0;
}
