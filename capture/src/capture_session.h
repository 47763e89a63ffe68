// CaptureSession: one connected life of the PostgreSQL capture agent, from
// Hello() to the first error or Stop(): initial snapshot when the journal says
// the source never finished one, then streaming from the slot.
//
// Positions (the journal skips events at or below a source's durable
// position, so these rules are what makes resending harmless):
//   slot marker            an empty batch with upto {0, 1}, durable before a
//                          journal holding nothing of the source creates the
//                          slot: a slot found while the position is {0, 0} is
//                          not this journal's and is never dropped (the
//                          session is refused: `handoff source drop`)
//   snapshot attempt e     an empty batch with upto {0, e << 40} once its slot
//                          exists (e = 1 + the attempt the journal holds rows of)
//   its rows               {0, e << 40 | n}, n = 1, 2, ...
//   end of snapshot        an empty batch with upto {0, UINT64_MAX}
//   streamed change i      {commit_lsn, i}, i = 1..k within the transaction
//   the transaction's end  a kCommit event {commit_lsn, k+1}; once it has been
//                          seen the batch upto is {commit_lsn, UINT64_MAX}
// Transactions from the replication origin "handoff" (the engine's own
// writes) send no events but still move `upto`, so the flush LSN advances
// past them. So do changes of relations that are no configured table, but
// those are logged (once per relation) and counted, never passed in silence.
//
// Tables. Before the publication is created or changed, and before a resumed
// session streams, the configured tables are checked (table_checks.h); a
// problem ends the session with refused() set and the publication untouched.
// The check also gives the routes: which relations of the stream are
// captured, under which name, with which key. Partitioned tables are
// published through their root (publish_via_partition_root), or with
// `partitions: each` every leaf partition is captured as its own table.
//
// Thread-safety: not thread-safe; runs on the agent thread. `stop` may be set
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "chunk_pacer.h"
#include "chunked_snapshot.h"
#include "flush_tracker.h"
#include "handoff/capture/pg_capture.h"
#include "handoff/engine/retry_log.h"
#include "source_connection.h"
#include "pgoutput_decoder.h"
#include "replication_stream.h"
#include "source_state.h"
#include "table_snapshot_reader.h"

namespace handoff {

// The ordinal of a position that covers a whole transaction (or snapshot).
inline constexpr uint64_t kMaxOrdinal = UINT64_MAX;

// The columns of `table` in the catalog (in the connection's snapshot).
Result<std::vector<ColumnShape>> ReadColumnShapes(PgConnection* conn, const TableName& table);

// What a session borrows from its agent.
struct CaptureSessionContext {
  const PgCaptureOptions* options = nullptr;
  std::string slot;
  std::string publication;
  std::vector<TableName> tables;
  CaptureCounters* counters = nullptr;
  const std::atomic<bool>* stop = nullptr;
  AgentClient* client = nullptr;
  // The source's failure log: told when the session is up again (snapshot or
  // streaming), which logs "recovered after N tries" once. May be null.
  RetryLog* retry_log = nullptr;
  // How long the engine may leave a batch unacknowledged before the session
  // gives up and starts over.
  std::chrono::milliseconds ack_timeout{15000};
};

class CaptureSession {
 public:
  // REQUIRES: every pointer in `ctx` outlives the session.
  explicit CaptureSession(CaptureSessionContext ctx);

  // Runs until an error (returned; the caller backs off and starts a new
  // session) or until *stop (returns kCancelled after a last flush report).
  Status Run();

  // True once streaming ran long enough that the next failure deserves a
  // fresh (minimal) backoff.
  bool made_progress() const { return made_progress_; }
  // True when the source's tables failed the checks: retrying cannot help.
  bool refused() const { return refused_; }

 private:
  // The session is up: ends a run of failures in ctx_.retry_log (logged once).
  void NoteUp();
  Status Snapshot(PgConnection* repl);
  // Checks the tables, then creates or updates the publication; replaces
  // ctx_.tables with the relations the snapshot reads (with their keys).
  Status PreparePublication(PgConnection* conn);
  // On a resumed session: checks the tables and sets the publication's
  // publish_via_partition_root when partitioned tables need it.
  Status PrepareResume(PgConnection* conn);
  // Runs the table checks over `conn` and takes the routes from them.
  Status LoadRoutes(PgConnection* conn);
  // LoadRoutes over a connection of its own (a partition attached while
  // streaming in `each` mode).
  Status ReloadRoutes();
  Status CheckSlotExists(PgConnection* conn);
  // On a resumed session: compares the configured tables with the ones the
  // source state says were read, updates the publication, and queues a
  // chunked snapshot of each added table (removed ones are forgotten).
  Status SyncTables(PgConnection* conn);
  // The configured tables as "schema.table".
  std::vector<std::string> ConfiguredNames() const;
  BackfillTask NewTask(const std::string& table, const std::string& reason, const std::string& id);
  // Starts the next chunk of the first backfill task.
  Status NextChunk();
  // At the commit of the high watermark's transaction: emits the chunk.
  Status EmitChunk();
  Status HandleSignal(const PgOutputMessage& m, SourcePosition at);
  Status Prune(const BackfillSignal& signal, const std::string& table, SourcePosition at);
  void FinishTask(size_t i, const char* outcome);
  void PublishProgress(const BackfillTask& t, int64_t finished_us = 0, const char* outcome = "");
  void MaybeLogProgress(bool force = false);
  // Window tracking for an open chunk: the keys a change touches.
  void TrackChange(const PgOutputMessage& m);
  Status Stream(PgConnection* repl);
  Status HandleMessage(const PgOutputMessage& m);
  Status HandleRowChange(const PgOutputMessage& m);
  Status HandleStandaloneMessage(const PgOutputMessage& m);
  // Before a captured change of `rel`: journals a schema event when the
  // relation's columns differ from the state's shape of `route` (see
  // capture_session_schema.cc).
  Status CheckShape(const std::shared_ptr<const PgRelation>& rel, const TableName& route);
  // The columns a schema event adds that have a default (so existing rows
  // hold values the log never carried), as "a, b"; empty when none.
  std::string FilledByDefault(const ChangeEvent& ev);
  // The columns of `shape` with their types as the source formats them.
  Result<std::vector<Column>> DescribeColumns(const std::vector<ColumnShape>& shape);
  Status Finish();

