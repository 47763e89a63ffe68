// What the spike driver observes from outside a process and about the
// machine: peak resident memory, CPU time, the size of a directory, and a
// one-line description of the machine the figures were taken on.
//
// Thread-safety: MemorySampler is used by one thread; the free functions are
// safe to call from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace handoff::bench {

// Peak memory of one process, from /proc/PID/status.
class MemorySampler {
 public:
  explicit MemorySampler(pid_t pid) : pid_(pid) {}
  // Takes one sample of anonymous (heap) memory and the kernel's high-water
  // mark of resident memory (VmHWM, which needs no sampling).
  void Sample();
  long peak_rss_kb() const { return peak_rss_kb_; }
  long peak_anon_kb() const { return peak_anon_kb_; }

 private:
  pid_t pid_;
  long peak_rss_kb_ = -1, peak_anon_kb_ = -1;
};

// User + system CPU seconds used by a process so far; -1 when it is gone.
double CpuSeconds(pid_t pid);
// Total size of the regular files under `dir`.
uint64_t DirBytes(const std::string& dir);

struct MachineInfo {
  int cpus = 0;
  std::string cpu_model;
  double memory_gib = 0;
  std::string kernel;
  std::string Describe() const;  // "2 CPUs (AMD EPYC ...), 23.4 GiB, Linux 6.1"
};
MachineInfo DescribeMachine();

}  // namespace handoff::bench
