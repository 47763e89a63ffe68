// FlushTracker: decides which LSN capture may confirm to PostgreSQL as flushed.
//
// The invariant: a flush LSN is sent upstream only once every change at or
// before it is durable in the journal. Each committed source transaction is
// recorded as (upto, end_lsn), where upto = {commit_lsn, UINT64_MAX} is the
// position that covers all its events (including a transaction whose changes
// were all filtered out: it is still sent as the `upto` of a batch). When the
// engine's durable position reaches `upto`, the transaction's end_lsn may be
// confirmed; PostgreSQL then never resends it. Transactions are recorded in
// commit order, so the queue is sorted by both fields.
//
// When the agent has nothing in flight, nothing unconfirmed and no transaction
// open, the walEnd of a primary keepalive may be confirmed directly: all WAL
// before it has been decoded and found to contain nothing that is not durable.
// That keeps WAL from piling up while the captured tables are idle.
//
// Thread-safety: not thread-safe; owned by the agent thread.
#pragma once

#include <cstdint>
#include <deque>

#include "handoff/engine/change_event.h"

namespace handoff {

class FlushTracker {
 public:
  // Records a committed transaction.
  // REQUIRES: upto and end_lsn not below those of earlier calls.
  void AddCommitted(SourcePosition upto, uint64_t end_lsn);

  // Pops every transaction whose upto <= durable and advances the flush LSN to
  // the end_lsn of the newest. Returns the flush LSN.
  uint64_t Advance(SourcePosition durable);

  // Confirms `wal_end` directly. REQUIRES: nothing in flight, nothing pending,
  // no transaction open (the caller checks); ignored while Unconfirmed() > 0.
  void ConfirmIdle(uint64_t wal_end);

  size_t Unconfirmed() const { return queue_.size(); }
  uint64_t flush_lsn() const { return flush_lsn_; }

 private:
  struct Entry {
    SourcePosition upto;
    uint64_t end_lsn;
  };
  std::deque<Entry> queue_;
  uint64_t flush_lsn_ = 0;
};

}  // namespace handoff
