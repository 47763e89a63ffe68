#include "capture_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "handoff/engine/clock.h"
#include "handoff/engine/fault.h"
#include "handoff/capture/source_objects.h"
#include "handoff/engine/log.h"
#include "table_checks.h"

namespace handoff {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;
// Snapshot positions: attempt number above bit 40, row number below.
constexpr int kEpochShift = 40;
constexpr uint64_t kEpochRowMask = (uint64_t{1} << kEpochShift) - 1;
// Journaled before this journal creates the slot (below every attempt).
constexpr SourcePosition kSlotMarker{0, 1};
// Streaming this long without error resets the reconnect backoff.
constexpr std::chrono::seconds kProgressAfter{2};

}  // namespace

CaptureSession::CaptureSession(CaptureSessionContext ctx)
    : ctx_(std::move(ctx)), source_(ctx_.options->source), chunks_(source_.name, source_.chunk_rows),
      pacer_(source_.snapshot_rate) {
  pending_.source = source_.name;
}

SourcePosition CaptureSession::Durable() const { return std::max(ctx_.client->Durable(), resume_); }

bool CaptureSession::Idle() const {
  return ctx_.client->InFlight() == 0 && pending_.events.empty() && !pending_dirty_ && !txn_open_ &&
         tracker_.Unconfirmed() == 0;
}

Status CaptureSession::Run() {
  auto hello = ctx_.client->Hello();
  if (!hello.ok()) return hello.status();
  resume_ = *hello;
  sent_upto_ = resume_;
  LogInfo("capture", "source {}: engine holds position {}", source_.name, FormatPosition(resume_));
  auto state = SourceState::Decode(ctx_.client->State());
  if (!state.ok()) {
    // Only the tables and backfills are lost: the stream is unaffected.
    LogWarn("capture", "source {}: ignoring the journaled source state: {}", source_.name, state.status().ToString());
  } else {
    state_ = std::move(state).value();
  }

  auto repl = OpenSource(source_.dsn, /*replication=*/true);
  if (!repl.ok()) return repl.status();
  if (resume_.lsn == 0 && resume_.ordinal != kMaxOrdinal) {
    HANDOFF_RETURN_IF_ERROR(Snapshot(&*repl));
  } else {
    auto normal = OpenSource(source_.dsn, /*replication=*/false);
    if (!normal.ok()) return normal.status();
    HANDOFF_RETURN_IF_ERROR(CheckSlotExists(&*normal));
    HANDOFF_RETURN_IF_ERROR(SyncTables(&*normal));
    aux_ = std::move(normal).value();
  }
  CrashPoint("capture.before_stream");
  return Stream(&*repl);
}

// Creates the publication, or sets its tables to the configured ones. A
// publication that already lists exactly those tables is left alone: changing
// one needs ownership of the tables, so a least-privilege source role uses a
// publication its table owner made.
Status CaptureSession::PreparePublication(PgConnection* conn) {
  // Checked before the publication changes: adding a table that cannot
  // identify its rows would break the application's next UPDATE of it.
  HANDOFF_RETURN_IF_ERROR(LoadRoutes(conn));
  std::string list;
  for (const auto& t : ctx_.tables) list += (list.empty() ? "" : ", ") + t.Quoted();
  auto exists = conn->Fetch("SELECT 1 FROM pg_publication WHERE pubname = $1", {ctx_.publication});
  if (!exists.ok()) return exists.status();
  const std::string pub = QuoteIdent(ctx_.publication);
  // Through the root, a partitioned table's changes carry its own name (and
  // a row moving between partitions is one update); without it, each
  // partition's name.
  const bool want_root = source_.partitions != "each";
  const std::string via_root = std::string("publish_via_partition_root = ") + (want_root ? "true" : "false");
  if (exists->rows() > 0) {
    auto listed = conn->Fetch(
        "SELECT t.schemaname, t.tablename, p.pubviaroot FROM pg_publication p"
        " LEFT JOIN pg_publication_tables t ON t.pubname = p.pubname WHERE p.pubname = $1",
        {ctx_.publication});
    if (!listed.ok()) return listed.status();
    std::set<std::pair<std::string, std::string>> have, want;
    bool via_root_matches = true;
    for (int i = 0; i < listed->rows(); ++i) {
      if (!listed->is_null(i, 0))
        have.emplace(listed->value(i, 0), listed->value(i, 1));
      via_root_matches = (listed->value(i, 2)[0] == 't') == want_root || partitioned_.empty();
    }
    for (const auto& t : ctx_.tables) want.emplace(t.schema, t.table);
    if (have == want && via_root_matches) {
      ctx_.tables = snapshot_tables_;
      return Status::OK();
    }
  }
  // Marked at creation: `handoff source drop` drops only what handoff made.
  std::string sql = exists->rows() == 0
                        ? "CREATE PUBLICATION " + pub + " FOR TABLE " + list + " WITH (" + via_root +
                              "); COMMENT ON PUBLICATION " + pub + " IS " +
                              QuoteLiteral(PublicationMarker(ctx_.options->journal_id, source_.name))
                        : "ALTER PUBLICATION " + pub + " SET TABLE " + list + "; ALTER PUBLICATION " + pub +
                              " SET (" + via_root + ")";
  HANDOFF_RETURN_IF_ERROR(conn->Fetch(sql).status());
  // The snapshot reads what the stream carries: the routed relations.
  ctx_.tables = snapshot_tables_;
  return Status::OK();
}

