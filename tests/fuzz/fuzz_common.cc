#include <cstdio>
#include <cstdlib>

#include "fuzz_entries.h"

namespace handoff::fuzz {

void Broken(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: invariant broken: %s\n", target, what.c_str());
  std::abort();
}

}  // namespace handoff::fuzz
