#include "chunked_snapshot.h"

#include <fmt/format.h>

#include <random>
#include <thread>

namespace handoff {

ChunkedSnapshot::ChunkedSnapshot(std::string source, size_t chunk_rows)
    : source_(std::move(source)), chunk_rows_(chunk_rows == 0 ? 1 : chunk_rows), nonce_(std::random_device{}() * 4294967296ull + std::random_device{}()) {}

std::string ChunkedSnapshot::Watermark(char which) const {
  return fmt::format("{}\n{:016x}\n{}\n{}", source_, nonce_, number_, which);
}

std::string ChunkedSnapshot::KeyString(const std::vector<std::string>& key) {
  std::string out;
  for (const auto& v : key) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
  }
  return out;
}

Status ChunkedSnapshot::Start(PgConnection* conn, const BackfillTask& task, const TableName& table) {
  TableSnapshotReader reader(conn);
  auto shape = reader.Describe(table);
  if (!shape.ok()) return shape.status();
  if (shape->columns.empty()) return Status::NotFound("table " + table.Quoted() + " has no columns (or does not exist)");
  if (shape->key_columns.empty())
    return Status::InvalidArgument("table " + table.Quoted() + " has no key to read it in chunks by");
  std::string cols, keys;
  for (const auto& c : shape->columns) cols += (cols.empty() ? "" : ", ") + QuoteIdent(c.name);
  for (const auto& k : shape->key_columns) keys += (keys.empty() ? "" : ", ") + QuoteIdent(k);
  std::vector<std::string> params;
  std::string where;
  auto bound = [&](const char* op, const std::vector<std::string>& key) {
    if (key.size() != shape->key_columns.size()) return false;
    std::string ps;
    for (const auto& v : key) {
      params.push_back(v);
      ps += (ps.empty() ? "$" : ", $") + std::to_string(params.size());
    }
    where += (where.empty() ? " WHERE " : " AND ") + ("(" + keys + ") " + op + " (" + ps + ")");
    return true;
  };
  const auto& start = task.after_key.empty() ? task.from_key : task.after_key;
  if (!start.empty() && !bound(task.after_key.empty() ? ">=" : ">", start))
    return Status::InvalidArgument(fmt::format("backfill of {}: its key has {} columns, the range {}", table.Quoted(),
                                               shape->key_columns.size(), start.size()));
  if (!task.to_key.empty() && !bound("<=", task.to_key))
    return Status::InvalidArgument(fmt::format("backfill of {}: its key has {} columns, the range end {}",
                                               table.Quoted(), shape->key_columns.size(), task.to_key.size()));
  ++number_;
  // A transaction whose commit record precedes our snapshot can still be
  // running for it (a backend between its WAL flush and leaving the proc
  // array): wait until every transaction the server lists as running that
  // has already committed or aborted is gone (microseconds).
  for (int i = 0; i < 500; ++i) {
    auto busy = conn->Fetch(
        "SELECT count(*) FROM pg_snapshot_xip(pg_current_snapshot()) x"
        " WHERE pg_xact_status(x) IS DISTINCT FROM 'in progress'");
    if (!busy.ok()) return busy.status();
    if (std::string(busy->value(0, 0)) == "0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  HANDOFF_RETURN_IF_ERROR(conn->Fetch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  auto snap = conn->Fetch(
      "SELECT pg_snapshot_xmax(s)::text, array_to_string(ARRAY(SELECT pg_snapshot_xip(s)), ',')"
      " FROM (SELECT pg_current_snapshot() s) q");
  if (!snap.ok()) return snap.status();
  // xid8 values: the low 32 bits are what pgoutput's Begin carries.
  xmax_ = static_cast<uint32_t>(std::strtoull(snap->value(0, 0), nullptr, 10));
  running_.clear();
  for (const char* p = snap->value(0, 1); *p;) {
    char* end = nullptr;
    running_.insert(static_cast<uint32_t>(std::strtoull(p, &end, 10)));
    p = *end == ',' ? end + 1 : end;
  }
  auto res = conn->Fetch("SELECT " + cols + " FROM " + table.Quoted() + where + " ORDER BY " + keys + " LIMIT " +
                            std::to_string(chunk_rows_),
                        params);
  if (!res.ok()) return res.status();
  HANDOFF_RETURN_IF_ERROR(conn->Fetch("COMMIT").status());
  // Parameters, not literals: the content names this session and chunk.
  const std::string emit = "SELECT pg_logical_emit_message(true, '" + std::string(kWatermarkPrefix) + "', $1)";
  HANDOFF_RETURN_IF_ERROR(conn->Fetch(emit, {Watermark('H')}).status());

  const PgResult& r = *res;
  const int n = r.rows();
  rows_.clear();
  dropped_.assign(static_cast<size_t>(n), false);
  by_key_.clear();
  std::vector<int> key_at;
  for (const auto& k : shape->key_columns)
    for (size_t i = 0; i < shape->columns.size(); ++i)
      if (shape->columns[i].name == k) key_at.push_back(static_cast<int>(i));
  if (key_at.size() != shape->key_columns.size())
    return Status::InvalidArgument("table " + table.Quoted() + ": a key column is not among its columns");
  std::vector<std::string> key;
  for (int i = 0; i < n; ++i) {
    std::vector<Column> row = shape->columns;
    for (int c = 0; c < r.columns(); ++c) {
      if (r.is_null(i, c)) continue;
      row[c].kind = Column::Kind::kText;
      row[c].data.assign(r.value(i, c), static_cast<size_t>(r.length(i, c)));
    }
    key.clear();
    for (int at : key_at) key.push_back(row[at].data);
    by_key_[KeyString(key)] = rows_.size();
    rows_.push_back(std::move(row));
  }
  last_key_ = n > 0 ? key : task.after_key;
  last_ = static_cast<size_t>(n) < chunk_rows_;
  key_columns_ = shape->key_columns;
  table_ = table.schema + "." + table.table;
  open_ = true;
  high_seen_ = false;
  started_ = std::chrono::steady_clock::now();
  return Status::OK();
}

bool ChunkedSnapshot::OnWatermark(const std::string& content) {
  if (!open_ || content != Watermark('H')) return false;
  high_seen_ = true;
  return true;
}

bool ChunkedSnapshot::SeenBySelect(uint32_t xid) const {
  if (running_.count(xid)) return false;
  // xid >= xmax (modulo 2^32, as PostgreSQL compares them): began after.
  return static_cast<int32_t>(xid - xmax_) < 0;
}

void ChunkedSnapshot::OnChange(const TableName& table, const std::vector<std::string>& key, uint32_t xid) {
  if (!open_ || SeenBySelect(xid) || table.schema + "." + table.table != table_) return;
  auto it = by_key_.find(KeyString(key));
  if (it != by_key_.end()) dropped_[it->second] = true;
}

void ChunkedSnapshot::OnTruncate(const TableName& table, uint32_t xid) {
  if (!open_ || SeenBySelect(xid) || table.schema + "." + table.table != table_) return;
  dropped_.assign(dropped_.size(), true);
}

ChunkedSnapshot::Done ChunkedSnapshot::Finish() {
  Done d;
  d.key_columns = key_columns_;
  d.last_key = last_key_;
  d.last = last_;
  for (size_t i = 0; i < rows_.size(); ++i) {
    if (dropped_[i]) {
      ++d.dropped;
      continue;
    }
    d.rows.push_back(std::move(rows_[i]));
  }
  rows_.clear();
  by_key_.clear();
  open_ = high_seen_ = false;
  return d;
}

uint64_t EstimateRows(PgConnection* conn, const TableName& table) {
  // reltuples is -1 before the first VACUUM or ANALYZE; a partitioned
  // table's rows are its partitions'.
  auto res = conn->Fetch(
      "SELECT CASE WHEN c.relkind = 'p' THEN (SELECT COALESCE(sum(GREATEST(p.reltuples, 0)), 0) FROM"
      " pg_partition_tree(c.oid) t JOIN pg_class p ON p.oid = t.relid WHERE p.relkind <> 'p')"
      " ELSE GREATEST(c.reltuples, 0) END::bigint FROM pg_class c WHERE c.oid = $1::regclass",
      {table.Quoted()});
  if (!res.ok() || res->rows() != 1) return 0;
  return std::strtoull(res->value(0, 0), nullptr, 10);
}

}  // namespace handoff
