// MemoryCgroup: a memory-limited control group for one benchmark run, so the
// engine's behaviour under a container's memory limit is measured on the same
// machine. Uses the cgroup v1 memory controller when mounted
// (/sys/fs/cgroup/memory), else cgroup v2 (/sys/fs/cgroup with "memory" among
// its controllers). Needs the right to create a group (root, usually).
//
// Thread-safety: one owner.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace handoff::bench {

class MemoryCgroup {
 public:
  // A new group limited to `limit_bytes`; nullptr with `*why` when this
  // machine has no memory cgroup the driver may create.
  static std::unique_ptr<MemoryCgroup> Create(const std::string& name, uint64_t limit_bytes, std::string* why);
  ~MemoryCgroup();  // removes the group (its processes must have ended)

  // argv prefix that moves the process into the group, then execs the rest
  // (the pid stays the same).
  std::vector<std::string> Wrapper() const;
  // Processes of the group the kernel's OOM killer ended (-1 when unknown).
  long OomKills() const;
  // Peak memory charged to the group, bytes (-1 when unknown).
  long long PeakBytes() const;
  bool v2() const { return v2_; }

 private:
  MemoryCgroup(std::string dir, bool v2) : dir_(std::move(dir)), v2_(v2) {}
  std::string dir_;
  bool v2_;
};

}  // namespace handoff::bench