Status CaptureSession::PrepareResume(PgConnection* conn) {
  HANDOFF_RETURN_IF_ERROR(LoadRoutes(conn));
  if (partitioned_.empty()) return Status::OK();
  auto res = conn->Fetch("SELECT pubviaroot FROM pg_publication WHERE pubname = $1", {ctx_.publication});
  if (!res.ok()) return res.status();
  if (res->rows() == 0) return Status::OK();  // starting the stream reports it
  const bool want = source_.partitions != "each";
  if ((res->value(0, 0)[0] == 't') == want) return Status::OK();
  LogInfo("capture", "source {}: setting publish_via_partition_root = {} on publication \"{}\"", source_.name,
          want, ctx_.publication);
  return conn
      ->Fetch("ALTER PUBLICATION " + QuoteIdent(ctx_.publication) +
             " SET (publish_via_partition_root = " + (want ? "true" : "false") + ")")
      .status();
}

Status CaptureSession::LoadRoutes(PgConnection* conn) {
  auto report = CheckSourceTables(conn, source_);
  if (!report.ok()) return report.status();
  if (!report->ok()) {
    refused_ = true;
    return Status::InvalidArgument(
        fmt::format("source {}: its tables cannot be captured as configured: {}", source_.name, report->Summary()));
  }
  routes_.clear();
  snapshot_tables_.clear();
  const bool each = source_.partitions == "each";
  for (const auto& r : report->relations) {
    const std::string name = r.schema + "." + r.table;
    if (!each && name != r.configured) {
      // A partition in `root` mode: captured under its root's name.
      auto root = ParseTableName(r.configured);
      if (!root.ok()) return root.status();
      root->key = r.key;
      routes_[name] = Route{*root, true};
      continue;
    }
    routes_[name] = Route{TableName{r.schema, r.table, r.key}, false};
    snapshot_tables_.push_back(routes_[name].name);
  }
  partitioned_ = {report->partitioned.begin(), report->partitioned.end()};
  routes_loaded_ = true;
  return Status::OK();
}

Status CaptureSession::ReloadRoutes() {
  auto conn = OpenSource(source_.dsn, /*replication=*/false);
  if (!conn.ok()) return conn.status();
  return LoadRoutes(&*conn);
}

Status CaptureSession::CheckSlotExists(PgConnection* conn) {
  HANDOFF_RETURN_IF_ERROR(PrepareResume(conn));
  auto res = conn->Fetch("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", {ctx_.slot});
  if (!res.ok()) return res.status();
  if (res->rows() == 0) {
    // Re-snapshotting silently could miss or reorder changes: make it loud.
    LogError("capture",
             "source {}: replication slot \"{}\" is missing but the journal says the snapshot finished "
             "(position {}); changes made since the slot was lost cannot be captured. Recreate the source "
             "(new journal position) or restore the slot.",
             source_.name, ctx_.slot, FormatPosition(resume_));
    return Status::NotFound("replication slot \"" + ctx_.slot + "\" does not exist");
  }
  return Status::OK();
}

