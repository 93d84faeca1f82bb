// Profile files (sim/profile.cpp load_profile and Profile::from_json), and what the simulator
// asks of a profile it loaded: service times, draws from its distributions, dynamic power.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "fuzz_common.hpp"
#include "sim/profile.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace greenbatch;
  const std::string path = fuzz::write_temp("profile.json", fuzz::as_text(data, size));
  fuzz::expect_user_errors([&] {
    const LoadedProfile loaded = load_profile(path);
    const Profile& p = loaded.profile;
    for (const std::size_t batch : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64}, std::size_t{1000}}) {
      (void)p.service_s(batch);
      (void)p.dynamic_power_w(batch);
      for (const double idle : {0.0, 0.002, 0.5, 30.0}) {
        for (const double u : {0.0, 0.37, 0.999}) {
          const double s = p.draw_service_s(batch, idle, u, 0.3);
          if (!std::isfinite(s) || s < 0) {
            std::fprintf(stderr, "fuzz finding: a loaded profile draws service time %g\n", s);
            std::abort();
          }
        }
      }
    }
    (void)Profile::from_json(p.to_json(), path);
  });
  return 0;
}