  // Sets *route to the table a change of `rel` (a truncate with `truncate`)
  // is captured as, or nullptr (then the change was counted and, the first
  // time for `rel`, logged as unrouted).
  Status Captured(const PgRelation& rel, bool truncate, const TableName** route);
  // The key columns of a change of `rel` captured as `route`.
  static std::vector<std::string> KeyOf(const PgRelation& rel, const TableName& route);
  ChangeEvent NewEvent(Op op, SourcePosition position) const;
  // Queues an event (dropped when not above the resume position) and sends
  // the batch once full, waiting for credit.
  Status AddEvent(ChangeEvent event);
  void SetUpto(SourcePosition upto);
  // Sends the pending batch; with `wait`, waits for credit first, else returns
  // OK leaving it pending when there is none.
  Status SendPending(bool wait);
  // Processes acks (waiting up to `wait`), checks stop and the ack timeout,
  // and keeps the standby status flowing while streaming.
  Status Pump(std::chrono::milliseconds wait);
  Status ReportStatus(bool force);
  SourcePosition Durable() const;
  bool Idle() const;

  CaptureSessionContext ctx_;
  const PostgresSourceConfig& source_;
  SourcePosition resume_;  // durable position from Hello()
  PgOutputDecoder decoder_;
  FlushTracker tracker_;
  ReplicationStream* stream_ = nullptr;  // set while streaming
  bool made_progress_ = false;
  bool refused_ = false;

  // Routes: "schema.table" of a stream relation -> the table it is captured as.
  bool routes_loaded_ = false;
  struct Route {
    TableName name;          // what its changes are captured as, with the key
    bool partition = false;  // a leaf partition captured as its root (`root` mode)
  };
  std::unordered_map<std::string, Route> routes_;
  std::vector<TableName> snapshot_tables_;  // what the snapshot reads, in order
  std::unordered_set<std::string> partitioned_;  // configured partitioned tables
  std::unordered_set<std::string> reloaded_;     // relations a reload was tried for
  // Per relation id: the Relation message last compared with the state's shape.
  std::unordered_map<uint32_t, std::shared_ptr<const PgRelation>> shapes_checked_;

  // Tables read and backfills running (journaled with the batches).
  SourceState state_;
  bool state_dirty_ = false;
  ChunkedSnapshot chunks_;
  ChunkPacer pacer_;  // when the next chunk may start (snapshot_rate)
  PgConnection aux_;  // a normal connection for chunk reads and watermarks
  std::chrono::steady_clock::time_point last_progress_log_;
  bool chunk_stall_logged_ = false;

  AppendBatch pending_;
  bool pending_dirty_ = false;  // upto moved past what was sent
  SourcePosition sent_upto_;
  std::chrono::steady_clock::time_point pending_since_;
  std::chrono::steady_clock::time_point last_status_;
  uint64_t received_lsn_ = 0;

  // Streamed transactions (pgoutput protocol 2): the ones begun and not yet
  // committed or aborted, by top-level xid. Their events are staged in the
  // journal (StreamSegment); here only what resumes their next block.
  struct StreamTxn {
    uint64_t ordinal = 0;  // last position {0, ordinal} staged
    bool skip = false;     // origin of a handoff engine: nothing staged
    std::string origin;
    std::unordered_set<std::string> tables;  // captured tables it changed
  };
  std::unordered_map<uint32_t, StreamTxn> streams_;
  bool streaming_ = false;  // this session asked for protocol 2 with streaming
  bool staged_reset_ = false;  // this session dropped what earlier ones staged (before its first block)
  // The part new events belong to: a stream block's stage, a streamed
  // commit's marker, or none (a plain transaction).
  std::optional<StreamSegment> segment_;
  uint32_t change_xid_ = 0;  // the (sub)transaction of the streamed change being handled
  Status HandleStreamMessage(const PgOutputMessage& m);
  // Makes the pending batch one of `seg` (sending what is pending of another part first).
  Status UsePending(const std::optional<StreamSegment>& seg);

  // The open source transaction (or stream block).
  bool txn_open_ = false;
  bool txn_skip_ = false;
  uint64_t txn_lsn_ = 0;
  uint32_t txn_xid_ = 0;
  int64_t txn_time_us_ = 0;
  std::string txn_origin_;
  uint64_t txn_ordinal_ = 0;
};

}  // namespace handoff
