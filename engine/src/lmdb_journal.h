// LmdbJournal: the LMDB-backed Journal. Private to the engine; the rest of
// handoff sees only handoff/engine/journal.h and Journal::Open.
//
// The class has one declaration here and its definitions in files by job:
//   lmdb_journal.cc             opening the environment, the engine lock, the journal id
//   lmdb_journal_append.cc      appends (group commit, positions, delivery dedup) and reads
//   lmdb_journal_store.cc       source positions, meta records, target positions
//   lmdb_journal_exceptions.cc  the exception queue and its record encoding
//   lmdb_journal_retention.cc   trimming applied events and old delivery ids
//   lmdb_journal_map.cc         growing the map, free space, the full map and its reserve
//
// Concurrency: one writer at a time (writer_mu_); readers run alongside. Every
// transaction holds resize_mu_ shared; growing the map on MDB_MAP_FULL takes
// it exclusively, because mdb_env_set_mapsize requires that no transaction of
// this process is active.
//
// Durability: the environment is opened without MDB_NOSYNC/MDB_NOMETASYNC, so
// a successful Append has been fsynced; only then may a source position be
// confirmed upstream.
//
// Thread-safety: safe from any thread (see Concurrency above).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "handoff/engine/event_codec.h"
#include "handoff/engine/journal.h"
#include "journal_space.h"
#include "lmdb_env.h"
#include "handoff/engine/varint.h"

namespace handoff {

// Key and value layouts of the journal's databases (see docs/ARCHITECTURE.md §4).

// events key: journal seq, 8 bytes big-endian, so LMDB order is seq order.
inline std::string SeqKey(uint64_t seq) {
  std::string k;
  PutFixed64BE(&k, seq);
  return k;
}

// sources value: lsn and ordinal, 8 bytes big-endian each.
inline std::string EncodePosition(const SourcePosition& p) {
  std::string v;
  PutFixed64BE(&v, p.lsn);
  PutFixed64BE(&v, p.ordinal);
  return v;
}

inline bool DecodePosition(std::string_view v, SourcePosition* p) {
  if (v.size() != 16) return false;
  p->lsn = GetFixed64BE(v.data());
  p->ordinal = GetFixed64BE(v.data() + 8);
  return true;
}

// dedup key: source, NUL, delivery id. Value: seq (8 BE) + journaled_at_us (8 BE).
inline std::string DedupKey(const std::string& source, const std::string& delivery_id) {
  std::string k = source;
  k.push_back('\0');
  k += delivery_id;
  return k;
}

// dedup_age key: journaled_at_us (8 BE, so LMDB order is age order) + dedup key.
// A staged event of a streamed transaction (streams database):
// source NUL xid(BE32) ordinal(BE64); the value is subxid(BE32) + the event record.
inline std::string StreamPrefix(const std::string& source, std::optional<uint32_t> xid) {
  std::string k = source;
  k.push_back('\0');
  if (xid) {
    for (int i = 3; i >= 0; --i) k.push_back(static_cast<char>((*xid >> (8 * i)) & 0xff));
  }
  return k;
}

inline std::string StreamKey(const std::string& source, uint32_t xid, uint64_t ordinal) {
  std::string k = StreamPrefix(source, xid);
  PutFixed64BE(&k, ordinal);
  return k;
}

inline std::string DedupAgeKey(int64_t at_us, const std::string& dedup_key) {
  std::string k;
  PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(at_us, 0)));
  k += dedup_key;
  return k;
}

// exceptions key: target, NUL, seq (8 BE).
inline std::string ExceptionKey(const std::string& target, uint64_t seq) {
  std::string k = target;
  k.push_back('\0');
  PutFixed64BE(&k, seq);
  return k;
}

// exceptions value, version 1 (lmdb_journal_exceptions.cc).
std::string EncodeException(const ExceptionRecord& r);
bool DecodeException(std::string_view in, ExceptionRecord* r);

class LmdbJournal final : public Journal {
 public:
  explicit LmdbJournal(JournalOptions options) : options_(std::move(options)) {}
  ~LmdbJournal() override;

