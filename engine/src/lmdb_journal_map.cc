// LmdbJournal (lmdb_journal.h): the map and the file system it lives on:
// room for a new journal, growing the map, free space, and holding appends
// when the map is full.
//
// A full map: LMDB copies every page a transaction changes, so even deleting
// needs free pages. A map filled to its last page could therefore never be
// trimmed by retention, nor take a target's applied position. Once the map
// is at max_map_size, appends of events are refused (kResourceExhausted,
// nothing written) while fewer than HousekeepingReserve() bytes are free;
// retention, positions, exceptions and meta may use that reserve.
//
// Free space is what the next write transaction can use: the pages past the
// high-water mark, plus the free-list pages LMDB will hand out again. LMDB
// files each page a commit frees under that commit's transaction id, and a
// writer reuses a page only when the freeing commit is older than both the
// writer's predecessor and every reader's snapshot, so that no snapshot that
// may still be read (including the previous meta page) loses its pages. Two
// things therefore keep freed pages out of reach although they sit on the
// free list:
//   - the last commit itself: what retention's trim freed cannot be used by
//     the very next transaction. With nothing else writing, a refused append
//     aborts, so every retry is "the next transaction" again and the map
//     stays full for good. Trim and a full map commit one small extra
//     transaction to move past it.
//   - a reader older than the freeing commit, in this process or another,
//     or the slot of a reader whose process was killed.
//     Such pages are not counted as free; stale slots are cleared at open and
//     whenever the map is found full.

#include "lmdb_journal.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "handoff/engine/log.h"