// Snapshot identity. Rows of snapshot attempt e carry {0, e << kEpochShift |
// n}; before reading, the attempt journals the empty marker {0, e <<
// kEpochShift}, after creating (or keeping) the slot. Before creating it, a
// journal holding nothing of the source journals kSlotMarker: a slot found
// without it belongs to someone else and is never dropped. On a restart the
// durable position therefore says which attempt was interrupted, and the
// next one (e + 1) sorts above every row the interrupted one journaled: none
// of its rows is taken for a duplicate. Correctness of the restart rests on
// the slot: it was created before attempt 1's first row and nothing is
// confirmed before the snapshot ends, so streaming from it replays every
// change made since, including deletes of rows the interrupted attempt
// journaled. Rows read by the later attempt may be older than changes the
// stream then replays over them; every change carries the whole new row, so
// the target converges on the source once the stream has passed the
// snapshot's point.
void CaptureSession::NoteUp() {
  if (ctx_.retry_log == nullptr) return;
  if (auto line = ctx_.retry_log->Succeeded()) LogInfo("capture", "source {}: {}", source_.name, *line);
}

Status CaptureSession::Snapshot(PgConnection* repl) {
  auto normal = OpenSource(source_.dsn, /*replication=*/false);
  if (!normal.ok()) return normal.status();
  HANDOFF_RETURN_IF_ERROR(PreparePublication(&*normal));
  const uint64_t interrupted = resume_.ordinal >> kEpochShift;  // 0: no attempt of this journal yet
  const uint64_t epoch = interrupted + 1;
  auto found = normal->Fetch("SELECT 1 FROM pg_replication_slots WHERE slot_name = $1", {ctx_.slot});
  if (!found.ok()) return found.status();
  const bool slot_exists = found->rows() > 0;
  CrashPoint("capture.before_slot");
  std::string snapshot_name;  // empty: the slot is kept, read in a snapshot of our own
  if (interrupted > 0 && slot_exists) {
    LogInfo("capture",
            "source {}: snapshot attempt {} was interrupted after {} rows; keeping slot \"{}\" (it holds every "
            "change since that attempt began) and taking attempt {}",
            source_.name, interrupted, resume_.ordinal & kEpochRowMask, ctx_.slot, epoch);
  } else if (interrupted > 0) {
    LogError("capture",
             "source {}: replication slot \"{}\" disappeared while the initial snapshot (attempt {}) was "
             "unfinished; changes made since it began cannot be captured, so rows deleted meanwhile could stay in "
             "the targets. Start this source over on a new journal (or restore the slot).",
             source_.name, ctx_.slot, interrupted);
    return Status::NotFound("replication slot \"" + ctx_.slot + "\" does not exist (dropped during the initial snapshot)");
  } else {
    // No attempt journaled. Only a journal that holds the slot marker (or
    // rows of before snapshot attempts) may have made a slot of this name.
    if (slot_exists && resume_ < kSlotMarker) {
      refused_ = true;
      LogError("capture",
               "source {}: replication slot \"{}\" already exists and this journal did not create it (another "
               "journal's, or a pipeline's that was removed); it is left alone. Drop it with `handoff source drop "
               "--source {}` while the engine is stopped, or configure another `slot:` for the source",
               source_.name, ctx_.slot, source_.name);
      return Status::Conflict("replication slot \"" + ctx_.slot + "\" exists and was not created by this journal: " +
                              "`handoff source drop --source " + source_.name + "`, or configure another `slot:`");
    }
    if (slot_exists) {
      LogWarn("capture",
              "source {}: dropping replication slot \"{}\": this journal's attempt created it and stopped before "
              "journaling its first row; a new slot and snapshot follow",
              source_.name, ctx_.slot);
      HANDOFF_RETURN_IF_ERROR(normal->Fetch("SELECT pg_drop_replication_slot($1)", {ctx_.slot}).status());
    } else if (resume_ < kSlotMarker) {
      // Durable before the slot exists: a restart then knows the slot may be its own.
      SetUpto(kSlotMarker);
      HANDOFF_RETURN_IF_ERROR(SendPending(/*wait=*/true));
      while (ctx_.client->Durable() < kSlotMarker) HANDOFF_RETURN_IF_ERROR(Pump(milliseconds(20)));
    }
    auto slot = repl->Fetch("CREATE_REPLICATION_SLOT " + QuoteIdent(ctx_.slot) + " LOGICAL pgoutput EXPORT_SNAPSHOT");
    if (!slot.ok()) return slot.status();
    if (slot->rows() != 1 || slot->columns() < 3) {
      return Status::Internal("CREATE_REPLICATION_SLOT returned an unexpected result");
    }
    snapshot_name = slot->value(0, 2);
    LogInfo("capture", "source {}: created slot \"{}\" at {}", source_.name, ctx_.slot, slot->value(0, 1));
    CrashPoint("capture.slot_created");
  }
  SetUpto({0, epoch << kEpochShift});  // attempt `epoch` began on this slot
  HANDOFF_RETURN_IF_ERROR(SendPending(/*wait=*/true));
  NoteUp();
  if (ctx_.counters->health.Set(HealthState::kSnapshotting))
    LogInfo("capture", "source {}: snapshot attempt {} of {} table(s)", source_.name, epoch, ctx_.tables.size());
  CrashPoint("capture.snapshot_begun");

  std::map<std::string, std::vector<ColumnShape>> shapes;
  if (!source_.snapshot) {
    for (const auto& table : ctx_.tables) {
      auto columns = ReadColumnShapes(&*normal, table);
      if (!columns.ok()) return columns.status();
      shapes[table.schema + "." + table.table] = std::move(columns).value();
    }
  } else {
    HANDOFF_RETURN_IF_ERROR(normal->Fetch("BEGIN ISOLATION LEVEL REPEATABLE READ").status());
    if (!snapshot_name.empty())
      HANDOFF_RETURN_IF_ERROR(normal->Fetch("SET TRANSACTION SNAPSHOT " + QuoteLiteral(snapshot_name)).status());
    TableSnapshotReader reader(&*normal);
    uint64_t ordinal = epoch << kEpochShift;
    int64_t started_us = NowMicros();
    bool first_table = true;
    for (const auto& table : ctx_.tables) {
      if (!first_table) CrashPoint("capture.between_tables");
      first_table = false;
      auto shape = reader.Describe(table);
      if (!shape.ok()) return shape.status();
      // The columns as of the slot's start: the first Relation message that
      // differs is a schema change.
      auto columns = ReadColumnShapes(&*normal, table);
      if (!columns.ok()) return columns.status();
      shapes[table.schema + "." + table.table] = std::move(columns).value();
      uint64_t rows = 0;
      CaptureCounters::TableProgress progress;
      progress.table = table.schema + "." + table.table;
      progress.kind = "snapshot";
      progress.estimated = EstimateRows(&*normal, table);
      progress.started_us = NowMicros();
      ctx_.counters->SetProgress(progress);
      HANDOFF_RETURN_IF_ERROR(reader.Copy(*shape, [&](std::vector<Column>&& row) -> Status {
        if (ctx_.stop->load(std::memory_order_relaxed)) return Status::Cancelled("stop requested");
        CrashPoint("capture.snapshot_row");
        ChangeEvent ev = NewEvent(Op::kRead, {0, ++ordinal});
        ev.commit_time_us = started_us;
        ev.schema = table.schema;
        ev.table = table.table;
        ev.key_columns = shape->key_columns;
        ev.after = std::move(row);
        ++rows;
        ctx_.counters->snapshot_rows.fetch_add(1, std::memory_order_relaxed);
        if (rows % 1024 == 0) {
          progress.rows = rows;
          ctx_.counters->SetProgress(progress);
          MaybeLogProgress();
        }
        return AddEvent(std::move(ev));
      }));
      progress.rows = rows;
      progress.finished_us = NowMicros();
      progress.outcome = "done";
      ctx_.counters->SetProgress(progress);
      LogInfo("capture", "source {}: snapshot of {} read {} rows", source_.name, table.Quoted(), rows);
    }
    HANDOFF_RETURN_IF_ERROR(normal->Fetch("COMMIT").status());
  }
  CrashPoint("capture.snapshot_read");
  state_.known = true;
  state_.tables = ConfiguredNames();
  state_.tasks.clear();
  state_.shapes = std::move(shapes);
  shapes_checked_.clear();
  state_dirty_ = true;
  SetUpto({0, kMaxOrdinal});  // the snapshot-end marker
  return SendPending(/*wait=*/true);
}

