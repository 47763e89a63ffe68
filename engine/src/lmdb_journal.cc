// The LMDB-backed Journal.
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
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <shared_mutex>
#include <unordered_set>

#include "handoff/engine/clock.h"
#include "handoff/engine/event_codec.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/log.h"
#include "journal_space.h"
#include "lmdb_env.h"
#include "handoff/engine/varint.h"

namespace handoff {

const char* ExceptionStateName(ExceptionState s) {
  switch (s) {
    case ExceptionState::kOpen: return "open";
    case ExceptionState::kRetried: return "retried";
    case ExceptionState::kResolved: return "resolved";
    case ExceptionState::kDiscarded: return "discarded";
  }
  return "unknown";
}

namespace {

std::string SeqKey(uint64_t seq) {
  std::string k;
  PutFixed64BE(&k, seq);
  return k;
}

std::string EncodePosition(const SourcePosition& p) {
  std::string v;
  PutFixed64BE(&v, p.lsn);
  PutFixed64BE(&v, p.ordinal);
  return v;
}

bool DecodePosition(std::string_view v, SourcePosition* p) {
  if (v.size() != 16) return false;
  p->lsn = GetFixed64BE(v.data());
  p->ordinal = GetFixed64BE(v.data() + 8);
  return true;
}

// dedup key: source, NUL, delivery id. Value: seq (8 BE) + journaled_at_us (8 BE).
std::string DedupKey(const std::string& source, const std::string& delivery_id) {
  std::string k = source;
  k.push_back('\0');
  k += delivery_id;
  return k;
}

// dedup_age key: journaled_at_us (8 BE, so LMDB order is age order) + dedup key.
std::string DedupAgeKey(int64_t at_us, const std::string& dedup_key) {
  std::string k;
  PutFixed64BE(&k, static_cast<uint64_t>(std::max<int64_t>(at_us, 0)));
  k += dedup_key;
  return k;
}

std::string ExceptionKey(const std::string& target, uint64_t seq) {
  std::string k = target;
  k.push_back('\0');
  PutFixed64BE(&k, seq);
  return k;
}

std::string EncodeException(const ExceptionRecord& r) {
  std::string v;
  v.push_back(1);  // record version
  PutString(&v, r.target);
  PutVarint(&v, r.seq);
  PutString(&v, r.reason);
  PutString(&v, r.code);
  PutString(&v, r.old_image);
  PutString(&v, r.new_image);
  PutString(&v, r.current_image);
  v.push_back(static_cast<char>(r.state));
  PutString(&v, r.actor);
  PutString(&v, r.note);
  PutVarint(&v, ZigZag(r.created_us));
  PutVarint(&v, ZigZag(r.updated_us));
  return v;
}

bool DecodeException(std::string_view in, ExceptionRecord* r) {
  ByteReader rd(in);
  uint8_t version, state;
  uint64_t created, updated;
  if (!rd.Byte(&version) || version != 1) return false;
  if (!rd.String(&r->target) || !rd.Varint(&r->seq) || !rd.String(&r->reason) || !rd.String(&r->code) ||
      !rd.String(&r->old_image) || !rd.String(&r->new_image) || !rd.String(&r->current_image) ||
      !rd.Byte(&state) || !rd.String(&r->actor) || !rd.String(&r->note) || !rd.Varint(&created) ||
      !rd.Varint(&updated))
    return false;
  if (state < 1 || state > 4) return false;
  r->state = static_cast<ExceptionState>(state);
  r->created_us = UnZigZag(created);
  r->updated_us = UnZigZag(updated);
  return true;
}

// Reads the journaled_at field of an encoded event without decoding the rest.
bool PeekJournaledAt(std::string_view rec, int64_t* at) {
  ByteReader r(rec);
  uint8_t b;
  uint64_t v;
  for (int i = 0; i < 4; ++i)
    if (!r.Byte(&b)) return false;
  if (!r.Varint(&v)) return false;
  *at = UnZigZag(v);
  return true;
}

// 128 random bits as 32 lowercase hex digits.
std::string NewJournalId() {
  std::random_device rd;
  std::string id;
  static const char* kHex = "0123456789abcdef";
  for (int i = 0; i < 4; ++i) {
    uint32_t w = rd();
    for (int b = 0; b < 8; ++b) id.push_back(kHex[(w >> (b * 4)) & 0xf]);
  }
  return id;
}

class LmdbJournal final : public Journal {
 public:
  explicit LmdbJournal(JournalOptions options) : options_(std::move(options)) {}
  ~LmdbJournal() override {
    if (env_) mdb_env_close(env_);
    if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
  }

