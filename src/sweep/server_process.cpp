#include "sweep/server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "core/error.hpp"

namespace greenbatch {

namespace {

constexpr auto kPoll = std::chrono::milliseconds(20);

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "ended";
}

}  // namespace

std::string self_executable() {
  std::error_code ec;
  const auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw UserError(fmt::format("cannot find greenbatch's own executable (/proc/self/exe): {}", ec.message()));
  return p.string();
}

ServerProcess::ServerProcess(const std::vector<std::string>& argv, std::string log_path) : log_path_(std::move(log_path)) {
  if (argv.empty()) throw UserError("ServerProcess: no command");
  const int log = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) throw UserError(fmt::format("cannot open {}: {}", log_path_, std::strerror(errno)));
  struct stat st {};
  if (::fstat(log, &st) == 0) log_start_ = static_cast<std::uintmax_t>(st.st_size);
  const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // The child: only async-signal-safe calls until exec.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the sweep died before the line above
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    ::dup2(log, STDOUT_FILENO);
    ::dup2(log, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const int fork_errno = errno;
  ::close(log);
  if (null >= 0) ::close(null);
  if (pid < 0) throw UserError(fmt::format("cannot start {}: {}", argv[0], std::strerror(fork_errno)));
  pid_ = pid;
}

ServerProcess::~ServerProcess() { stop(); }

bool ServerProcess::running() {
  if (reaped_) return false;
  const pid_t r = ::waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

std::string ServerProcess::log_tail(std::size_t bytes) const {
  std::ifstream in(log_path_, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  text = text.substr(std::min<std::size_t>(text.size(), static_cast<std::size_t>(log_start_)));
  if (text.size() > bytes) text = "..." + text.substr(text.size() - bytes);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

std::string ServerProcess::wait_listening(TimeNs timeout, const std::atomic<bool>& cancel) {
  static const std::regex kListening(R"(listening on (http://[A-Za-z0-9.\-]+:[0-9]+)/)");
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(timeout);
  while (true) {
    // Read the log before checking the process: a server that printed and then failed is seen failing.
    const std::string text = log_tail(1 << 20);
    std::smatch m;
    const bool alive = running();
    if (std::regex_search(text, m, kListening) && alive) return m[1].str();
    if (!alive) {
      throw UserError(fmt::format("greenbatch serve {} before it listened; its output ({}):\n{}",
                                  describe_status(status_), log_path_, log_tail()));
    }
    if (cancel) throw UserError("interrupted while greenbatch serve started");
    if (std::chrono::steady_clock::now() > until) {
      stop();
      throw UserError(fmt::format("greenbatch serve did not listen within the time allowed; its output ({}):\n{}",
                                  log_path_, log_tail()));
    }
    std::this_thread::sleep_for(kPoll);
  }
}

std::string ServerProcess::stop(TimeNs grace) {
  if (pid_ < 0) return "not started";
  if (!running()) return describe_status(status_);
  ::kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(grace);
  while (running()) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status_, 0);
      reaped_ = true;
      return fmt::format("did not stop within {:g} s of SIGTERM: killed", ns_to_s(grace));
    }
    std::this_thread::sleep_for(kPoll);
  }
  return describe_status(status_);
}

}  // namespace greenbatch
