// LmdbJournal (lmdb_journal.h): retention. Removes the events every target
// has applied once they are older than journal.retention, and delivery ids
// of the same age; both are bounded per call.
#include "lmdb_journal.h"

#include "handoff/engine/log.h"

namespace handoff {
namespace {


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


}  // namespace

Result<uint64_t> LmdbJournal::Trim(uint64_t upto_seq, int64_t cutoff_us) {
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
  // What the trim freed is out of reach of the next transaction (see
  // lmdb_journal_map.cc); one more commit makes it usable by the next append
  // and counted as free at once. Should it fail, a full map's append makes
  // it again; the trim itself stands.
  if (removed + dedup_removed > 0 && (rc = CommitMarker()))
    LogWarn("journal", "commit after the trim: {}", LmdbError(rc, "marker", options_.path).ToString());
  return removed;
}

Result<uint64_t> LmdbJournal::ApplyRetention(const std::vector<std::string>& targets, int64_t now_us) {
  uint64_t min_applied = UINT64_MAX;
  for (const auto& t : targets) {
    auto a = TargetApplied(t);
    if (!a.ok()) return a.status();
    min_applied = std::min(min_applied, *a);
  }
  if (targets.empty()) min_applied = 0;
  return Trim(min_applied, now_us - options_.retention_us);
}

// Removes delivery ids journaled before cutoff_us (bounded per call, like
// the event trim). Returns an LMDB code.
int LmdbJournal::TrimDedup(MDB_txn* txn, int64_t cutoff_us, uint64_t* removed_out) {
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

}  // namespace handoff