  const std::string& id() const override { return id_; }
  bool legacy_id() const override { return legacy_id_; }

  Status Init() {
    std::error_code ec;
    const bool exists = std::filesystem::exists(options_.path + "/data.mdb", ec);
    if (!exists && !options_.create_if_missing) return Status::NotFound("no journal at " + options_.path);
    std::filesystem::create_directories(options_.path, ec);
    if (ec) return Status::InvalidArgument("cannot create journal directory " + options_.path + ": " + ec.message());
    if (options_.exclusive) HANDOFF_RETURN_IF_ERROR(TakeLock());
    HANDOFF_RETURN_IF_ERROR(EnsureRoom(exists));
    int rc = mdb_env_create(&env_);
    if (rc) return LmdbError(rc, "mdb_env_create", options_.path);
    mdb_env_set_maxdbs(env_, 16);
    mdb_env_set_maxreaders(env_, 256);
    // An existing environment may be larger than the configured initial size.
    uint64_t size = std::max<uint64_t>(options_.map_size, ExistingDataSize());
    rc = mdb_env_set_mapsize(env_, size);
    if (rc) return LmdbError(rc, "mdb_env_set_mapsize", options_.path);
    rc = mdb_env_open(env_, options_.path.c_str(), MDB_NOTLS, 0644);
    if (rc) return LmdbError(rc, "cannot open journal at " + options_.path, options_.path);
    LmdbTxn txn;
    rc = txn.Begin(env_, false);
    if (rc) return LmdbError(rc, "mdb_txn_begin", options_.path);
    const char* names[] = {"events", "sources", "meta", "targets", "exceptions", "dedup", "dedup_age"};
    MDB_dbi* dbis[] = {&events_, &sources_, &meta_, &targets_, &exceptions_, &dedup_, &dedup_age_};
    for (int i = 0; i < 7; ++i) {
      rc = mdb_dbi_open(txn.get(), names[i], MDB_CREATE, dbis[i]);
      if (rc) return LmdbError(rc, std::string("open database ") + names[i], options_.path);
    }
    if ((rc = InitIdentity(txn.get()))) return LmdbError(rc, "journal identity", options_.path);
    rc = txn.Commit();
    if (rc) return LmdbError(rc, "commit journal open", options_.path);
    return Status::OK();
  }

  // A process killed inside a read transaction leaves its reader slot, and
  // the slot's snapshot would keep every page freed since (see the top).
  // Returns how many slots were cleared.
  int ClearStaleReaders() {
    int dead = 0;
    if (mdb_reader_check(env_, &dead) != MDB_SUCCESS) return 0;
    if (dead > 0)
      LogWarn("journal", "cleared {} reader slots left by processes that ended while reading the journal", dead);
    return dead;
  }

  Status Append(std::vector<AppendBatch>& batches, AppendResult* result) override {
    return AppendWithMeta(batches, SideWrites{}, result);
  }

  Status AppendWithMeta(std::vector<AppendBatch>& batches, const SideWrites& side, AppendResult* result) override {
    std::lock_guard<std::mutex> wlock(writer_mu_);
    int64_t now = NowMicros();
    bool reclaimed = false;
    if (AtMaxMapSize()) {
      MapSpace space = Space();
      if (space.free_bytes < HousekeepingReserve()) {
        reclaimed = true;
        if (ReclaimFreedPages(HousekeepingReserve() - space.free_bytes)) space = Space();
      }
      if (space.free_bytes < HousekeepingReserve()) return MapFull(space);
    }
    for (int attempt = 0;; ++attempt) {
      AppendResult res;
      int rc = TryAppend(batches, side, now, &res);
      if (rc == MDB_SUCCESS) {
        full_reported_ = false;
        if (result) *result = res;
        {
          std::lock_guard<std::mutex> lk(wait_mu_);
          last_seq_ = res.last_seq;
        }
        wait_cv_.notify_all();
        return Status::OK();
      }
      if (rc == MDB_MAP_FULL && AtMaxMapSize()) {
        // The batch needs more than the reusable pages: retry once if freed
        // pages can be brought within reach, else hold (nothing was written).
        if (!reclaimed) {
          reclaimed = true;
          if (ReclaimFreedPages(kMarkerWorthBytes)) continue;
        }
        return MapFull(Space());
      }
      if (rc == MDB_MAP_FULL && attempt < 8) {
        HANDOFF_RETURN_IF_ERROR(Grow());
        continue;
      }
      if (rc == MDB_MAP_RESIZED && attempt < 8) {
        std::unique_lock<std::shared_mutex> lk(resize_mu_);
        mdb_env_set_mapsize(env_, 0);
        continue;
      }
      return LmdbError(rc, "journal append", options_.path);
    }
  }