Status CaptureSession::Stream(PgConnection* repl) {
  ReplicationStream stream(repl);
  streaming_ = source_.streaming && PQserverVersion(repl->get()) >= 140000;
  if (source_.streaming && !streaming_)
    LogInfo("capture", "source {}: the server (version {}) cannot stream transactions in progress; each is sent at "
            "its commit (pgoutput protocol 1)", source_.name, PQserverVersion(repl->get()));
  HANDOFF_RETURN_IF_ERROR(stream.Start(ctx_.slot, ctx_.publication, streaming_));
  streams_.clear();
  segment_.reset();
  staged_reset_ = false;
  stream_ = &stream;
  NoteUp();
  if (ctx_.counters->health.Set(HealthState::kStreaming))
    LogInfo("capture", "source {}: streaming from slot \"{}\"", source_.name, ctx_.slot);
  auto started = SteadyClock::now();
  last_status_ = started;
  Status st;
  // Acknowledgements are taken every kPumpEvery messages or kPumpInterval,
  // not per message: each look at the engine socket is a poll(2) (and a
  // getpid(2) inside ZeroMQ), which cost more than decoding a row.
  constexpr int kPumpEvery = 256;
  constexpr auto kPumpInterval = milliseconds(1);
  int since_pump = kPumpEvery;
  auto last_pump = started;
  while (st.ok()) {
    auto now = SteadyClock::now();
    if (++since_pump >= kPumpEvery || now - last_pump >= kPumpInterval) {
      if (!made_progress_ && now - started >= kProgressAfter) made_progress_ = true;
      st = Pump(milliseconds(0));
      if (!st.ok()) break;
      since_pump = 0;
      last_pump = now;
    }
    // A paced chunk that is not due yet waits for a later turn of this
    // loop, which goes on reading the stream (and sleeps at most until due).
    const bool chunk_waiting = !state_.tasks.empty() && !chunks_.open();
    if (chunk_waiting && pacer_.Wait(now) == SteadyClock::duration::zero()) {
      st = NextChunk();
      if (!st.ok()) break;
    } else if (chunks_.open() && chunks_.age() > std::chrono::minutes(5) && !chunk_stall_logged_) {
      chunk_stall_logged_ = true;
      LogWarn("capture",
              "source {}: the watermarks of a chunk of {} have not come back through the stream for 5 minutes "
              "(is the slot far behind?); still waiting",
              source_.name, chunks_.table());
    }
    MaybeLogProgress();
    bool full = pending_.events.size() >= ctx_.options->max_batch_events;
    bool due = (!pending_.events.empty() || pending_dirty_) &&
               SteadyClock::now() - pending_since_ >= ctx_.options->max_batch_delay;
    if (full || due) {
      st = SendPending(/*wait=*/full);
      if (!st.ok()) break;
    }
    bool busy = !pending_.events.empty() || pending_dirty_ || ctx_.client->InFlight() > 0;
    milliseconds wait = busy ? milliseconds(2) : milliseconds(50);
    if (!state_.tasks.empty() && !chunks_.open())
      wait = std::min(wait, std::chrono::ceil<milliseconds>(pacer_.Wait(SteadyClock::now())));
    ReplicationMessage msg;
    st = stream.Read(wait, &msg);
    if (!st.ok()) break;
    if (msg.kind == ReplicationMessage::Kind::kNone) continue;
    received_lsn_ = std::max(received_lsn_, msg.wal_end);
    ctx_.counters->received_lsn.store(received_lsn_, std::memory_order_relaxed);
    if (msg.kind == ReplicationMessage::Kind::kKeepalive) {
      tracker_.Advance(Durable());
      if (Idle()) tracker_.ConfirmIdle(msg.wal_end);
      if (msg.reply_requested) st = ReportStatus(/*force=*/true);
      continue;
    }
    PgOutputMessage m;
    st = decoder_.Decode(msg.payload, &m);
    if (st.ok()) st = HandleMessage(m);
    if (!st.ok() && st.code() == StatusCode::kCorruption) {
      st = Status::Corruption(fmt::format("XLogData at {}: {}", FormatLsn(msg.wal_start), st.message()));
    }
  }
  if (st.code() == StatusCode::kCancelled) {
    Status fin = Finish();
    if (!fin.ok()) LogWarn("capture", "source {}: final flush report failed: {}", source_.name, fin.ToString());
  }
  stream_ = nullptr;
  return st;
}

