// The change journal: an LMDB environment holding every captured change in
// sequence order, the durable position of each source, the applied position of
// each target, the exception queue, and the delivery ids of webhook sources.
//
// Thread-safety: a Journal is safe to use from many threads. Appends are
// serialised (one LMDB writer); reads run concurrently with them.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff {

struct JournalOptions {
  std::string path;                          // directory; created if absent (see create_if_missing)
  // False: a path that holds no journal is kNotFound ("no journal at PATH");
  // nothing is created. Every verb but `handoff run` opens this way.
  bool create_if_missing = true;
  // True: take the journal's exclusive lock (the file `handoff.lock` in the
  // directory, flock(2), held until the Journal is destroyed). A second
  // holder gets kConflict naming the pid of the first. Readers
  // that do not take it run beside the holder.
  bool exclusive = false;
  uint64_t map_size = 1ull << 30;            // initial LMDB map size in bytes
  uint64_t max_map_size = 64ull << 30;       // the map may grow up to this on MDB_MAP_FULL
  int64_t retention_us = 7ll * 24 * 3600 * 1000000;  // replay window
};

// A part of a PostgreSQL transaction sent before its commit (pgoutput
// protocol 2 with `streaming`): the journal stages its events apart from the
// sequence, where nothing reads them, and moves them into the sequence at the
// commit, in order and with their final positions; an abort drops them. So
// the sequence holds only committed transactions, each in one piece, as
// without streaming. See docs/streaming.md.
struct StreamSegment {
  enum class Kind : uint8_t {
    kStage = 1,   // `events` (positions {0, n}, xid = the subtransaction) are staged under `xid`
    kCommit = 2,  // the staged events of `xid` enter the sequence at {commit_lsn, n}, then `events`
    kAbort = 3,   // the staged events of subtransaction `subxid` (all of `xid` when equal) are dropped
    kReset = 4,   // every staged event of the source is dropped (a new replication session)
  };
  Kind kind = Kind::kStage;
  uint32_t xid = 0;  // top-level transaction
  uint32_t subxid = 0;
  uint64_t commit_lsn = 0;
  int64_t commit_time_us = 0;
  std::string origin;
};

// A staged event takes its final place: position {commit_lsn, n}, the
// transaction's xid, commit time and origin, and the correlation id of that position.
void FinishStreamedEvent(const std::string& source, const StreamSegment& commit, ChangeEvent* e);

// One agent batch: the events of one source and the position up to which the
// source has been read (it may lie past the last event when changes were
// filtered out, so the flush position still advances).
struct AppendBatch {
  std::string source;
  SourcePosition upto;
  std::vector<ChangeEvent> events;
  // The agent's own state as of `upto` (a PostgreSQL source's tables and
  // running backfills, say). Written with the batch, in its transaction, when
  // the batch moves the source's durable position, so after a crash the state
  // and the position agree; an agent gets it back with its position.
  std::optional<std::string> state = std::nullopt;
  // Set for the parts of a streamed transaction (StreamSegment); a staged or
  // dropped part moves no position and carries no state.
  std::optional<StreamSegment> stream = std::nullopt;
};

// The meta key holding a source's state (AppendBatch::state).
inline std::string SourceStateKey(const std::string& source) { return "source_state:" + source; }

struct AppendResult {
  uint64_t appended = 0;    // events written
  uint64_t duplicates = 0;  // events skipped: position already durable, or delivery id already journaled
  uint64_t staged = 0;      // events of streamed transactions staged (not in the sequence yet)
  uint64_t last_seq = 0;    // last sequence number in the journal after the append
  // seqs[b][i]: the seq given to batches[b].events[i]; 0 when it was skipped.
  std::vector<std::vector<uint64_t>> seqs;
  // Events written from batches[b].
  uint64_t AppendedIn(size_t b) const {
    uint64_t n = 0;
    if (b < seqs.size())
      for (uint64_t s : seqs[b]) n += s != 0;
    return n;
  }
};

enum class ExceptionState : uint8_t { kOpen = 1, kRetried = 2, kResolved = 3, kDiscarded = 4 };
const char* ExceptionStateName(ExceptionState s);

// A change a target could not take, kept for human review.
struct ExceptionRecord {
  std::string target;
  uint64_t seq = 0;
  std::string reason;         // a sentence a person understands
  std::string code;           // machine-readable class: SQLSTATE, "validation", ...
  std::string old_image;      // JSON
  std::string new_image;      // JSON
  std::string current_image;  // JSON: what the target holds, when known
  ExceptionState state = ExceptionState::kOpen;
  std::string actor;          // who resolved or discarded it
  std::string note;           // why
  int64_t created_us = 0;
  int64_t updated_us = 0;
};

// What AppendWithMeta writes beside the events, in the same transaction.
struct SideWrites {
  std::vector<std::pair<std::string, std::string>> meta_puts;
  std::vector<std::string> meta_deletes;
  std::vector<ExceptionRecord> exceptions;  // put (insert or replace by target and seq)
  // SetTargetApplied(target, seq) of each, in the same transaction.
  std::vector<std::pair<std::string, uint64_t>> targets_applied;
  // Called inside the transaction once the events have their seqs; may add
  // meta puts that name them (the trace of a derived change). Called again
  // when the transaction is written again (the map grew after its puts ran
  // out of room): it must give the same puts from the same AppendResult.
  std::function<void(const AppendResult&, std::vector<std::pair<std::string, std::string>>*)> after_append;
};

