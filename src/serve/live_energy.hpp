#pragma once
// greenbatch serve's live energy: the meter's open window read at scrape time (energy since the
// start, current power) and energy per inference, since the start and over the recent batches,
// each total and above idle. The meter knows nothing of the server; the inference loop's
// activity (busy time, items done) is what a modelled meter needs and what the figures divide by.
// The meter is never read on the inference thread: a batch only asks for a snapshot, which a
// thread of the tracker's own takes (a GPU's energy counter takes milliseconds to read).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "energy/meter.hpp"
#include "serve/inference_loop.hpp"
#include "serve/metrics.hpp"

namespace greenbatch::serve {

class LiveEnergyTracker {
 public:
  // Snapshots for the recent figure are taken after a batch, at most one per `period`; the recent
  // window spans the snapshots of the last `window` (at least two).
  static constexpr TimeNs kSnapshotPeriodNs = 100'000'000;  // 100 ms: NVML's counter updates about this often
  static constexpr TimeNs kRecentWindowNs = 10'000'000'000; // 10 s
  // A scrape asks for energy and power one after the other: a reading younger than this (steady
  // clock) answers both, so that one scrape reads the meter once and its two figures agree.
  static constexpr std::chrono::milliseconds kScrapeReuse{100};

  // `idle_w` is the idle power measured before (none: no dynamic figures); `scrape_reuse`, how
  // long a scrape's reading answers the next ones.
  LiveEnergyTracker(EnergyMeter& meter, std::optional<double> idle_w,
                    std::chrono::steady_clock::duration scrape_reuse = kScrapeReuse);
  ~LiveEnergyTracker();
  LiveEnergyTracker(const LiveEnergyTracker&) = delete;
  LiveEnergyTracker& operator=(const LiveEnergyTracker&) = delete;

  // The loop whose activity is read; set once, before the first scrape or batch.
  void attach(const InferenceLoop& loop) { loop_ = &loop; }
  // Opens the meter's window now, on the loop's clock (after attach()), and starts the snapshot
  // thread; before, the figures are 0.
  void start();
  // Takes the snapshot asked for, if one is, and ends the snapshot thread (before the meter's
  // window closes; the destructor does it too).
  void stop();

  // The scrape-time series (energy since the start, power, idle power) for
  // register_serving_metrics; they read through this tracker, which must outlive the registry's
  // use of them.
  EnergySources sources();

  // After a batch (the inference thread): at most once per snapshot period, asks the snapshot
  // thread to update greenbatch_energy_per_inference_joules. Reads only the loop's clock.
  void after_batch(GaugeFamily& per_inference);

  // Energy since the start (joules, never decreasing; the last good reading if the sensor fails).
  double joules();
  // The latest power reading (NaN before the first).
  double power_w();
  // Both read the meter unless a scrape read it within `scrape_reuse`.

 private:
  struct Snapshot {
    TimeNs t = 0;
    double joules = 0;
    std::uint64_t items = 0;
  };
  std::optional<LiveEnergy> read(InferenceLoop::Activity& activity);
  void read_for_scrape();  // read(), unless a scrape read within scrape_reuse_
  void snapshot(GaugeFamily& per_inference);  // the snapshot thread
  void run();

  EnergyMeter& meter_;
  const std::optional<double> idle_w_;
  const std::chrono::steady_clock::duration scrape_reuse_;
  const InferenceLoop* loop_ = nullptr;
  TimeNs start_ns_ = 0;  // the meter's window opened (loop time)
  std::atomic<bool> started_{false};
  std::mutex mutex_;
  double last_joules_ = 0;
  std::optional<double> last_power_w_;
  std::optional<std::chrono::steady_clock::time_point> last_scrape_read_;  // under mutex_
  std::deque<Snapshot> snapshots_;  // snapshot thread only
  std::optional<TimeNs> last_asked_ns_;  // inference thread only
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  GaugeFamily* asked_ = nullptr;  // a snapshot asked for, for this family
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace greenbatch::serve
