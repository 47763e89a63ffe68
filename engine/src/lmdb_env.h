// RAII wrappers around the LMDB C API, for the journal's use only.
// REQUIRES: a cursor of a write transaction is Close()d before the
// transaction commits or aborts (LMDB frees it then); read-transaction cursors
// close on destruction.
// Thread-safety: an LmdbTxn belongs to the thread that began it.
#pragma once

#include <lmdb.h>

#include <string>
#include <string_view>

#include "handoff/engine/status.h"

namespace handoff {

// Without the journal's path; see journal_space.h for the one that tells a
// full disk from EIO.
inline Status LmdbError(int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + mdb_strerror(rc);
  if (rc == MDB_MAP_FULL) return Status::ResourceExhausted("journal full: the map is full (" + msg + ")");
  if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_VERSION_MISMATCH || rc == MDB_INVALID)
    return Status::Corruption(msg);
  if (rc == ENOSPC) return Status::ResourceExhausted("journal full: no space left on device (" + msg + ")");
  return Status::Unavailable(msg);
}

inline MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
inline std::string_view View(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// A transaction that aborts on destruction unless committed. Commit() takes
// the handle out first, as mdb_txn_commit frees it even on failure.
class LmdbTxn {
 public:
  LmdbTxn() = default;
  LmdbTxn(const LmdbTxn&) = delete;
  LmdbTxn& operator=(const LmdbTxn&) = delete;
  ~LmdbTxn() { Abort(); }

  int Begin(MDB_env* env, bool read_only) {
    Abort();
    return mdb_txn_begin(env, nullptr, read_only ? MDB_RDONLY : 0, &txn_);
  }
  int Commit() {
    MDB_txn* t = txn_;
    txn_ = nullptr;
    return t ? mdb_txn_commit(t) : EINVAL;
  }
  void Abort() {
    if (txn_) mdb_txn_abort(txn_);
    txn_ = nullptr;
  }
  MDB_txn* get() const { return txn_; }

 private:
  MDB_txn* txn_ = nullptr;
};

class LmdbCursor {
 public:
  LmdbCursor() = default;
  LmdbCursor(const LmdbCursor&) = delete;
  LmdbCursor& operator=(const LmdbCursor&) = delete;
  ~LmdbCursor() { Close(); }
  int Open(MDB_txn* txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &c_); }
  // A write transaction frees its cursors when it ends: close them first.
  void Close() {
    if (c_) mdb_cursor_close(c_);
    c_ = nullptr;
  }
  MDB_cursor* get() const { return c_; }

 private:
  MDB_cursor* c_ = nullptr;
};

}  // namespace handoff
