// CaptureSession, tables while streaming: tables added to or removed from the
// configuration, backfills asked for by `handoff snapshot`, and the chunked
// snapshots (chunked_snapshot.h) that read their rows; with their progress.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <set>

#include "capture_session.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/fault.h"
#include "handoff/engine/log.h"

namespace handoff {
namespace {

constexpr auto kProgressLogEvery = std::chrono::seconds(10);

std::string Duration(double seconds) {
  if (seconds < 0) return "?";
  auto s = static_cast<uint64_t>(seconds + 0.5);
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
}

// How a chunked read is paced, for its log lines.
std::string Pace(uint64_t rows_per_second) {
  return rows_per_second > 0 ? fmt::format(" (at most {} rows/s)", rows_per_second) : std::string();
}

}  // namespace

std::vector<std::string> CaptureSession::ConfiguredNames() const {
  std::vector<std::string> out;
  for (const auto& t : source_.tables) {
    auto name = ParseTableName(t);
    if (name.ok()) out.push_back(name->schema + "." + name->table);
  }
  return out;
}

BackfillTask CaptureSession::NewTask(const std::string& table, const std::string& reason, const std::string& id) {
  BackfillTask t;
  t.id = id;
  t.table = table;
  t.reason = reason;
  t.started_us = NowMicros();
  auto name = ParseTableName(table);
  if (name.ok()) {
    if (!aux_.valid()) {
      auto conn = OpenSource(source_.dsn, /*replication=*/false);
      if (conn.ok()) aux_ = std::move(conn).value();
    }
    if (aux_.valid()) t.estimated = EstimateRows(&aux_, *name);
  }
  return t;
}

Status CaptureSession::SyncTables(PgConnection* conn) {
  const std::vector<std::string> configured = ConfiguredNames();
  if (!state_.known) {
    // A journal from before source states: what the publication lists was
    // captured from the start; a configured table it lacks is new.
    auto res = conn->Fetch("SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1",
                          {ctx_.publication});
    if (!res.ok()) return res.status();
    std::set<std::string> published;
    for (int i = 0; i < res->rows(); ++i) published.insert(res->value(i, 0));
    state_.known = true;
    for (const auto& t : configured)
      if (published.count(t) || partitioned_.count(t)) state_.tables.push_back(t);
    state_dirty_ = true;
  }
  std::vector<std::string> added, removed;
  for (const auto& t : configured)
    if (!state_.HasTable(t) && state_.TaskFor(t) == nullptr) added.push_back(t);
  for (const auto& t : state_.tables)
    if (std::find(configured.begin(), configured.end(), t) == configured.end()) removed.push_back(t);
  for (size_t i = state_.tasks.size(); i-- > 0;)
    if (std::find(configured.begin(), configured.end(), state_.tasks[i].table) == configured.end()) {
      removed.push_back(state_.tasks[i].table);
      FinishTask(i, "cancelled");
    }
  if (added.empty() && removed.empty()) return Status::OK();
  // The publication follows the configured tables (added ones before their
  // first chunk's low watermark, so the stream carries every change the
  // chunks must be reconciled with).
  HANDOFF_RETURN_IF_ERROR(PreparePublication(conn));
  for (const auto& t : removed) {
    state_.tables.erase(std::remove(state_.tables.begin(), state_.tables.end(), t), state_.tables.end());
    state_.shapes.erase(t);
    LogInfo("capture", "source {}: table {} was removed from the configuration: no longer captured (and removed "
                       "from publication \"{}\"); the targets keep its rows",
            source_.name, t, ctx_.publication);
  }
  for (const auto& t : added) {
    state_.tasks.push_back(NewTask(t, "added", "added"));
    PublishProgress(state_.tasks.back());
    LogInfo("capture",
            "source {}: table {} was added to the configuration: streaming its changes and reading its existing "
            "rows (about {}) in chunks of {}{} beside the stream",
            source_.name, t, state_.tasks.back().estimated, source_.chunk_rows, Pace(source_.snapshot_rate));
  }
  state_dirty_ = true;
  return Status::OK();
}

Status CaptureSession::NextChunk() {
  BackfillTask& task = state_.tasks.front();
  const TableName* route = nullptr;
  for (const auto& [name, r] : routes_)
    if (r.name.schema + "." + r.name.table == task.table) route = &r.name;
  if (route == nullptr) {
    LogError("capture", "source {}: cannot read {} in chunks: it is not a captured table of this source{}; "
                        "the backfill is dropped",
             source_.name, task.table, source_.partitions == "each" ? " (with partitions: each, name a partition)" : "");
    FinishTask(0, "cancelled");
    return Status::OK();
  }
  if (!aux_.valid()) {
    auto conn = OpenSource(source_.dsn, /*replication=*/false);
    if (!conn.ok()) return conn.status();
    aux_ = std::move(conn).value();
  }
  CrashPoint("capture.chunk_read");
  const auto begun = std::chrono::steady_clock::now();
  Status st = chunks_.Start(&aux_, task, *route);
  if (st.ok()) pacer_.Started(begun, chunks_.rows_read());
  if (st.code() == StatusCode::kInvalidArgument || st.code() == StatusCode::kNotFound) {
    LogError("capture", "source {}: backfill of {} stopped: {}", source_.name, task.table, st.ToString());
    FinishTask(0, "cancelled");
    return Status::OK();
  }
  chunk_stall_logged_ = false;
  return st;
}

Status CaptureSession::EmitChunk() {
  ChunkedSnapshot::Done done = chunks_.Finish();
  if (state_.tasks.empty() || state_.tasks.front().table != chunks_.table()) return Status::OK();  // cancelled meanwhile
  BackfillTask& task = state_.tasks.front();
  auto name = ParseTableName(task.table);
  if (!name.ok()) return name.status();
  for (auto& row : done.rows) {
    ChangeEvent ev = NewEvent(Op::kRead, {txn_lsn_, ++txn_ordinal_});
    ev.schema = name->schema;
    ev.table = name->table;
    ev.key_columns = done.key_columns;
    ev.after = std::move(row);
    ctx_.counters->snapshot_rows.fetch_add(1, std::memory_order_relaxed);
    HANDOFF_RETURN_IF_ERROR(AddEvent(std::move(ev)));
  }
  CrashPoint("capture.chunk_emitted");
  task.rows += done.rows.size();
  task.chunks += 1;
  task.after_key = done.last_key;
  state_dirty_ = true;
  if (done.last) {
    if (task.reason == "added" && !state_.HasTable(task.table)) state_.tables.push_back(task.table);
    FinishTask(0, "done");
  } else {
    PublishProgress(task);
  }
  return Status::OK();
}

Status CaptureSession::HandleSignal(const PgOutputMessage& m, SourcePosition at) {
  if (at <= resume_) return Status::OK();  // taken before the restart: the state holds it
  auto signal = BackfillSignal::Decode(m.content);
  if (!signal.ok()) {
    LogWarn("capture", "source {}: ignoring a {} message: {}", source_.name, kSignalPrefix, signal.status().ToString());
    return Status::OK();
  }
  if (signal->source != source_.name) return Status::OK();
  auto name = ParseTableName(signal->table);
  const std::string table = name.ok() ? name->schema + "." + name->table : signal->table;
  const auto configured = ConfiguredNames();
  if (std::find(configured.begin(), configured.end(), table) == configured.end()) {
    LogWarn("capture", "source {}: a backfill request names {}, which this source does not capture; ignored",
            source_.name, table);
    return Status::OK();
  }
  if (signal->prune()) return Prune(*signal, table, at);  // beside a running backfill too
  for (size_t i = 0; i < state_.tasks.size(); ++i) {
    if (state_.tasks[i].table != table) continue;
    if (!signal->cancel) {
      LogWarn("capture", "source {}: a backfill of {} is already running ({} rows so far); request {} ignored",
              source_.name, table, state_.tasks[i].rows, signal->id);
      return Status::OK();
    }
    if (i == 0 && chunks_.open()) chunks_.Abandon();
    LogInfo("capture", "source {}: backfill of {} cancelled after {} rows", source_.name, table, state_.tasks[i].rows);
    FinishTask(i, "cancelled");
    state_dirty_ = true;
    return Status::OK();
  }
  if (signal->cancel) {
    LogInfo("capture", "source {}: no backfill of {} is running; nothing to cancel", source_.name, table);
    return Status::OK();
  }
  BackfillTask t = NewTask(table, "requested", signal->id);
  t.from_key = signal->from_key;
  t.to_key = signal->to_key;
  state_.tasks.push_back(std::move(t));
  PublishProgress(state_.tasks.back());
  state_dirty_ = true;
  LogInfo("capture", "source {}: backfill {} of {} requested: reading about {} rows in chunks of {}{}", source_.name,
          signal->id, table, state_.tasks.back().estimated, source_.chunk_rows, Pace(source_.snapshot_rate));
  return Status::OK();
}

// Rows the target holds and the source did not when `handoff verify` compared
// them: each that the source still does not hold is journaled as a delete at
// the request's place in the stream (a later insert of the key comes after it,
// so the target ends as the source does).
Status CaptureSession::Prune(const BackfillSignal& signal, const std::string& table, SourcePosition at) {
  if (!txn_open_) {
    LogWarn("capture", "source {}: prune request {} was not written in a transaction; ignored", source_.name, signal.id);
    return Status::OK();
  }
  auto name = ParseTableName(table);
  if (!name.ok()) return Status::OK();
  if (!aux_.valid()) {
    auto conn = OpenSource(source_.dsn, /*replication=*/false);
    if (!conn.ok()) return conn.status();
    aux_ = std::move(conn).value();
  }
  std::string where;
  for (size_t i = 0; i < signal.prune_columns.size(); ++i)
    where += fmt::format("{}{}::text = ${}", i ? " AND " : "", QuoteIdent(signal.prune_columns[i]), i + 1);
  const std::string sql = "SELECT 1 FROM " + QuoteQualified(name->schema, name->table) + " WHERE " + where;
  size_t deleted = 0;
  for (const auto& key : signal.prune_keys) {
    auto found = aux_.Fetch(sql, key);
    if (!found.ok()) return Status(found.status().code(), "prune request " + signal.id + ": " + found.status().message());
    if (found->rows() > 0) continue;  // the source holds it now: its insert is in the stream
    ChangeEvent ev = NewEvent(Op::kDelete, {txn_lsn_, ++txn_ordinal_});
    ev.schema = name->schema;
    ev.table = name->table;
    ev.key_columns = signal.prune_columns;
    ev.has_before = true;
    for (size_t i = 0; i < key.size(); ++i)
      ev.before.push_back(Column{signal.prune_columns[i], 0, Column::Kind::kText, key[i]});
    HANDOFF_RETURN_IF_ERROR(AddEvent(std::move(ev)));
    ++deleted;
  }
  (void)at;
  LogInfo("capture", "source {}: prune request {} for {}: {} of {} key(s) absent in the source, journaled as deletes",
          source_.name, signal.id, table, deleted, signal.prune_keys.size());
  return Status::OK();
}

void CaptureSession::FinishTask(size_t i, const char* outcome) {
  const BackfillTask t = state_.tasks[i];
  state_.tasks.erase(state_.tasks.begin() + static_cast<long>(i));
  PublishProgress(t, NowMicros(), outcome);
  const double secs = static_cast<double>(NowMicros() - t.started_us) / 1e6;
  if (std::string(outcome) == "done")
    LogInfo("capture", "source {}: read {} ({}): {} rows in {} chunks, {}", source_.name, t.table, t.reason, t.rows,
            t.chunks, Duration(secs));
}

void CaptureSession::PublishProgress(const BackfillTask& t, int64_t finished_us, const char* outcome) {
  CaptureCounters::TableProgress p;
  p.table = t.table;
  p.kind = t.reason;
  p.id = t.id;
  p.rows = t.rows;
  p.estimated = t.estimated;
  p.chunks = t.chunks;
  p.started_us = t.started_us;
  p.finished_us = finished_us;
  p.outcome = outcome;
  ctx_.counters->SetProgress(p);
}

void CaptureSession::MaybeLogProgress(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_progress_log_ < kProgressLogEvery) return;
  last_progress_log_ = now;
  for (const auto& p : ctx_.counters->Progress()) {
    if (p.finished_us != 0) continue;
    const double secs = std::max(1e-3, static_cast<double>(NowMicros() - p.started_us) / 1e6);
    const double rate = static_cast<double>(p.rows) / secs;
    std::string of = p.estimated > 0 ? fmt::format(" of about {}", p.estimated) : std::string();
    std::string eta = p.estimated > p.rows && rate > 0
                          ? ", about " + Duration(static_cast<double>(p.estimated - p.rows) / rate) + " left"
                          : std::string();
    LogInfo("capture", "source {}: reading {} ({}): {} rows{}{}, {:.0f} rows/s{}", source_.name, p.table, p.kind,
            p.rows, of, p.chunks > 0 ? fmt::format(" in {} chunks", p.chunks) : std::string(), rate, eta);
  }
}