// On Stop(): send what is pending if credit allows, give the engine a moment
// to acknowledge, and report the resulting flush LSN. Bounded to ~0.5 s.
Status CaptureSession::Finish() {
  auto deadline = SteadyClock::now() + milliseconds(500);
  if (ctx_.client->HasCredit() && (!pending_.events.empty() || pending_dirty_)) {
    if (state_dirty_) pending_.state = state_.Encode();
    state_dirty_ = false;
    HANDOFF_RETURN_IF_ERROR(ctx_.client->Send(std::move(pending_)));
    pending_ = AppendBatch{source_.name, {}, {}};
    pending_dirty_ = false;
  }
  while (ctx_.client->InFlight() > 0 && SteadyClock::now() < deadline) {
    HANDOFF_RETURN_IF_ERROR(ctx_.client->Poll(milliseconds(20)));
  }
  return ReportStatus(/*force=*/true);
}

Status CaptureSession::HandleMessage(const PgOutputMessage& m) {
  using Kind = PgOutputMessage::Kind;
  switch (m.kind) {
    case Kind::kStreamStart:
    case Kind::kStreamStop:
    case Kind::kStreamCommit:
    case Kind::kStreamAbort:
      return HandleStreamMessage(m);
    case Kind::kBegin:
      if (txn_open_) return Status::Corruption(fmt::format("Begin of xid {} inside xid {}", m.xid, txn_xid_));
      txn_open_ = true;
      txn_skip_ = false;
      txn_lsn_ = m.final_lsn;
      txn_xid_ = m.xid;
      txn_time_us_ = m.commit_time_pg_us + kPgEpochOffsetUs;
      txn_origin_.clear();
      txn_ordinal_ = 0;
      return Status::OK();
    case Kind::kOrigin:
      txn_origin_ = m.origin_name;
      // The writes of handoff engines (every origin they apply under starts
      // with a configured prefix, "handoff" by default): echo suppression.
      txn_skip_ = false;
      for (const std::string& prefix : source_.skip_origins)
        txn_skip_ = txn_skip_ || m.origin_name.rfind(prefix, 0) == 0;
      return Status::OK();
    case Kind::kRelation:
      LogDebug("capture", "source {}: relation {} is {}.{} ({} columns)", source_.name, m.relation->id,
               m.relation->schema, m.relation->table, m.relation->attributes.size());
      return Status::OK();
    case Kind::kType:
      return Status::OK();
    case Kind::kInsert:
    case Kind::kUpdate:
    case Kind::kDelete:
    case Kind::kTruncate:
      change_xid_ = m.streamed ? m.xid : 0;
      return HandleRowChange(m);
    case Kind::kMessage:
      // Watermarks of chunked snapshots (this session's or another's) are
      // consumed here, never journaled.
      if (m.prefix == kWatermarkPrefix) {
        chunks_.OnWatermark(m.content);
        if (!txn_open_) SetUpto({m.message_lsn, kMaxOrdinal});
        return Status::OK();
      }
      if (m.prefix == kSignalPrefix) {
        HANDOFF_RETURN_IF_ERROR(
            HandleSignal(m, txn_open_ ? SourcePosition{txn_lsn_, kMaxOrdinal} : SourcePosition{m.message_lsn, kMaxOrdinal}));
      }
      if (!txn_open_) return HandleStandaloneMessage(m);
      change_xid_ = m.streamed ? m.xid : 0;
      return HandleRowChange(m);
    case Kind::kCommit: {
      if (!txn_open_) return Status::Corruption(fmt::format("Commit at {} outside a transaction", FormatLsn(m.commit_lsn)));
      const bool had_changes = txn_ordinal_ > 0;
      if (chunks_.high_seen()) HANDOFF_RETURN_IF_ERROR(EmitChunk());
      chunks_.EndTransaction();
      if (!txn_skip_ && had_changes) {
        HANDOFF_RETURN_IF_ERROR(AddEvent(NewEvent(Op::kCommit, {txn_lsn_, ++txn_ordinal_})));
      }
      SetUpto({txn_lsn_, kMaxOrdinal});
      tracker_.AddCommitted({txn_lsn_, kMaxOrdinal}, m.end_lsn);
      ctx_.counters->transactions.fetch_add(1, std::memory_order_relaxed);
      if (txn_skip_) ctx_.counters->skipped_origin.fetch_add(1, std::memory_order_relaxed);
      txn_open_ = false;
      return Status::OK();
    }
  }
  return Status::OK();
}

