// A child process for tests: the handoff binary started with arguments,
// output to a log file, stopped with a signal.
// Thread-safety: one owner.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace handoff::testing {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // Starts `argv[0]` with the arguments; stdout and stderr append to log_path.
  void Start(const std::vector<std::string>& argv, const std::string& log_path,
             const std::vector<std::string>& env = {});
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Sends the signal and waits up to `timeout`; returns the exit code, or
  // 128+signal when killed by a signal, or -1 on timeout (then SIGKILLs).
  int Stop(int signal, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Waits for a natural exit; -1 on timeout.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
};

// Runs a command to completion, capturing stdout; returns the exit code.
int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err = nullptr);

// A field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM", "RssAnon", ...);
// -1 when the process or field is not there.
long ProcessMemoryKib(pid_t pid, const std::string& field);

// The path of the built handoff binary.
std::string HandoffBinary();

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
// released), for servers a test starts in a child process.
int FreeTcpPort();

}  // namespace handoff::testing
