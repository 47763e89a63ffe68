// LmdbJournal (lmdb_journal.h): the small records beside the events: source
// positions (and forgetting a source), meta records, target positions.
#include "lmdb_journal.h"

namespace handoff {

Result<SourcePosition> LmdbJournal::SourceDurable(const std::string& source) {
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

Result<std::vector<std::pair<std::string, SourcePosition>>> LmdbJournal::Sources() {
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

Result<SourcePosition> LmdbJournal::ForgetSource(const std::string& source) {
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

// One write transaction removing the position and the delivery ids of
// `source`. Returns an LMDB code.
int LmdbJournal::TryForget(const std::string& source, SourcePosition* had) {
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
  // And what it staged of transactions it never committed.
  const std::string staged = StreamPrefix(source, std::nullopt);
  if ((rc = cur.Open(txn.get(), streams_))) return rc;
  k = Val(staged);
  rc = mdb_cursor_get(cur.get(), &k, &v, MDB_SET_RANGE);
  while (rc == MDB_SUCCESS && View(k).substr(0, staged.size()) == staged) {
    if ((rc = mdb_cursor_del(cur.get(), 0))) return rc;
    rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
  }
  if (rc && rc != MDB_NOTFOUND) return rc;
  cur.Close();
  return txn.Commit();
}

Status LmdbJournal::PutMeta(const std::string& key, const std::string& value) { return PutKv(meta_, key, value); }

Result<std::optional<std::string>> LmdbJournal::GetMeta(const std::string& key) { return GetKv(meta_, key); }

Status LmdbJournal::DeleteMeta(const std::string& key) {
  std::vector<AppendBatch> none;
  SideWrites side;
  side.meta_deletes.push_back(key);
  return AppendWithMeta(none, side, nullptr);
}

namespace {

Status ScanPrefix(MDB_txn* txn, MDB_dbi dbi, const std::string& prefix,
                  const std::function<bool(std::string_view, std::string_view)>& f, const std::string& path) {
  LmdbCursor cur;
  int rc = cur.Open(txn, dbi);
  if (rc) return LmdbError(rc, "meta cursor", path);
  MDB_val k = Val(prefix), v;
  rc = mdb_cursor_get(cur.get(), &k, &v, prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
  while (rc == MDB_SUCCESS) {
    std::string_view key = View(k);
    if (key.substr(0, prefix.size()) != prefix) break;
    if (!f(key, View(v))) break;
    rc = mdb_cursor_get(cur.get(), &k, &v, MDB_NEXT);
  }
  if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) return LmdbError(rc, "meta scan", path);
  return Status::OK();
}

}  // namespace

Status LmdbJournal::ScanMeta(const std::string& prefix,
                             const std::function<bool(std::string_view, std::string_view)>& f) {
  return WithReadTxn([&](MDB_txn* txn) -> Status { return ScanPrefix(txn, meta_, prefix, f, options_.path); });
}

namespace {

// One read transaction over the meta database, with the resize lock held in
// shared mode for as long as it is open (the map is not moved under it).
class LmdbMetaReader final : public MetaReader {
 public:
  LmdbMetaReader(std::shared_lock<std::shared_mutex> lock, MDB_dbi dbi, std::string path)
      : lock_(std::move(lock)), dbi_(dbi), path_(std::move(path)) {}
  LmdbTxn& txn() { return txn_; }

  Result<std::optional<std::string>> Get(const std::string& key) override {
    MDB_val k = Val(key), v;
    int rc = mdb_get(txn_.get(), dbi_, &k, &v);
    if (rc == MDB_NOTFOUND) return std::optional<std::string>();
    if (rc) return LmdbError(rc, "journal read", path_);
    return std::optional<std::string>(std::string(View(v)));
  }
  Status Scan(const std::string& prefix, const std::function<bool(std::string_view, std::string_view)>& f) override {
    return ScanPrefix(txn_.get(), dbi_, prefix, f, path_);
  }

 private:
  std::shared_lock<std::shared_mutex> lock_;  // released after txn_ ends (members end in reverse order)
  LmdbTxn txn_;
  MDB_dbi dbi_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<MetaReader>> LmdbJournal::ReadMeta() {
  for (int attempt = 0;; ++attempt) {
    auto reader = std::make_unique<LmdbMetaReader>(std::shared_lock<std::shared_mutex>(resize_mu_), meta_,
                                                   options_.path);
    int rc = reader->txn().Begin(env_, true);
    if (rc == MDB_MAP_RESIZED && attempt < 3) {
      reader.reset();
      std::unique_lock<std::shared_mutex> lk(resize_mu_);
      mdb_env_set_mapsize(env_, 0);
      continue;
    }
    if (rc) return LmdbError(rc, "journal read transaction", options_.path);
    return std::unique_ptr<MetaReader>(std::move(reader));
  }
}

Status LmdbJournal::SetTargetApplied(const std::string& target, uint64_t seq) {
  return PutKv(targets_, target, SeqKey(seq));
}

Result<uint64_t> LmdbJournal::TargetApplied(const std::string& target) {
  auto v = GetKv(targets_, target);
  if (!v.ok()) return v.status();
  if (!v->has_value() || (*v)->size() != 8) return uint64_t{0};
  return GetFixed64BE((*v)->data());
}

Result<std::vector<std::pair<std::string, uint64_t>>> LmdbJournal::Targets() {
  std::vector<std::pair<std::string, uint64_t>> out;
  Status st = ScanAll(targets_, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), v.size() == 8 ? GetFixed64BE(v.data()) : 0);
    return Status::OK();
  });
  if (!st.ok()) return st;
  return out;
}

Status LmdbJournal::PutKv(MDB_dbi dbi, const std::string& key, const std::string& value) {
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

Result<std::optional<std::string>> LmdbJournal::GetKv(MDB_dbi dbi, const std::string& key) {
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

}  // namespace handoff