Status CaptureSession::Captured(const PgRelation& rel, bool truncate, const TableName** route) {
  *route = nullptr;
  const std::string name = rel.schema + "." + rel.table;
  if (!routes_loaded_) {
    for (const auto& t : ctx_.tables) {
      if (t.schema == rel.schema && t.table == rel.table) {
        *route = &t;
        return Status::OK();
      }
    }
  } else {
    auto it = routes_.find(name);
    // In `each` mode a partition attached since the routes were read is
    // routed once they are read again.
    if (it == routes_.end() && source_.partitions == "each" && !partitioned_.count(name) &&
        reloaded_.insert(name).second) {
      HANDOFF_RETURN_IF_ERROR(ReloadRoutes());
      it = routes_.find(name);
    }
    if (it != routes_.end() && it->second.partition && truncate) {
      // Only WAL decoded while the publication did not publish through the
      // root names a partition; its truncate cannot be applied to the root's rows.
      if (ctx_.counters->AddUnrouted(name)) {
        LogError("capture",
                 "source {}: a TRUNCATE of partition {} alone is not captured: {} is captured through its root, "
                 "and truncating the root's rows would remove the other partitions' too (counted in "
                 "handoff_capture_unrouted_total)",
                 source_.name, name, name);
      }
      return Status::OK();
    }
    if (it != routes_.end()) {
      *route = &it->second.name;
      return Status::OK();
    }
    // A TRUNCATE of a partitioned table names it besides its partitions,
    // which in `each` mode carry the rows.
    if (partitioned_.count(name)) return Status::OK();
  }
  if (ctx_.counters->AddUnrouted(name)) {
    LogError("capture",
             "source {}: the stream carries changes of {}, which is not a configured table (nor a partition of "
             "one); they are not captured and are counted in handoff_capture_unrouted_total. Add the table to "
             "the source's tables, or remove it from publication \"{}\"",
             source_.name, name, ctx_.publication);
  }
  return Status::OK();
}