namespace handoff {

// LMDB writes its reader table through a shared map of lock.mdb: on a full
// file system touching an unallocated page of it is SIGBUS, not an error.
// So the lock file's blocks are allocated first, and a new journal needs
// room for its initial map. (data.mdb is written with pwrite, not through
// the map, so running out of room later is ENOSPC from a commit.)
Status LmdbJournal::EnsureRoom(bool exists) {
  constexpr uint64_t kLockBytes = 64 << 10;  // 256 reader slots of 64 bytes and the header
  struct statvfs vfs;
  if (::statvfs(options_.path.c_str(), &vfs) == 0) {
    const uint64_t avail = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    const uint64_t need = kLockBytes + (exists ? 0 : options_.map_size);
    if (avail < need)
      return NoSpace(need, avail, exists ? "" : " (journal.map_size " + std::to_string(options_.map_size) + " for a new journal)");
  }
  const std::string lock = options_.path + "/lock.mdb";
  int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::InvalidArgument("cannot open " + lock + ": " + std::strerror(errno));
  int rc = ::posix_fallocate(fd, 0, kLockBytes);
  ::close(fd);
  if (rc == ENOSPC) return NoSpace(kLockBytes, 0, " (the lock file)");
  // Other errors (a file system without fallocate) leave it to LMDB.
  return Status::OK();
}

Status LmdbJournal::NoSpace(uint64_t need, uint64_t avail, const std::string& what) {
  return Status::ResourceExhausted("no space left on device at " + options_.path + ", need " + std::to_string(need) +
                                   " bytes" + what + ", " + std::to_string(avail) + " available");
}

Status LmdbJournal::Grow() {
  // At the limit there is nothing to resize: do not wait for the readers
  // to finish (the exclusive lock would), hold at once.
  if (AtMaxMapSize()) return MapFull(Space());
  std::unique_lock<std::shared_mutex> lk(resize_mu_);
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  uint64_t cur = info.me_mapsize;
  if (cur >= options_.max_map_size) {
    lk.unlock();  // Space() reads
    return MapFull(Space());
  }
  uint64_t next = std::min<uint64_t>(options_.max_map_size, std::max<uint64_t>(cur * 2, cur + (64ull << 20)));
  int rc = mdb_env_set_mapsize(env_, next);
  if (rc) return LmdbError(rc, "grow journal map", options_.path);
  LogInfo("journal", "journal map grown from {} MiB to {} MiB", cur >> 20, next >> 20);
  return Status::OK();
}

bool LmdbJournal::AtMaxMapSize() {
  MDB_envinfo info;
  mdb_env_info(env_, &info);
  return info.me_mapsize >= options_.max_map_size;
}

// REQUIRES: writer_mu_ is held. Logs the condition once until an append succeeds again.
Status LmdbJournal::MapFull(const MapSpace& space) {
  std::string detail = std::to_string(space.free_bytes >> 10) + " KiB reusable";
  if (space.reader_held_bytes > 0)
    detail += ", " + std::to_string(space.reader_held_bytes >> 10) + " KiB freed but still visible to a read " +
              "transaction of pid " + std::to_string(space.oldest_reader_pid) + " that began before it was freed";
  if (!full_reported_)
    LogError("journal",
             "journal map is full at {} MiB ({}) and journal.max_map_size allows no more; intake holds (nothing "
             "is acknowledged upstream) until retention frees space or the engine restarts with a larger "
             "journal.max_map_size",
             space.map_size >> 20, detail);
  full_reported_ = true;
  return Status::ResourceExhausted("journal full: map is full at " + std::to_string(space.map_size >> 20) + " MiB (" +
                                   detail + ") and may not grow past journal.max_map_size");
}

// What appends leave free for housekeeping once the map cannot grow:
// 1/64 of max_map_size, at least 256 KiB and at most 256 MiB.
uint64_t LmdbJournal::HousekeepingReserve() const {
  return std::clamp<uint64_t>(options_.max_map_size / 64, 256ull << 10, 256ull << 20);
}

LmdbJournal::OldestReader LmdbJournal::FindOldestReader(uint64_t self) {
  struct Scan {
    OldestReader oldest;
    uint64_t self;
    int own_pid;
    bool self_seen = false;
  } scan{{}, self, static_cast<int>(::getpid())};
  // mdb_reader_list is LMDB's only view of the reader table: one text line
  // per slot, "pid thread txnid", the txnid "-" for an idle slot.
  mdb_reader_list(
      env_,
      [](const char* line, void* ctx) -> int {
        auto* sc = static_cast<Scan*>(ctx);
        int pid = 0;
        char thread[32], txn[32];
        if (std::sscanf(line, "%d %31s %31s", &pid, thread, txn) != 3 || txn[0] < '0' || txn[0] > '9') return 0;
        uint64_t id = std::strtoull(txn, nullptr, 10);
        if (!sc->self_seen && pid == sc->own_pid && id == sc->self) {
          sc->self_seen = true;
          return 0;
        }
        if (id < sc->oldest.txnid) sc->oldest = {id, pid};
        return 0;
      },
      &scan);
  return scan.oldest;
}

LmdbJournal::MapSpace LmdbJournal::Space() {
  MDB_envinfo info;
  MDB_stat est;
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &est);
  const uint64_t page = est.ms_psize;
  MapSpace space;
  space.map_size = info.me_mapsize;
  const uint64_t high_water = (info.me_last_pgno + 1) * page;
  uint64_t free_pages = 0, last_commit_pages = 0, reader_pages = 0;
  // Database 0 is LMDB's free list: the key is the id of the transaction
  // that freed the pages, the value a page-number list whose first element
  // is its length. It is readable only in read-only transactions. A record
  // is reusable when its id is below both the last commit (this snapshot)
  // and the oldest other reader's snapshot.
  Status st = WithReadTxn([&](MDB_txn* txn) -> Status {
    const uint64_t last = mdb_txn_id(txn);
    const OldestReader reader = FindOldestReader(last);
    space.oldest_reader_pid = reader.pid;
    LmdbCursor cur;
    if (cur.Open(txn, 0)) return Status::OK();
    MDB_val k, v;
    int rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
      size_t freed_by = 0, pages = 0;
      if (k.mv_size == sizeof(freed_by)) std::memcpy(&freed_by, k.mv_data, sizeof(freed_by));
      if (v.mv_size >= sizeof(pages)) std::memcpy(&pages, v.mv_data, sizeof(pages));
      if (freed_by >= reader.txnid) {
        reader_pages += pages;
      } else if (freed_by >= last) {
        last_commit_pages += pages;
      } else {
        free_pages += pages;
      }
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
    }
    return Status::OK();
  });
  (void)st;
  space.free_bytes = (space.map_size > high_water ? space.map_size - high_water : 0) + free_pages * page;
  space.last_commit_bytes = last_commit_pages * page;
  space.reader_held_bytes = reader_pages * page;
  return space;
}

// REQUIRES: writer_mu_ is held. Brings freed pages within reach of the
// next write where that is possible: clears the reader slots of dead
// processes, and commits past the last commit when it freed pages. Returns
// whether anything changed (then Space() is worth asking again).
// The extra commit is made only when the last commit freed at least
// `worth` bytes, so a map that stays full is not rewritten on every retry.
bool LmdbJournal::ReclaimFreedPages(uint64_t worth) {
  bool changed = ClearStaleReaders() > 0;
  // Asked after the slots are cleared: what they held may now wait only
  // for the last commit.
  const uint64_t waiting = Space().last_commit_bytes;
  if (waiting > 0 && waiting >= worth && CommitMarker() == MDB_SUCCESS) changed = true;
  return changed;
}

// REQUIRES: writer_mu_ is held. A small commit (the last_seq mark rewritten
// unchanged) whose only purpose is to make the pages the previous commit
// freed reusable. Returns an LMDB code.
int LmdbJournal::CommitMarker() {
  std::shared_lock<std::shared_mutex> rlock(resize_mu_);
  LmdbTxn txn;
  int rc = txn.Begin(env_, false);
  if (rc) return rc;
  std::string sv = SeqKey(LastSeqIn(txn.get()));
  MDB_val mk = Val("last_seq"), mv = Val(sv);
  if ((rc = mdb_put(txn.get(), meta_, &mk, &mv, 0))) return rc;
  return txn.Commit();
}

}  // namespace handoff