  Status Read(uint64_t from_seq, size_t max_events, std::vector<JournalEntry>* out) override {
    out->clear();
    return WithReadTxn([&](MDB_txn* txn) -> Status {
      LmdbCursor cur;
      int rc = cur.Open(txn, events_);
      if (rc) return LmdbError(rc, "journal read cursor", options_.path);
      std::string key = SeqKey(from_seq);
      MDB_val k = Val(key), v;
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_SET_RANGE);
      while (rc == MDB_SUCCESS && out->size() < max_events) {
        JournalEntry entry;
        entry.seq = GetFixed64BE(k.mv_data);
        Status st = DecodeEvent(View(v), &entry.event, &entry.journaled_at_us);
        if (!st.ok()) return Status::Corruption("journal entry " + std::to_string(entry.seq) + ": " + st.message());
        out->push_back(std::move(entry));
        rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return LmdbError(rc, "journal read", options_.path);
      return Status::OK();
    });
  }

  bool WaitFor(uint64_t seq, std::chrono::milliseconds timeout) override {
    {
      std::unique_lock<std::mutex> lk(wait_mu_);
      if (last_seq_ >= seq) return true;
      wait_cv_.wait_for(lk, timeout, [&] { return last_seq_ >= seq; });
      if (last_seq_ >= seq) return true;
    }
    // Another process may be the writer.
    return LastSeq() >= seq;
  }

  uint64_t LastSeq() override {
    uint64_t last = 0;
    Status st = WithReadTxn([&](MDB_txn* txn) {
      last = LastSeqIn(txn);
      return Status::OK();
    });
    (void)st;
    return last;
  }

  JournalStats Stats() override {
    JournalStats s;
    Status st = WithReadTxn([&](MDB_txn* txn) -> Status {
      LmdbCursor cur;
      if (cur.Open(txn, events_)) return Status::OK();
      MDB_val k, v;
      if (mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST) == MDB_SUCCESS) s.first_seq = GetFixed64BE(k.mv_data);
      if (mdb_cursor_get(cur.get(), &k, &v, MDB_LAST) == MDB_SUCCESS) s.last_seq = GetFixed64BE(k.mv_data);
      MDB_stat ms;
      if (mdb_stat(txn, events_, &ms) == MDB_SUCCESS) s.entries = ms.ms_entries;
      return Status::OK();
    });
    (void)st;
    MapSpace space = Space();
    s.map_size = space.map_size;
    s.used_bytes = space.map_size - space.free_bytes;
    return s;
  }

  Result<SourcePosition> SourceDurable(const std::string& source) override {
    SourcePosition pos;
    Status st = WithReadTxn([&](MDB_txn* txn) -> Status {
      MDB_val k = Val(source), v;
      int rc = mdb_get(txn, sources_, &k, &v);
      if (rc == MDB_NOTFOUND) return Status::OK();
      if (rc) return LmdbError(rc, "read source position", options_.path);
      if (!DecodePosition(View(v), &pos)) return Status::Corruption("source position of " + source + " is malformed");
      return Status::OK();
    });
    if (!st.ok()) return st;
    return pos;
  }

