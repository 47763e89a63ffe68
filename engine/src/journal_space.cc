#include "journal_space.h"

#include <lmdb.h>
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdint>

#include "lmdb_env.h"

namespace handoff {

uint64_t AvailableBytes(const std::string& path) {
  struct statvfs vfs;
  if (::statvfs(path.c_str(), &vfs) != 0) return UINT64_MAX;
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

Status LmdbError(int rc, std::string_view what, const std::string& path) {
  if (rc == ENOSPC || rc == EIO) {
    const uint64_t avail = AvailableBytes(path);
    if (rc == ENOSPC || avail < kNearlyFullBytes)
      return Status::ResourceExhausted("journal full: no space left on device at " + path + " (" +
                                       (avail == UINT64_MAX ? std::string("free space unknown")
                                                            : std::to_string(avail) + " bytes available") +
                                       "; " + std::string(what) + ": " + mdb_strerror(rc) + ")");
  }
  return LmdbError(rc, what);
}

}  // namespace handoff