struct JournalStats {
  uint64_t first_seq = 0;  // 0 when empty
  uint64_t last_seq = 0;
  uint64_t entries = 0;
  uint64_t map_size = 0;
  uint64_t used_bytes = 0;
};

// Many meta-store reads from ONE read snapshot (an LMDB read transaction
// held open): what one canonical pass reads. It holds the snapshot, and a
// growth of the map waits for it, so a reader is short-lived: close it
// before waiting on a writer of the same journal.
//
// Thread-safety: one thread at a time.
class MetaReader {
 public:
  virtual ~MetaReader() = default;
  virtual Result<std::optional<std::string>> Get(const std::string& key) = 0;
  // As Journal::ScanMeta, from this reader's snapshot.
  virtual Status Scan(const std::string& prefix,
                      const std::function<bool(std::string_view key, std::string_view value)>& f) = 0;
};

class Journal {
 public:
  static Result<std::unique_ptr<Journal>> Open(const JournalOptions& options);
  virtual ~Journal() = default;

  // The journal's identity: 32 hex digits drawn when the journal was created
  // (or, for a journal made before identities existed, when it was first
  // opened by a version that has them; then legacy_id() is true). Every
  // position a target keeps names it, so a position of another journal is
  // never used to skip anything.
  virtual const std::string& id() const = 0;
  virtual bool legacy_id() const = 0;

  // Journals the batches in one durable LMDB write transaction (group commit).
  // Events whose position is not above the source's durable position are
  // skipped as duplicates; each source's durable position becomes max(stored,
  // upto). On a full map the map is grown within max_map_size; beyond it the
  // call fails with kResourceExhausted and nothing is written. At
  // max_map_size, appends leave a housekeeping reserve (1/64 of the map, 256
  // KiB to 256 MiB) free, so positions, exceptions and Trim still fit.
  // Delivery-id dedup (webhook sources): an event with a non-empty
  // delivery_id whose (source, delivery_id) was journaled by an earlier batch
  // (database `dedup`) is skipped as a duplicate; all events of one delivery
  // within the same batch are kept. So a delivery must not be split across
  // batches.
  virtual Status Append(std::vector<AppendBatch>& batches, AppendResult* result) = 0;

  // Append plus meta-store puts in the same LMDB write transaction: a crash
  // leaves either all of it or none (the canonical router stores its read
  // position and entity states this way, with the changes it derived).
  virtual Status AppendWithMeta(std::vector<AppendBatch>& batches, const SideWrites& side,
                                AppendResult* result) = 0;

  // Reads up to `max_events` entries with seq >= from_seq, in order.
  virtual Status Read(uint64_t from_seq, size_t max_events, std::vector<JournalEntry>* out) = 0;

  // Blocks until an entry with seq >= seq exists or `timeout` passes; returns
  // whether one exists.
  virtual bool WaitFor(uint64_t seq, std::chrono::milliseconds timeout) = 0;

  virtual uint64_t LastSeq() = 0;
  virtual JournalStats Stats() = 0;

  // Durable position of a source; zero when never seen.
  virtual Result<SourcePosition> SourceDurable(const std::string& source) = 0;
  virtual Result<std::vector<std::pair<std::string, SourcePosition>>> Sources() = 0;
  // Forgets a source (`handoff source drop`): removes its durable position
  // and its delivery ids (dedup) in one write transaction, so a source of
  // that name starts from nothing (a PostgreSQL source snapshots again). Its
  // journaled events stay as history. Returns the position it had (zero when
  // it had none).
  virtual Result<SourcePosition> ForgetSource(const std::string& source) = 0;

  // Small key/value store for component state (snapshot progress, slot names).
  virtual Status PutMeta(const std::string& key, const std::string& value) = 0;
  virtual Result<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual Status DeleteMeta(const std::string& key) = 0;
  // A reader of the meta store as it is now; see MetaReader.
  virtual Result<std::unique_ptr<MetaReader>> ReadMeta() = 0;
  // Calls f(key, value) for every meta key starting with `prefix`, in key
  // order, from one read snapshot, until f returns false.
  virtual Status ScanMeta(const std::string& prefix,
                          const std::function<bool(std::string_view key, std::string_view value)>& f) = 0;

  // The journal's copy of a target's applied seq (the target's own
  // handoff_applied row is authoritative; this copy feeds status and retention).
  virtual Status SetTargetApplied(const std::string& target, uint64_t seq) = 0;
  virtual Result<uint64_t> TargetApplied(const std::string& target) = 0;
  virtual Result<std::vector<std::pair<std::string, uint64_t>>> Targets() = 0;

  // Exception queue. Put inserts or replaces the record keyed by (target, seq).
  virtual Status PutException(const ExceptionRecord& record) = 0;
  virtual Result<std::optional<ExceptionRecord>> GetException(const std::string& target, uint64_t seq) = 0;
  virtual Result<std::vector<ExceptionRecord>> Exceptions(std::optional<ExceptionState> state) = 0;

  // Deletes events with seq <= upto_seq journaled before cutoff_us, and
  // delivery ids (dedup) journaled before cutoff_us. Returns the event count.
  virtual Result<uint64_t> Trim(uint64_t upto_seq, int64_t cutoff_us) = 0;

  // Trims what every named target has applied (a target never seen has
  // applied nothing) and what the retention window allows.
  virtual Result<uint64_t> ApplyRetention(const std::vector<std::string>& targets, int64_t now_us) = 0;
};

}  // namespace handoff
