// LmdbJournal (lmdb_journal.h): the append path (one write transaction for
// the batches of every agent, durable positions, delivery-id dedup, side
// writes) and the read path.
#include "lmdb_journal.h"

#include "handoff/engine/clock.h"
#include "handoff/engine/event_codec.h"

namespace handoff {

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
      Status st = DecodeEvent(View(v), &entry.event, &entry.journaled_at_us);
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