#pragma once
// A greenbatch serve that a sweep starts and stops (serve mode): a child process in its own
// process group (a Ctrl-C at the terminal reaches the sweep, which stops it in order), told to
// stop by the kernel if the sweep dies (PR_SET_PDEATHSIG), its output appended to a log file.
#include <sys/types.h>

#include <atomic>
#include <string>
#include <vector>

#include "core/time.hpp"

namespace greenbatch {

class ServerProcess {
 public:
  // Starts `argv` (argv[0]: the executable) with stdout and stderr appended to `log_path`.
  // Throws UserError when it cannot be started.
  ServerProcess(const std::vector<std::string>& argv, std::string log_path);
  ~ServerProcess();  // stop()
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Waits for the line "listening on http://HOST:PORT/..." in the log (written after this start)
  // and returns "http://HOST:PORT". Throws UserError (with the log's end) when the process exits
  // first, after `timeout`, or when `cancel` is set.
  std::string wait_listening(TimeNs timeout, const std::atomic<bool>& cancel);
  // True while the process runs.
  bool running();
  // SIGTERM, up to `grace` for it to finish (a server answers what it accepted and writes its
  // record), then SIGKILL. Idempotent. Returns a description of how it ended.
  std::string stop(TimeNs grace = 30 * kNsPerS);
  // The last `bytes` of what it wrote since it started.
  std::string log_tail(std::size_t bytes = 2000) const;
  pid_t pid() const { return pid_; }

 private:
  std::string log_path_;
  std::uintmax_t log_start_ = 0;  // the log's size before the start: what came before is not this run's
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// The path of the running executable (/proc/self/exe), to start greenbatch serve with.
std::string self_executable();

}  // namespace greenbatch