  Result<std::vector<std::pair<std::string, SourcePosition>>> Sources() override {
    std::vector<std::pair<std::string, SourcePosition>> out;
    Status st = ScanAll(sources_, [&](std::string_view k, std::string_view v) {
      SourcePosition p;
      if (!DecodePosition(v, &p)) return Status::Corruption("source position is malformed");
      out.emplace_back(std::string(k), p);
      return Status::OK();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<SourcePosition> ForgetSource(const std::string& source) override {
    std::lock_guard<std::mutex> wlock(writer_mu_);
    for (int attempt = 0;; ++attempt) {
      SourcePosition had;
      int rc = TryForget(source, &had);
      if (rc == MDB_SUCCESS) return had;
      if (rc == MDB_MAP_FULL && attempt < 8) {
        HANDOFF_RETURN_IF_ERROR(Grow());
        continue;
      }
      return LmdbError(rc, "journal forget source " + source);
    }
  }

  Status PutMeta(const std::string& key, const std::string& value) override { return PutKv(meta_, key, value); }
  Result<std::optional<std::string>> GetMeta(const std::string& key) override { return GetKv(meta_, key); }
  Status DeleteMeta(const std::string& key) override {
    std::vector<AppendBatch> none;
    SideWrites side;
    side.meta_deletes.push_back(key);
    return AppendWithMeta(none, side, nullptr);
  }
  Status ScanMeta(const std::string& prefix,
                  const std::function<bool(std::string_view, std::string_view)>& f) override {
    return WithReadTxn([&](MDB_txn* txn) -> Status {
      LmdbCursor cur;
      int rc = cur.Open(txn, meta_);
      if (rc) return LmdbError(rc, "meta cursor", options_.path);
      MDB_val k = Val(prefix), v;
      rc = mdb_cursor_get(cur.get(), &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
      while (rc == MDB_SUCCESS) {
        std::string_view key = View(k);
        if (key.substr(0, prefix.size()) != prefix) break;
        if (!f(key, View(v))) break;
        rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return LmdbError(rc, "meta scan", options_.path);
      return Status::OK();
    });
  }

  Status SetTargetApplied(const std::string& target, uint64_t seq) override {
    return PutKv(targets_, target, SeqKey(seq));
  }
  Result<uint64_t> TargetApplied(const std::string& target) override {
    auto v = GetKv(targets_, target);
    if (!v.ok()) return v.status();
    if (!v->has_value() || (*v)->size() != 8) return uint64_t{0};
    return GetFixed64BE((*v)->data());
  }
  Result<std::vector<std::pair<std::string, uint64_t>>> Targets() override {
    std::vector<std::pair<std::string, uint64_t>> out;
    Status st = ScanAll(targets_, [&](std::string_view k, std::string_view v) {
      out.emplace_back(std::string(k), v.size() == 8 ? GetFixed64BE(v.data()) : 0);
      return Status::OK();
    });
    if (!st.ok()) return st;
    return out;
  }

  Status PutException(const ExceptionRecord& record) override {
    return PutKv(exceptions_, ExceptionKey(record.target, record.seq), EncodeException(record));
  }
  Result<std::optional<ExceptionRecord>> GetException(const std::string& target, uint64_t seq) override {
    auto v = GetKv(exceptions_, ExceptionKey(target, seq));
    if (!v.ok()) return v.status();
    if (!v->has_value()) return std::optional<ExceptionRecord>();
    ExceptionRecord r;
    if (!DecodeException(**v, &r)) return Status::Corruption("exception record is malformed");
    return std::optional<ExceptionRecord>(std::move(r));
  }
  Result<std::vector<ExceptionRecord>> Exceptions(std::optional<ExceptionState> state) override {
    std::vector<ExceptionRecord> out;
    Status st = ScanAll(exceptions_, [&](std::string_view, std::string_view v) {
      ExceptionRecord r;
      if (!DecodeException(v, &r)) return Status::Corruption("exception record is malformed");
      if (!state || r.state == *state) out.push_back(std::move(r));
      return Status::OK();
    });
    if (!st.ok()) return st;
    return out;
  }

  Result<uint64_t> Trim(uint64_t upto_seq, int64_t cutoff_us) override {
    std::lock_guard<std::mutex> wlock(writer_mu_);
    std::shared_lock<std::shared_mutex> rlock(resize_mu_);
    LmdbTxn txn;
    int rc = txn.Begin(env_, false);
    if (rc) return LmdbError(rc, "journal trim", options_.path);
    LmdbCursor cur;
    if ((rc = cur.Open(txn.get(), events_))) return LmdbError(rc, "journal trim cursor", options_.path);
    uint64_t removed = 0;
    uint64_t last = LastSeqIn(txn.get());
    MDB_val k, v;
    rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS && removed < 100000) {
      uint64_t seq = GetFixed64BE(k.mv_data);
      int64_t at = 0;
      // The newest event is never removed: it carries the sequence forward.
      if (seq > upto_seq || seq >= last || !PeekJournaledAt(View(v), &at) || at >= cutoff_us) break;
      if ((rc = mdb_cursor_del(cur.get(), 0))) return LmdbError(rc, "journal trim delete", options_.path);
      ++removed;
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
    }
    cur.Close();
    uint64_t dedup_removed = 0;
    if ((rc = TrimDedup(txn.get(), cutoff_us, &dedup_removed))) return LmdbError(rc, "journal trim dedup", options_.path);
    if ((rc = txn.Commit())) return LmdbError(rc, "journal trim commit", options_.path);
    rlock.unlock();  // CommitMarker takes it again
    // What the trim freed is out of reach of the next transaction (see the
    // top of the file); one more commit makes it usable by the next append
    // and counted as free at once. Should it fail, a full map's append makes
    // it again; the trim itself stands.
    if (removed + dedup_removed > 0 && (rc = CommitMarker()))
      LogWarn("journal", "commit after the trim: {}", LmdbError(rc, "marker", options_.path).ToString());
    return removed;
  }

  Result<uint64_t> ApplyRetention(const std::vector<std::string>& targets, int64_t now_us) override {
    uint64_t min_applied = UINT64_MAX;
    for (const auto& t : targets) {
      auto a = TargetApplied(t);
      if (!a.ok()) return a.status();
      min_applied = std::min(min_applied, *a);
    }
    if (targets.empty()) min_applied = 0;
    return Trim(min_applied, now_us - options_.retention_us);
  }

 private:
  // The exclusive lock: flock on <path>/handoff.lock, which also holds the
  // holder's pid for the message a second holder gets. flock (not fcntl)
  // so that other Journal objects of this process conflict too.
  Status TakeLock() {
    std::string file = options_.path + "/handoff.lock";
    lock_fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd_ < 0) return Status::InvalidArgument("cannot open " + file + ": " + std::strerror(errno));
    if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {0};
      ssize_t n = ::pread(lock_fd_, buf, sizeof(buf) - 1, 0);
      std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      ::close(lock_fd_);
      lock_fd_ = -1;
      if (err != EWOULDBLOCK) return Status::InvalidArgument("cannot lock " + file + ": " + std::strerror(err));
      return Status::Conflict("the journal at " + options_.path + " is in use by another engine" +
                              (pid.empty() ? std::string() : " (pid " + pid + ")") +
                              "; one engine runs per journal");
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, pid.data(), pid.size(), 0) < 0) {
      LogWarn("journal", "cannot write the pid into {}: {}", file, std::strerror(errno));
    }
    return Status::OK();
  }

  // Reads the journal id, or draws one: a journal with no events, sources
  // or targets is new; one that has any predates identities (legacy).
  int InitIdentity(MDB_txn* txn) {
    MDB_val k = Val("journal_id"), v;
    int rc = mdb_get(txn, meta_, &k, &v);
    if (rc == MDB_SUCCESS) {
      id_ = std::string(View(v));
      MDB_val lk = Val("journal_id_legacy"), lv;
      legacy_id_ = mdb_get(txn, meta_, &lk, &lv) == MDB_SUCCESS;
      return MDB_SUCCESS;
    }
    if (rc != MDB_NOTFOUND) return rc;
    bool used = false;
    for (MDB_dbi dbi : {events_, sources_, targets_}) {
      MDB_stat st;
      if ((rc = mdb_stat(txn, dbi, &st))) return rc;
      used = used || st.ms_entries > 0;
    }
    MDB_val lk = Val("last_seq"), lv;
    used = used || mdb_get(txn, meta_, &lk, &lv) == MDB_SUCCESS;
    id_ = NewJournalId();
    MDB_val nv = Val(id_);
    if ((rc = mdb_put(txn, meta_, &k, &nv, 0))) return rc;
    if (used) {
      legacy_id_ = true;
      MDB_val mk = Val("journal_id_legacy"), one = Val("1");
      if ((rc = mdb_put(txn, meta_, &mk, &one, 0))) return rc;
      LogInfo("journal", "journal at {} predates journal ids; it is now {}", options_.path, id_);
    }
    return MDB_SUCCESS;
  }

  uint64_t ExistingDataSize() {
    struct stat st;
    std::string file = options_.path + "/data.mdb";
    if (::stat(file.c_str(), &st) == 0) return static_cast<uint64_t>(st.st_size);
    return 0;
  }

  uint64_t LastSeqIn(MDB_txn* txn) {
    LmdbCursor cur;
    if (cur.Open(txn, events_)) return 0;
    MDB_val k, v;
    if (mdb_cursor_get(cur.get(), &k, &v, MDB_LAST) == MDB_SUCCESS) return GetFixed64BE(k.mv_data);
    // Empty after a full trim: the sequence continues from the stored high-water mark.
    MDB_val mk = Val("last_seq");
    if (mdb_get(txn, meta_, &mk, &v) == MDB_SUCCESS && v.mv_size == 8) return GetFixed64BE(v.mv_data);
    return 0;
  }

  // Removes delivery ids journaled before cutoff_us (bounded per call, like
  // the event trim). Returns an LMDB code.
  int TrimDedup(MDB_txn* txn, int64_t cutoff_us, uint64_t* removed_out) {
    LmdbCursor cur;
    int rc = cur.Open(txn, dedup_age_);
    if (rc) return rc;
    MDB_val k, v;
    uint64_t& removed = *removed_out;
    rc = mdb_cursor_get(cur.get(), &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS && removed < 100000 && k.mv_size >= 8) {
      if (static_cast<int64_t>(GetFixed64BE(k.mv_data)) >= cutoff_us) break;
      MDB_val dk{k.mv_size - 8, static_cast<char*>(k.mv_data) + 8};
      rc = mdb_del(txn, dedup_, &dk, nullptr);
      if (rc && rc != MDB_NOTFOUND) return rc;
      if ((rc = mdb_cursor_del(cur.get(), 0))) return rc;
      ++removed;
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
    }
    return rc == MDB_NOTFOUND || rc == MDB_SUCCESS ? MDB_SUCCESS : rc;
  }

  // One write transaction removing the position and the delivery ids of
  // `source`. Returns an LMDB code.
  int TryForget(const std::string& source, SourcePosition* had) {
    std::shared_lock<std::shared_mutex> rlock(resize_mu_);
    LmdbTxn txn;
    int rc = txn.Begin(env_, false);
    if (rc) return rc;
    MDB_val sk = Val(source), sv;
    rc = mdb_get(txn.get(), sources_, &sk, &sv);
    if (rc == MDB_SUCCESS) {
      DecodePosition(View(sv), had);
      if ((rc = mdb_del(txn.get(), sources_, &sk, nullptr))) return rc;
    } else if (rc != MDB_NOTFOUND) {
      return rc;
    }
    // Its state (tables read, backfills) describes the forgotten position.
    const std::string state_key = SourceStateKey(source);
    MDB_val stk = Val(state_key);
    rc = mdb_del(txn.get(), meta_, &stk, nullptr);
    if (rc && rc != MDB_NOTFOUND) return rc;
    // Its dedup keys are "source NUL id": one contiguous range.
    const std::string prefix = DedupKey(source, "");
    LmdbCursor cur;
    if ((rc = cur.Open(txn.get(), dedup_))) return rc;
    MDB_val k = Val(prefix), v;
    rc = mdb_cursor_get(cur.get(), &k, &v, MDB_SET_RANGE);
    while (rc == MDB_SUCCESS && View(k).substr(0, prefix.size()) == prefix) {
      const int64_t at = v.mv_size >= 16 ? static_cast<int64_t>(GetFixed64BE(static_cast<char*>(v.mv_data) + 8)) : 0;
      std::string age = DedupAgeKey(at, std::string(View(k)));
      MDB_val ak = Val(age);
      rc = mdb_del(txn.get(), dedup_age_, &ak, nullptr);
      if (rc && rc != MDB_NOTFOUND) return rc;
      if ((rc = mdb_cursor_del(cur.get(), 0))) return rc;
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);  // after a delete: the entry that followed it
    }
    if (rc && rc != MDB_NOTFOUND) return rc;
    cur.Close();
    return txn.Commit();
  }

