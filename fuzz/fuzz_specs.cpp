// The spec and unit parsers: the first byte of the input chooses the parser (mod 13), the rest
// is the text. parse_arrivals is not given "trace:" specs (fuzz_trace reads traces).
#include <string>

#include "arrivals/schedule.hpp"
#include "backends/synthetic/synthetic.hpp"
#include "batching/policy.hpp"
#include "core/choices.hpp"
#include "core/latency_target.hpp"
#include "core/units.hpp"
#include "energy/meter.hpp"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::expect_user_errors([&] {
    switch (data[0] % 13) {
      case 0: {
        const auto p = parse_policy(text);
        (void)p->spec();
        (void)p->label();
        (void)p->max_batch();
        break;
      }
      case 1:
        if (!text.starts_with("trace:")) {
          const ArrivalSpec a = parse_arrivals(text);
          (void)parse_arrivals(a.text);  // the recorded form reads again
        }
        break;
      case 2: {
        const TimeNs ns = parse_duration_ns(text, "fuzz");
        (void)duration_spec(ns);
        (void)format_duration(ns);
        break;
      }
      case 3: (void)parse_power_w(text, "fuzz"); break;
      case 4: (void)parse_double(text, "fuzz"); break;
      case 5: (void)parse_integer(text, "fuzz"); break;
      case 6: (void)parse_key_values(text, "fuzz", "a,b,base,per_item,idle,busy"); break;
      case 7: {
        const SyntheticParams p = parse_synthetic(text);
        (void)synthetic_spec(p);
        break;
      }
      case 8: check_meter_spec(text); break;
      case 9: (void)parse_latency_target(text); break;
      case 10: (void)parse_choice<ClockKind>(text, "--clock"); break;
      case 11: (void)parse_choice<Preprocess>(text, "--preprocess"); break;
      default: (void)parse_choice<SweepOrder>(text, "order"); break;
    }
  });
  return 0;
}