std::vector<std::string> CaptureSession::KeyOf(const PgRelation& rel, const TableName& route) {
  // FULL marks every column as key; the checked key says which identify a row.
  if (rel.replica_identity == 'f' && !route.key.empty()) return route.key;
  return rel.key_columns;
}

ChangeEvent CaptureSession::NewEvent(Op op, SourcePosition position) const {
  ChangeEvent ev;
  ev.source = source_.name;
  ev.source_kind = SourceKind::kPostgres;
  ev.position = position;
  ev.op = op;
  if (position.lsn != 0) {
    ev.xid = txn_xid_;
    ev.commit_time_us = txn_time_us_;
    ev.origin = txn_origin_;
  }
  ev.correlation_id = source_.name + ":" + FormatPosition(position);
  return ev;
}

Status CaptureSession::HandleRowChange(const PgOutputMessage& m) {
  using Kind = PgOutputMessage::Kind;
  if (!txn_open_) return Status::Corruption(fmt::format("'{}' change outside a transaction", static_cast<char>(m.kind)));
  if (chunks_.open()) TrackChange(m);
  if (txn_skip_) return Status::OK();  // the engine's own write: echo suppression
  if (m.kind == Kind::kTruncate) {
    // One statement's tables stay one group with its options: a target
    // truncates them together (tables tied by a foreign key need that).
    std::vector<std::pair<const PgRelation*, const TableName*>> captured;
    for (const auto& rel : m.truncated) {
      const TableName* route = nullptr;
      HANDOFF_RETURN_IF_ERROR(Captured(*rel, /*truncate=*/true, &route));
      if (route != nullptr) captured.emplace_back(rel.get(), route);
    }
    for (size_t i = 0; i < captured.size(); ++i) {
      const auto& [rel, route] = captured[i];
      ChangeEvent ev = NewEvent(Op::kTruncate, {txn_lsn_, ++txn_ordinal_});
      ev.schema = route->schema;
      ev.table = route->table;
      ev.key_columns = KeyOf(*rel, *route);
      ev.truncate_options = m.flags & (kTruncateCascade | kTruncateRestartIdentity);
      ev.truncate_index = static_cast<uint32_t>(i);
      ev.truncate_count = static_cast<uint32_t>(captured.size());
      HANDOFF_RETURN_IF_ERROR(AddEvent(std::move(ev)));
    }
    return Status::OK();
  }
  if (m.kind == Kind::kMessage) {
    ChangeEvent ev = NewEvent(Op::kMessage, {txn_lsn_, ++txn_ordinal_});
    ev.after.push_back(Column{m.prefix, 0, Column::Kind::kText, m.content});
    return AddEvent(std::move(ev));
  }
  const PgRelation& rel = *m.relation;
  const TableName* route = nullptr;
  HANDOFF_RETURN_IF_ERROR(Captured(rel, /*truncate=*/false, &route));
  if (route == nullptr) return Status::OK();
  HANDOFF_RETURN_IF_ERROR(CheckShape(m.relation, *route));
  Op op = m.kind == Kind::kInsert ? Op::kInsert : m.kind == Kind::kUpdate ? Op::kUpdate : Op::kDelete;
  ChangeEvent ev = NewEvent(op, {txn_lsn_, ++txn_ordinal_});
  ev.schema = route->schema;
  ev.table = route->table;
  ev.key_columns = KeyOf(rel, *route);
  ev.has_before = m.old_kind != 0;
  ev.before = m.old_tuple;
  ev.after = m.new_tuple;
  return AddEvent(std::move(ev));
}