  // Delivery-id dedup for one event. Returns MDB_SUCCESS and sets *dup, or an
  // LMDB code. `fresh` holds the ids first journaled by the current batch,
  // whose further events are kept (one delivery may carry many events).
  int CheckDelivery(MDB_txn* txn, const std::string& source, const ChangeEvent& e, uint64_t seq, int64_t now,
                    std::unordered_set<std::string>* fresh, bool* dup) {
    *dup = false;
    if (e.delivery_id.empty() || fresh->count(e.delivery_id)) return MDB_SUCCESS;
    std::string key = DedupKey(source, e.delivery_id);
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn, dedup_, &k, &v);
    if (rc == MDB_SUCCESS) {
      *dup = true;
      return MDB_SUCCESS;
    }
    if (rc != MDB_NOTFOUND) return rc;
    std::string val;
    PutFixed64BE(&val, seq);
    PutFixed64BE(&val, static_cast<uint64_t>(now));
    MDB_val dv = Val(val);
    if ((rc = mdb_put(txn, dedup_, &k, &dv, 0))) return rc;
    std::string age = DedupAgeKey(now, key);
    MDB_val ak = Val(age), empty{0, nullptr};
    if ((rc = mdb_put(txn, dedup_age_, &ak, &empty, 0))) return rc;
    fresh->insert(e.delivery_id);
    return MDB_SUCCESS;
  }