  // Opens (or creates) the environment and its databases.
  Status Init();
  // Clears the reader slots of processes that ended inside a read
  // transaction. Returns how many were cleared.
  int ClearStaleReaders();

  const std::string& id() const override { return id_; }
  bool legacy_id() const override { return legacy_id_; }

  // lmdb_journal_append.cc
  Status Append(std::vector<AppendBatch>& batches, AppendResult* result) override;
  Status AppendWithMeta(std::vector<AppendBatch>& batches, const SideWrites& side, AppendResult* result) override;
  Status Read(uint64_t from_seq, size_t max_events, std::vector<JournalEntry>* out) override;
  bool WaitFor(uint64_t seq, std::chrono::milliseconds timeout) override;
  uint64_t LastSeq() override;
  JournalStats Stats() override;

  // lmdb_journal_store.cc
  Result<SourcePosition> SourceDurable(const std::string& source) override;
  Result<std::vector<std::pair<std::string, SourcePosition>>> Sources() override;
  Result<SourcePosition> ForgetSource(const std::string& source) override;
  Status PutMeta(const std::string& key, const std::string& value) override;
  Result<std::optional<std::string>> GetMeta(const std::string& key) override;
  Status DeleteMeta(const std::string& key) override;
  Result<std::unique_ptr<MetaReader>> ReadMeta() override;
  Status ScanMeta(const std::string& prefix,
                  const std::function<bool(std::string_view, std::string_view)>& f) override;
  Status SetTargetApplied(const std::string& target, uint64_t seq) override;
  Result<uint64_t> TargetApplied(const std::string& target) override;
  Result<std::vector<std::pair<std::string, uint64_t>>> Targets() override;

  // lmdb_journal_exceptions.cc
  Status PutException(const ExceptionRecord& record) override;
  Result<std::optional<ExceptionRecord>> GetException(const std::string& target, uint64_t seq) override;
  Result<std::vector<ExceptionRecord>> Exceptions(std::optional<ExceptionState> state) override;

  // lmdb_journal_retention.cc
  Result<uint64_t> Trim(uint64_t upto_seq, int64_t cutoff_us) override;
  Result<uint64_t> ApplyRetention(const std::vector<std::string>& targets, int64_t now_us) override;

 private:
  // What the next write transaction can use, and what keeps freed pages out
  // of its reach (lmdb_journal_map.cc explains both).
  struct MapSpace {
    uint64_t map_size = 0;
    uint64_t free_bytes = 0;         // usable by the next write transaction
    uint64_t last_commit_bytes = 0;  // freed by the last commit: usable after one more
    uint64_t reader_held_bytes = 0;  // freed after the oldest reader's snapshot
    int oldest_reader_pid = 0;
  };
  // The oldest snapshot any reader slot holds, other than `self` (one slot of
  // this process at that snapshot). UINT64_MAX when there is none.
  struct OldestReader {
    uint64_t txnid = UINT64_MAX;
    int pid = 0;
  };
  // More than the few pages the extra commit itself copies and frees.
  static constexpr uint64_t kMarkerWorthBytes = 64 << 10;

  // lmdb_journal.cc
  Status TakeLock();
  int InitIdentity(MDB_txn* txn);
  uint64_t ExistingDataSize();

  // lmdb_journal_append.cc
  uint64_t LastSeqIn(MDB_txn* txn);
  int CheckDelivery(MDB_txn* txn, const std::string& source, const ChangeEvent& e, uint64_t seq, int64_t now,
                    std::unordered_set<std::string>* fresh, bool* dup);
  int TryAppend(std::vector<AppendBatch>& batches, const SideWrites& side, int64_t now, AppendResult* res);
  // Streamed transactions whose commit the last TryAppend moved: (source, xid).
  std::vector<std::pair<std::string, uint32_t>> drop_staged_;
  void DropStaged();