void CaptureSession::TrackChange(const PgOutputMessage& m) {
  using Kind = PgOutputMessage::Kind;
  auto route_of = [&](const PgRelation& rel) -> const TableName* {
    auto it = routes_.find(rel.schema + "." + rel.table);
    return it == routes_.end() ? nullptr : &it->second.name;
  };
  if (m.kind == Kind::kTruncate) {
    for (const auto& rel : m.truncated)
      if (const TableName* r = route_of(*rel)) chunks_.OnTruncate(*r, txn_xid_);
    return;
  }
  if (m.kind != Kind::kInsert && m.kind != Kind::kUpdate && m.kind != Kind::kDelete) return;
  const TableName* route = route_of(*m.relation);
  if (route == nullptr) return;
  const std::vector<std::string> names = KeyOf(*m.relation, *route);
  auto key_in = [&](const std::vector<Column>& tuple, std::vector<std::string>* key) {
    key->clear();
    for (const auto& n : names) {
      auto it = std::find_if(tuple.begin(), tuple.end(), [&](const Column& c) { return c.name == n; });
      if (it == tuple.end()) return false;
      key->push_back(it->data);
    }
    return true;
  };
  std::vector<std::string> key;
  if (!m.new_tuple.empty() && key_in(m.new_tuple, &key)) chunks_.OnChange(*route, key, txn_xid_);
  if (m.old_kind != 0 && key_in(m.old_tuple, &key)) chunks_.OnChange(*route, key, txn_xid_);
}

}  // namespace handoff