  // One write transaction for all batches. Returns an LMDB code.
  int TryAppend(std::vector<AppendBatch>& batches, const SideWrites& side, int64_t now, AppendResult* res) {
    std::shared_lock<std::shared_mutex> rlock(resize_mu_);
    LmdbTxn txn;
    int rc = txn.Begin(env_, false);
    if (rc) return rc;
    uint64_t seq = LastSeqIn(txn.get());
    LmdbCursor cur;
    if ((rc = cur.Open(txn.get(), events_))) return rc;
    std::string buf;
    res->seqs.resize(batches.size());
    for (size_t bi = 0; bi < batches.size(); ++bi) {
      AppendBatch& b = batches[bi];
      std::vector<uint64_t>& seqs = res->seqs[bi];
      seqs.assign(b.events.size(), 0);
      SourcePosition durable;
      MDB_val sk = Val(b.source), sv;
      rc = mdb_get(txn.get(), sources_, &sk, &sv);
      if (rc == MDB_SUCCESS) {
        DecodePosition(View(sv), &durable);
      } else if (rc != MDB_NOTFOUND) {
        return rc;
      }
      SourcePosition high = durable;
      std::unordered_set<std::string> fresh;
      for (size_t ei = 0; ei < b.events.size(); ++ei) {
        ChangeEvent& e = b.events[ei];
        if (e.position <= high) {
          ++res->duplicates;
          continue;
        }
        high = e.position;
        bool dup = false;
        if ((rc = CheckDelivery(txn.get(), b.source, e, seq + 1, now, &fresh, &dup))) return rc;
        if (dup) {
          ++res->duplicates;
          continue;
        }
        buf.clear();
        EncodeEvent(e, now, &buf);
        std::string key = SeqKey(++seq);
        MDB_val k = Val(key), v = Val(buf);
        if ((rc = mdb_cursor_put(cur.get(), &k, &v, MDB_APPEND))) return rc;
        seqs[ei] = seq;
        ++res->appended;
      }
      if (b.upto > high) high = b.upto;
      if (high > durable) {
        std::string pv = EncodePosition(high);
        MDB_val v = Val(pv);
        if ((rc = mdb_put(txn.get(), sources_, &sk, &v, 0))) return rc;
        if (b.state) {
          std::string key = SourceStateKey(b.source);
          MDB_val k = Val(key), sv2 = Val(*b.state);
          if ((rc = mdb_put(txn.get(), meta_, &k, &sv2, 0))) return rc;
        }
      }
    }
    std::string sv = SeqKey(seq);
    MDB_val mk = Val("last_seq"), mv = Val(sv);
    if ((rc = mdb_put(txn.get(), meta_, &mk, &mv, 0))) return rc;
    res->last_seq = seq;
    auto put_meta = [&](const std::vector<std::pair<std::string, std::string>>& puts) {
      for (const auto& [key, value] : puts) {
        MDB_val k = Val(key), v = Val(value);
        if (int r = mdb_put(txn.get(), meta_, &k, &v, 0)) return r;
      }
      return 0;
    };
    if ((rc = put_meta(side.meta_puts))) return rc;
    for (const std::string& key : side.meta_deletes) {
      MDB_val k = Val(key);
      rc = mdb_del(txn.get(), meta_, &k, nullptr);
      if (rc && rc != MDB_NOTFOUND) return rc;
    }
    for (const ExceptionRecord& r : side.exceptions) {
      std::string key = ExceptionKey(r.target, r.seq), value = EncodeException(r);
      MDB_val k = Val(key), v = Val(value);
      if ((rc = mdb_put(txn.get(), exceptions_, &k, &v, 0))) return rc;
    }
    if (side.after_append) {
      std::vector<std::pair<std::string, std::string>> late;
      side.after_append(*res, &late);
      if ((rc = put_meta(late))) return rc;
    }
    cur.Close();
    return txn.Commit();
  }

