// LmdbJournal (lmdb_journal.h): the append path (one write transaction for
// the batches of every agent, durable positions, delivery-id dedup, side
// writes) and the read path.
#include "lmdb_journal.h"

#include "handoff/engine/clock.h"
#include "handoff/engine/event_codec.h"
#include "handoff/engine/fault.h"
#include "handoff/engine/log.h"

namespace handoff {

namespace {

// Staged events moved into the sequence per write transaction at a commit.
constexpr size_t kMoveChunk = 4096;

uint32_t GetFixed32BE(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

}  // namespace

void FinishStreamedEvent(const std::string& source, const StreamSegment& commit, ChangeEvent* e) {
  e->position.lsn = commit.commit_lsn;
  e->xid = commit.xid;
  e->commit_time_us = commit.commit_time_us;
  e->origin = commit.origin;
  e->correlation_id = source + ":" + FormatPosition(e->position);
}

Status LmdbJournal::Append(std::vector<AppendBatch>& batches, AppendResult* result) {
  return AppendWithMeta(batches, SideWrites{}, result);
}

Status LmdbJournal::AppendWithMeta(std::vector<AppendBatch>& batches, const SideWrites& side, AppendResult* result) {
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
    drop_staged_.clear();
    int rc = TryAppend(batches, side, now, &res);
    SettleShapes(rc == MDB_SUCCESS);
    if (rc == MDB_SUCCESS) {
      full_reported_ = false;
      DropStaged();
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

// Delivery-id dedup for one event. Returns MDB_SUCCESS and sets *dup, or an
// LMDB code. `fresh` holds the ids first journaled by the current batch,
// whose further events are kept (one delivery may carry many events).
int LmdbJournal::CheckDelivery(MDB_txn* txn, const std::string& source, const ChangeEvent& e, uint64_t seq, int64_t now,
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

// The staged records of streamed transactions committed by the last append,
// in write transactions of kMoveChunk deletes. A failure (or a crash) leaves
// records nothing reads; the agent's next reset drops them (kReset, sent before a
// session stages its first block).
void LmdbJournal::DropStaged() {
  for (const auto& [source, xid] : drop_staged_) {
    const std::string prefix = StreamPrefix(source, xid);
    for (bool more = true; more;) {
      std::shared_lock<std::shared_mutex> rlock(resize_mu_);
      LmdbTxn txn;
      LmdbCursor sc;
      int rc = txn.Begin(env_, false);
      if (!rc) rc = sc.Open(txn.get(), streams_);
      MDB_val k = Val(prefix), v;
      if (!rc) rc = mdb_cursor_get(sc.get(), &k, &v, MDB_SET_RANGE);
      size_t n = 0;
      while (rc == MDB_SUCCESS && View(k).substr(0, prefix.size()) == prefix && n < kMoveChunk) {
        if ((rc = mdb_cursor_del(sc.get(), 0))) break;
        ++n;
        rc = mdb_cursor_get(sc.get(), &k, &v, MDB_NEXT);
      }
      more = rc == MDB_SUCCESS && View(k).substr(0, prefix.size()) == prefix;
      if (rc == MDB_NOTFOUND || more) rc = MDB_SUCCESS;
      sc.Close();
      if (!rc) rc = txn.Commit();
      if (rc) {
        LogWarn("journal", "cannot drop the staged records of a committed transaction of {}: {} (they are dropped "
                "when its agent next resets what it staged)", source, mdb_strerror(rc));
        more = false;
      }
    }
  }
  drop_staged_.clear();
}

// One write transaction for all batches. Returns an LMDB code.
int LmdbJournal::TryAppend(std::vector<AppendBatch>& batches, const SideWrites& side, int64_t now, AppendResult* res) {
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
    if (b.stream && b.stream->kind == StreamSegment::Kind::kStage) {
      // Staged apart from the sequence; their positions are provisional.
      for (const ChangeEvent& e : b.events) {
        buf.clear();
        for (int i = 3; i >= 0; --i) buf.push_back(static_cast<char>((e.xid >> (8 * i)) & 0xff));
        EncodeEvent(e, now, &buf);
        std::string key = StreamKey(b.source, b.stream->xid, e.position.ordinal);
        MDB_val k = Val(key), v = Val(buf);
        if ((rc = mdb_put(txn.get(), streams_, &k, &v, 0))) return rc;
        ++res->staged;
      }
    }
    if (b.stream && (b.stream->kind == StreamSegment::Kind::kAbort || b.stream->kind == StreamSegment::Kind::kReset)) {
      const StreamSegment& seg = *b.stream;
      const bool all = seg.kind == StreamSegment::Kind::kReset || seg.subxid == seg.xid || seg.subxid == 0;
      const std::string prefix =
          StreamPrefix(b.source, seg.kind == StreamSegment::Kind::kReset ? std::nullopt : std::optional<uint32_t>(seg.xid));
      LmdbCursor sc;
      if ((rc = sc.Open(txn.get(), streams_))) return rc;
      MDB_val k = Val(prefix), v;
      rc = mdb_cursor_get(sc.get(), &k, &v, MDB_SET_RANGE);
      while (rc == MDB_SUCCESS && View(k).substr(0, prefix.size()) == prefix) {
        bool drop = all || (v.mv_size >= 4 && GetFixed32BE(v.mv_data) == seg.subxid);
        if (drop && (rc = mdb_cursor_del(sc.get(), 0))) return rc;
        rc = mdb_cursor_get(sc.get(), &k, &v, MDB_NEXT);  // after a delete: the entry that followed it
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return rc;
    }
    if (b.stream && b.stream->kind == StreamSegment::Kind::kCommit) {
      // The staged events enter the sequence in their order, numbered
      // {commit_lsn, 1..n} as protocol 1 would number the same changes (an
      // aborted subtransaction leaves no gap), in write transactions of
      // kMoveChunk events, so a transaction of any size needs one chunk of
      // dirty pages. Each chunk moves the source's durable position with it.
      // Staged records are only read here and dropped once the commit is
      // durable (DropStaged), so a retry numbers them the same and skips what
      // a chunk already moved; after a crash the agent resends the
      // transaction, which is staged and numbered again the same way.
      const std::string prefix = StreamPrefix(b.source, b.stream->xid);
      LmdbCursor sc;
      if ((rc = sc.Open(txn.get(), streams_))) return rc;
      uint64_t n = 0;
      std::string last;  // the last staged key read (a chunk commit closes the cursor)
      MDB_val k = Val(prefix), v;
      rc = mdb_cursor_get(sc.get(), &k, &v, MDB_SET_RANGE);
      while (rc == MDB_SUCCESS && View(k).substr(0, prefix.size()) == prefix) {
        ChangeEvent e;
        if (v.mv_size < 4 || !DecodeEvent(View(v).substr(4), &e, nullptr).ok()) return MDB_CORRUPTED;
        e.position.ordinal = ++n;
        FinishStreamedEvent(b.source, *b.stream, &e);
        if (e.position > high) {
          high = e.position;
          buf.clear();
          if ((rc = EncodeForJournal(txn.get(), e, now, &buf))) return rc;
          std::string key = SeqKey(++seq);
          MDB_val ek = Val(key), ev = Val(buf);
          if ((rc = mdb_cursor_put(cur.get(), &ek, &ev, MDB_APPEND))) return rc;
          ++res->appended;
        } else {
          ++res->duplicates;
        }
        if (n % kMoveChunk == 0) {
          last.assign(View(k));
          std::string pv = EncodePosition(high), lv = SeqKey(seq);
          MDB_val pk = Val(b.source), pvv = Val(pv), lk = Val("last_seq"), lvv = Val(lv);
          if ((rc = mdb_put(txn.get(), sources_, &pk, &pvv, 0)) || (rc = mdb_put(txn.get(), meta_, &lk, &lvv, 0)))
            return rc;
          sc.Close();
          cur.Close();
          if ((rc = txn.Commit())) return rc;
          SettleShapes(true);
          CrashPoint("journal.stream_chunk_moved");
          if ((rc = txn.Begin(env_, false))) return rc;
          if ((rc = cur.Open(txn.get(), events_)) || (rc = sc.Open(txn.get(), streams_))) return rc;
          durable = high;
          k = Val(last);
          rc = mdb_cursor_get(sc.get(), &k, &v, MDB_SET_KEY);
          if (rc) return rc;
        }
        rc = mdb_cursor_get(sc.get(), &k, &v, MDB_NEXT);
      }
      if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return rc;
      // The transaction's own events (its commit marker) follow.
      for (ChangeEvent& e : b.events) e.position = {b.stream->commit_lsn, ++n};
      drop_staged_.emplace_back(b.source, b.stream->xid);
    }
    std::unordered_set<std::string> fresh;
    // A staged part's events are not in the sequence (yet); an abort or a reset has none.
    const bool staged = b.stream && b.stream->kind != StreamSegment::Kind::kCommit;
    for (size_t ei = 0; !staged && ei < b.events.size(); ++ei) {
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
      if ((rc = EncodeForJournal(txn.get(), e, now, &buf))) return rc;
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
      if (b.state && !staged) {
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
  for (const auto& [target, applied] : side.targets_applied) {
    std::string value = SeqKey(applied);
    MDB_val k = Val(target), v = Val(value);
    if ((rc = mdb_put(txn.get(), targets_, &k, &v, 0))) return rc;
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

uint64_t LmdbJournal::LastSeqIn(MDB_txn* txn) {
  LmdbCursor cur;
  if (cur.Open(txn, events_)) return 0;
  MDB_val k, v;
  if (mdb_cursor_get(cur.get(), &k, &v, MDB_LAST) == MDB_SUCCESS) return GetFixed64BE(k.mv_data);
  // Empty after a full trim: the sequence continues from the stored high-water mark.
  MDB_val mk = Val("last_seq");
  if (mdb_get(txn, meta_, &mk, &v) == MDB_SUCCESS && v.mv_size == 8) return GetFixed64BE(v.mv_data);
  return 0;
}

Status LmdbJournal::Read(uint64_t from_seq, size_t max_events, std::vector<JournalEntry>* out) {
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
      Status st = DecodeEvent(View(v), &entry.event, &entry.journaled_at_us,
                              [&](uint32_t id) { return FindShape(txn, id); });
      if (!st.ok()) return Status::Corruption("journal entry " + std::to_string(entry.seq) + ": " + st.message());
      out->push_back(std::move(entry));
      rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
    }
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return LmdbError(rc, "journal read", options_.path);
    return Status::OK();
  });
}

bool LmdbJournal::WaitFor(uint64_t seq, std::chrono::milliseconds timeout) {
  {
    std::unique_lock<std::mutex> lk(wait_mu_);
    if (last_seq_ >= seq) return true;
    wait_cv_.wait_for(lk, timeout, [&] { return last_seq_ >= seq; });
    if (last_seq_ >= seq) return true;
  }
  // Another process may be the writer.
  return LastSeq() >= seq;
}

uint64_t LmdbJournal::LastSeq() {
  uint64_t last = 0;
  Status st = WithReadTxn([&](MDB_txn* txn) {
    last = LastSeqIn(txn);
    return Status::OK();
  });
  (void)st;
  return last;
}

JournalStats LmdbJournal::Stats() {
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

}  // namespace handoff