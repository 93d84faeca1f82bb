#include "serve/inference_loop.hpp"

#include <algorithm>
#include <stdexcept>

namespace greenbatch::serve {

InferenceLoop::InferenceLoop(Backend& backend, BatchPolicy& policy, std::size_t max_queue, Observers observers,
                             std::function<void()> prelude, std::size_t record_limit)
    : backend_(backend), observers_(std::move(observers)), max_queue_(max_queue), origin_(std::chrono::steady_clock::now()),
      core_(policy), record_limit_(record_limit) {
  thread_ = std::thread([this, prelude = std::move(prelude)] {
    try {
      if (prelude) prelude();
      prelude_done_.set_value();
    } catch (...) {
      prelude_done_.set_exception(std::current_exception());
    }
    loop();
  });
}

void InferenceLoop::wait_prelude() { prelude_done_.get_future().get(); }

InferenceLoop::~InferenceLoop() { close(); }

TimeNs InferenceLoop::now() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - origin_).count();
}

InferenceLoop::Admit InferenceLoop::submit(std::span<const Payload* const> items, Done done) {
  if (items.empty()) throw std::invalid_argument("InferenceLoop::submit: a request has at least one item");
  {
    std::lock_guard lock(mutex_);
    if (closed_) return Admit::kClosed;
    if (items.size() > max_queue_ || core_.waiting() + items.size() > max_queue_) return Admit::kQueueFull;
    auto p = std::make_shared<Pending>();
    p->items = p->remaining = items.size();
    p->done = std::move(done);
    // Under the lock: arrival times never decrease, as the core requires.
    const TimeNs t = now();
    p->result.arrival_ns = t;
    for (std::size_t k = 0; k < items.size(); ++k) {
      const Request r{next_id_++, t, 0, items[k]};
      items_.emplace(r.id, std::make_pair(p, k));
      if (recording_) arrivals_.push_back(t);
      core_.submit(r);
    }
  }
  wake_.notify_one();
  return Admit::kAccepted;
}

void InferenceLoop::close() {
  {
    std::lock_guard lock(mutex_);
    if (!closed_) {
      closed_ = true;
      core_.close();
    }
  }
  wake_.notify_one();
  // Several threads may close (the server's stop and its owner): one joins, the others wait for it.
  std::lock_guard join(join_mutex_);
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::size_t InferenceLoop::waiting() const {
  std::lock_guard lock(mutex_);
  return core_.waiting();
}

std::vector<BatchRecord> InferenceLoop::batches() const {
  std::lock_guard lock(mutex_);
  return batches_;
}

std::vector<TimeNs> InferenceLoop::arrivals() const {
  std::lock_guard lock(mutex_);
  return arrivals_;
}

bool InferenceLoop::record_truncated() const {
  std::lock_guard lock(mutex_);
  return !recording_;
}

InferenceLoop::Activity InferenceLoop::activity() const {
  std::lock_guard lock(mutex_);
  Activity a;
  a.now = now();
  a.busy = running_since_ >= 0;
  a.busy_ns = busy_done_ns_ + (a.busy ? std::max<TimeNs>(0, a.now - running_since_) : 0);
  a.items_done = items_done_;
  a.batches = batches_done_;
  a.admitted = next_id_;
  return a;
}

void InferenceLoop::loop() {
  std::unique_lock lock(mutex_);
  try {
    run_loop(lock);
  } catch (const std::exception& e) {
    // A policy that broke its contract: nothing more can be decided. Every admitted request is
    // answered with the error, and nothing more is admitted.
    closed_ = true;
    core_.close();
    std::vector<std::shared_ptr<Pending>> failed;
    for (auto& [id, item] : items_) {
      if (std::find(failed.begin(), failed.end(), item.first) == failed.end()) failed.push_back(item.first);
    }
    items_.clear();
    lock.unlock();
    for (auto& p : failed) {
      p->result.error = std::string("the batching policy failed: ") + e.what();
      p->done(std::move(p->result));
    }
  }
}

void InferenceLoop::run_loop(std::unique_lock<std::mutex>& lock) {
  TimeNs meant = 0;  // when the loop meant to act: the last batch's end or the wake-up it slept for
  while (true) {
    const Wakeup w = core_.next_wakeup(now());
    if (w.kind == Wakeup::Kind::kDrained) return;
    if (w.kind == Wakeup::Kind::kAt) {
      wake_.wait_until(lock, origin_ + std::chrono::nanoseconds(w.at));
      meant = std::max(meant, w.at);
      continue;
    }
    if (w.kind == Wakeup::Kind::kOnSubmit) {
      wake_.wait(lock);  // a submission or close()
      meant = std::max(meant, now());
      continue;
    }
    const std::vector<Request> batch(w.batch.begin(), w.batch.end());
    BatchRecord b;
    b.start_ns = now();
    running_since_ = b.start_ns;
    lock.unlock();
    b.late_ns = std::max<TimeNs>(0, b.start_ns - meant);
    b.first_request = batch.front().id;
    b.size = static_cast<std::uint32_t>(batch.size());
    BatchOutput out;
    std::string error;
    try {
      backend_.run_outputs(batch, out);
    } catch (const std::exception& e) {
      error = e.what();
    }
    b.end_ns = now();
    meant = b.end_ns;
    std::vector<std::shared_ptr<Pending>> finished;
    std::vector<TimeNs> waits;
    lock.lock();
    core_.on_batch_done(b);
    ++batches_done_;
    if (recording_) {
      batches_.push_back(b);
      // The limit reached: keep exactly the recorded batches' items, and record no more.
      if (b.first_request + b.size >= record_limit_) {
        recording_ = false;
        arrivals_.resize(b.first_request + b.size);
        arrivals_.shrink_to_fit();
      }
    }
    running_since_ = -1;
    busy_done_ns_ += b.end_ns - b.start_ns;
    items_done_ += b.size;
    if (observers_.on_batch || observers_.after_answers) {
      for (const Request& r : batch) waits.push_back(b.start_ns - r.arrival_ns);
    }
    for (std::size_t k = 0; k < batch.size(); ++k) {
      const auto it = items_.find(batch[k].id);
      auto [p, index] = it->second;
      items_.erase(it);
      Completion& c = p->result;
      if (!error.empty()) {
        c.error = error;
      } else if (out.width > 0) {
        if (c.width == 0) {
          c.width = out.width;
          c.outputs.assign(p->items * out.width, 0.0f);
        }
        std::copy_n(out.values.begin() + static_cast<std::ptrdiff_t>(k * out.width), out.width,
                    c.outputs.begin() + static_cast<std::ptrdiff_t>(index * out.width));
      }
      if (--p->remaining == 0) {
        c.done_ns = b.end_ns;
        finished.push_back(std::move(p));
      }
    }
    lock.unlock();
    if (observers_.on_batch) observers_.on_batch(b, waits);
    for (auto& p : finished) p->done(std::move(p->result));
    if (observers_.after_answers) observers_.after_answers(b, waits);
    lock.lock();
  }
}

}  // namespace greenbatch::serve