  // lmdb_journal_store.cc
  int TryForget(const std::string& source, SourcePosition* had);
  Status PutKv(MDB_dbi dbi, const std::string& key, const std::string& value);
  Result<std::optional<std::string>> GetKv(MDB_dbi dbi, const std::string& key);

  // lmdb_journal_retention.cc
  int TrimDedup(MDB_txn* txn, int64_t cutoff_us, uint64_t* removed_out);

  // lmdb_journal_map.cc
  Status EnsureRoom(bool exists);
  Status NoSpace(uint64_t need, uint64_t avail, const std::string& what);
  Status Grow();
  bool AtMaxMapSize();
  // REQUIRES: writer_mu_ is held.
  Status MapFull(const MapSpace& space);
  uint64_t HousekeepingReserve() const;
  OldestReader FindOldestReader(uint64_t self);
  MapSpace Space();
  // REQUIRES: writer_mu_ is held.
  bool ReclaimFreedPages(uint64_t worth);
  // REQUIRES: writer_mu_ is held.
  int CommitMarker();

  // Runs `f` in a read transaction, following a map another process grew.
  template <typename F>
  Status WithReadTxn(F&& f) {
    for (int attempt = 0;; ++attempt) {
      std::shared_lock<std::shared_mutex> rlock(resize_mu_);
      LmdbTxn txn;
      int rc = txn.Begin(env_, true);
      if (rc == MDB_MAP_RESIZED && attempt < 3) {
        rlock.unlock();
        std::unique_lock<std::shared_mutex> lk(resize_mu_);
        mdb_env_set_mapsize(env_, 0);
        continue;
      }
      if (rc) return LmdbError(rc, "journal read transaction", options_.path);
      return f(txn.get());
    }
  }

  // Calls `f(key, value)` for every record of `dbi`, stopping at its first error.
  template <typename F>
  Status ScanAll(MDB_dbi dbi, F&& f) {
    return WithReadTxn([&](MDB_txn* txn) -> Status {
      LmdbCursor cur;
      int rc = cur.Open(txn, dbi);
      if (rc) return LmdbError(rc, "journal cursor", options_.path);
      MDB_val k, v;
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
      while (rc == MDB_SUCCESS) {
        HANDOFF_RETURN_IF_ERROR(f(View(k), View(v)));
        rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
      }
      return Status::OK();
    });
  }

  JournalOptions options_;
  std::string id_;
  bool legacy_id_ = false;
  int lock_fd_ = -1;
  MDB_env* env_ = nullptr;
  MDB_dbi events_ = 0, sources_ = 0, meta_ = 0, targets_ = 0, exceptions_ = 0, dedup_ = 0, dedup_age_ = 0,
          streams_ = 0, shapes_ = 0;
  std::mutex writer_mu_;
  std::shared_mutex resize_mu_;

  // Event shapes (event_codec.h, database `shapes`: id BE32 -> encoding):
  // compact records name them by id. Loaded at open; a shape another process
  // wrote since is read when a record names it. Guarded by shapes_mu_.
  mutable std::shared_mutex shapes_mu_;
  std::unordered_map<uint32_t, std::unique_ptr<EventShape>> shapes_by_id_;
  std::unordered_map<std::string, uint32_t> shape_ids_;
  uint32_t next_shape_ = 1;
  std::vector<uint32_t> shapes_pending_;  // created in the write transaction in progress (writer only)
  // The compact record of `e` in *out, adding its shape in `txn` when new. Returns an LMDB code.
  int EncodeForJournal(MDB_txn* txn, const ChangeEvent& e, int64_t now, std::string* out);
  // The shape `id`, read in `txn` when this process has not seen it; nullptr when absent.
  const EventShape* FindShape(MDB_txn* txn, uint32_t id);
  // After the write transaction: keeps (committed) or forgets the shapes it created.
  void SettleShapes(bool committed);
  int LoadShapes(MDB_txn* txn);
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  uint64_t last_seq_ = 0;  // guarded by wait_mu_
  bool full_reported_ = false;  // the full map was logged; guarded by writer_mu_
};

}  // namespace handoff