// A non-transactional logical message: its own position {lsn, 1}.
Status CaptureSession::HandleStandaloneMessage(const PgOutputMessage& m) {
  ChangeEvent ev = NewEvent(Op::kMessage, {m.message_lsn, 1});
  ev.xid = 0;
  ev.commit_time_us = 0;
  ev.origin.clear();
  ev.after.push_back(Column{m.prefix, 0, Column::Kind::kText, m.content});
  HANDOFF_RETURN_IF_ERROR(AddEvent(std::move(ev)));
  SetUpto({m.message_lsn, kMaxOrdinal});
  tracker_.AddCommitted({m.message_lsn, kMaxOrdinal}, m.message_lsn + 1);
  return Status::OK();
}

void CaptureSession::SetUpto(SourcePosition upto) {
  if (upto <= sent_upto_ || upto <= pending_.upto) return;
  if (pending_.events.empty() && !pending_dirty_) pending_since_ = SteadyClock::now();
  pending_.upto = upto;
  pending_dirty_ = true;
}

Status CaptureSession::AddEvent(ChangeEvent event) {
  const bool staged = segment_ && segment_->kind == StreamSegment::Kind::kStage;
  // Already durable (resent by the slot after a reconnect): dedup here. A
  // staged event's position is provisional ({0, n}): the journal places it.
  if (!staged && event.position <= resume_) return Status::OK();
  HANDOFF_RETURN_IF_ERROR(UsePending(segment_));
  SourcePosition pos = event.position;
  if (event.op != Op::kCommit && event.op != Op::kRead) {
    ctx_.counters->changes.fetch_add(1, std::memory_order_relaxed);
  }
  if (staged) {
    event.xid = change_xid_;  // the subtransaction, for an abort of it
    if (!event.schema.empty()) streams_[segment_->xid].tables.insert(event.schema + "." + event.table);
  }
  if (pending_.events.empty() && !pending_dirty_) pending_since_ = SteadyClock::now();
  pending_.events.push_back(std::move(event));
  if (!staged) pending_.upto = std::max(pending_.upto, pos);
  if (pending_.events.size() >= ctx_.options->max_batch_events) return SendPending(/*wait=*/true);
  return Status::OK();
}

Status CaptureSession::SendPending(bool wait) {
  if (pending_.events.empty() && !pending_dirty_) return Status::OK();
  while (!ctx_.client->HasCredit()) {
    if (!wait) return Status::OK();
    HANDOFF_RETURN_IF_ERROR(Pump(milliseconds(20)));
  }
  SourcePosition upto = pending_.upto;
  // A staged part moves no position: the state waits for a batch that does.
  const bool staged = pending_.stream && pending_.stream->kind != StreamSegment::Kind::kCommit;
  if (state_dirty_ && !staged) {
    pending_.state = state_.Encode();
    state_dirty_ = false;
  }
  HANDOFF_RETURN_IF_ERROR(ctx_.client->Send(std::move(pending_)));
  sent_upto_ = std::max(sent_upto_, upto);
  pending_ = AppendBatch{source_.name, {}, {}};
  pending_dirty_ = false;
  return Status::OK();
}

Status CaptureSession::Pump(milliseconds wait) {
  if (ctx_.stop->load(std::memory_order_relaxed)) return Status::Cancelled("stop requested");
  HANDOFF_RETURN_IF_ERROR(ctx_.client->Poll(wait));
  if (ctx_.client->InFlight() > 0 && ctx_.client->OldestInFlightAge() > ctx_.ack_timeout) {
    return Status::Unavailable(
        fmt::format("engine has not acknowledged a batch for {} ms", ctx_.client->OldestInFlightAge().count()));
  }
  return stream_ ? ReportStatus(/*force=*/false) : Status::OK();
}

Status CaptureSession::ReportStatus(bool force) {
  uint64_t flush = tracker_.Advance(Durable());
  auto now = SteadyClock::now();
  if (!force && now - last_status_ < ctx_.options->status_interval) return Status::OK();
  last_status_ = now;
  // flush 0 (InvalidXLogRecPtr) tells the server nothing, which is right
  // before anything of this session is durable.
  // write = flush (not the received LSN): while it lags the server's sent position the
  // walsender pings us when idle, which lets ConfirmIdle() advance the flush.
  HANDOFF_RETURN_IF_ERROR(stream_->SendStatus(flush, flush, flush, false));
  if (flush != 0) ctx_.counters->confirmed_lsn.store(flush, std::memory_order_relaxed);
  return Status::OK();
}

}  // namespace handoff