  // LMDB writes its reader table through a shared map of lock.mdb: on a full
  // file system touching an unallocated page of it is SIGBUS, not an error.
  // So the lock file's blocks are allocated first, and a new journal needs
  // room for its initial map. (data.mdb is written with pwrite, not through
  // the map, so running out of room later is ENOSPC from a commit.)
  Status EnsureRoom(bool exists) {
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

  Status NoSpace(uint64_t need, uint64_t avail, const std::string& what) {
    return Status::ResourceExhausted("no space left on device at " + options_.path + ", need " + std::to_string(need) +
                                     " bytes" + what + ", " + std::to_string(avail) + " available");
  }

  Status Grow() {
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

  struct MapSpace {
    uint64_t map_size = 0;
    uint64_t free_bytes = 0;         // usable by the next write transaction
    uint64_t last_commit_bytes = 0;  // freed by the last commit: usable after one more
    uint64_t reader_held_bytes = 0;  // freed after the oldest reader's snapshot
    int oldest_reader_pid = 0;
  };

  bool AtMaxMapSize() {
    MDB_envinfo info;
    mdb_env_info(env_, &info);
    return info.me_mapsize >= options_.max_map_size;
  }

  // REQUIRES: writer_mu_ is held. Logs the condition once until an append succeeds again.
  Status MapFull(const MapSpace& space) {
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
  uint64_t HousekeepingReserve() const {
    return std::clamp<uint64_t>(options_.max_map_size / 64, 256ull << 10, 256ull << 20);
  }

  // The oldest snapshot any reader slot holds, other than `self` (one slot of
  // this process at that snapshot). UINT64_MAX when there is none.
  struct OldestReader {
    uint64_t txnid = UINT64_MAX;
    int pid = 0;
  };
  OldestReader FindOldestReader(uint64_t self) {
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

  MapSpace Space() {
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
  bool ReclaimFreedPages(uint64_t worth) {
    bool changed = ClearStaleReaders() > 0;
    // Asked after the slots are cleared: what they held may now wait only
    // for the last commit.
    const uint64_t waiting = Space().last_commit_bytes;
    if (waiting > 0 && waiting >= worth && CommitMarker() == MDB_SUCCESS) changed = true;
    return changed;
  }

  // More than the few pages the extra commit itself copies and frees.
  static constexpr uint64_t kMarkerWorthBytes = 64 << 10;

  // REQUIRES: writer_mu_ is held. A small commit (the last_seq mark rewritten
  // unchanged) whose only purpose is to make the pages the previous commit
  // freed reusable. Returns an LMDB code.
  int CommitMarker() {
    std::shared_lock<std::shared_mutex> rlock(resize_mu_);
    LmdbTxn txn;
    int rc = txn.Begin(env_, false);
    if (rc) return rc;
    std::string sv = SeqKey(LastSeqIn(txn.get()));
    MDB_val mk = Val("last_seq"), mv = Val(sv);
    if ((rc = mdb_put(txn.get(), meta_, &mk, &mv, 0))) return rc;
    return txn.Commit();
  }

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

  Status PutKv(MDB_dbi dbi, const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> wlock(writer_mu_);
    for (int attempt = 0;; ++attempt) {
      int rc;
      {
        std::shared_lock<std::shared_mutex> rlock(resize_mu_);
        LmdbTxn txn;
        rc = txn.Begin(env_, false);
        if (rc == MDB_SUCCESS) {
          MDB_val k = Val(key), v = Val(value);
          rc = mdb_put(txn.get(), dbi, &k, &v, 0);
          if (rc == MDB_SUCCESS) rc = txn.Commit();
        }
      }
      if (rc == MDB_SUCCESS) return Status::OK();
      if (rc == MDB_MAP_FULL && attempt < 8) {
        HANDOFF_RETURN_IF_ERROR(Grow());
        continue;
      }
      return LmdbError(rc, "journal write", options_.path);
    }
  }

  Result<std::optional<std::string>> GetKv(MDB_dbi dbi, const std::string& key) {
    std::optional<std::string> out;
    Status st = WithReadTxn([&](MDB_txn* txn) -> Status {
      MDB_val k = Val(key), v;
      int rc = mdb_get(txn, dbi, &k, &v);
      if (rc == MDB_NOTFOUND) return Status::OK();
      if (rc) return LmdbError(rc, "journal read", options_.path);
      out = std::string(View(v));
      return Status::OK();
    });
    if (!st.ok()) return st;
    return out;
  }

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
  MDB_dbi events_ = 0, sources_ = 0, meta_ = 0, targets_ = 0, exceptions_ = 0, dedup_ = 0, dedup_age_ = 0;
  std::mutex writer_mu_;
  std::shared_mutex resize_mu_;
  std::mutex wait_mu_;
  std::condition_variable wait_cv_;
  uint64_t last_seq_ = 0;  // guarded by wait_mu_
  bool full_reported_ = false;  // the full map was logged; guarded by writer_mu_
};

}  // namespace

Result<std::unique_ptr<Journal>> Journal::Open(const JournalOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("journal.path is empty");
  auto j = std::make_unique<LmdbJournal>(options);
  Status st = j->Init();
  if (!st.ok()) return st;
  j->ClearStaleReaders();
  return std::unique_ptr<Journal>(std::move(j));
}

}  // namespace handoff
