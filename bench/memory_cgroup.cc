#include "memory_cgroup.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace handoff::bench {
namespace {

namespace fs = std::filesystem;

bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The number after "key " in a "key value" per line file; -1 when absent.
long KeyValue(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string k; lines >> k;) {
    long v = -1;
    lines >> v;
    if (k == key) return v;
  }
  return -1;
}

}  // namespace

std::unique_ptr<MemoryCgroup> MemoryCgroup::Create(const std::string& name, uint64_t limit_bytes, std::string* why) {
  std::error_code ec;
  const std::string group = name + "-" + std::to_string(::getpid());
  if (fs::exists("/sys/fs/cgroup/memory/memory.limit_in_bytes")) {
    const std::string dir = "/sys/fs/cgroup/memory/" + group;
    if (!fs::create_directory(dir, ec)) {
      *why = "cannot create " + dir + ": " + ec.message();
      return nullptr;
    }
    std::unique_ptr<MemoryCgroup> g(new MemoryCgroup(dir, false));
    if (!WriteFile(dir + "/memory.limit_in_bytes", std::to_string(limit_bytes))) {
      *why = "cannot set " + dir + "/memory.limit_in_bytes";
      return nullptr;
    }
    WriteFile(dir + "/memory.memsw.limit_in_bytes", std::to_string(limit_bytes));  // no swap either, where accounted
    return g;
  }
  const std::string root = "/sys/fs/cgroup";
  if (ReadFile(root + "/cgroup.controllers").find("memory") == std::string::npos) {
    *why = "no memory cgroup controller is mounted";
    return nullptr;
  }
  WriteFile(root + "/cgroup.subtree_control", "+memory");
  const std::string dir = root + "/" + group;
  if (!fs::create_directory(dir, ec)) {
    *why = "cannot create " + dir + ": " + ec.message();
    return nullptr;
  }
  std::unique_ptr<MemoryCgroup> g(new MemoryCgroup(dir, true));
  if (!WriteFile(dir + "/memory.max", std::to_string(limit_bytes))) {
    *why = "cannot set " + dir + "/memory.max";
    return nullptr;
  }
  WriteFile(dir + "/memory.swap.max", "0");
  return g;
}

MemoryCgroup::~MemoryCgroup() {
  std::error_code ec;
  fs::remove(dir_, ec);  // rmdir: succeeds once the group is empty
}

std::vector<std::string> MemoryCgroup::Wrapper() const {
  return {"/bin/sh", "-c", "echo $$ > '" + dir_ + "/cgroup.procs' && exec \"$@\"", "sh"};
}

long MemoryCgroup::OomKills() const {
  if (v2_) return KeyValue(ReadFile(dir_ + "/memory.events"), "oom_kill");
  return KeyValue(ReadFile(dir_ + "/memory.oom_control"), "oom_kill");
}

long long MemoryCgroup::PeakBytes() const {
  std::string t = ReadFile(dir_ + (v2_ ? "/memory.peak" : "/memory.max_usage_in_bytes"));
  return t.empty() ? -1 : std::atoll(t.c_str());
}

}  // namespace handoff::bench
