// CaptureSession, streamed transactions (pgoutput protocol 2): the blocks of
// transactions in progress are staged in the journal, their commits and aborts
// sent as parts of their own (docs/streaming.md).
#include <fmt/format.h>

#include <chrono>

#include "capture_session.h"
#include "handoff/engine/log.h"

namespace handoff {

using SteadyClock = std::chrono::steady_clock;

Status CaptureSession::UsePending(const std::optional<StreamSegment>& seg) {
  auto same = [](const std::optional<StreamSegment>& a, const std::optional<StreamSegment>& b) {
    if (!a || !b) return !a && !b;
    return a->kind == b->kind && a->xid == b->xid && a->subxid == b->subxid && a->commit_lsn == b->commit_lsn;
  };
  if (same(pending_.stream, seg)) return Status::OK();
  if (!pending_.events.empty() || pending_dirty_) HANDOFF_RETURN_IF_ERROR(SendPending(/*wait=*/true));
  pending_.stream = seg;
  return Status::OK();
}

// Protocol 2: the blocks of transactions in progress, their commits and aborts.
Status CaptureSession::HandleStreamMessage(const PgOutputMessage& m) {
  using Kind = PgOutputMessage::Kind;
  switch (m.kind) {
    case Kind::kStreamStart: {
      if (txn_open_) return Status::Corruption(fmt::format("Stream Start of xid {} inside xid {}", m.xid, txn_xid_));
      if (!staged_reset_) {
        // The server streams every transaction not committed at the resume
        // point again from its first change: before this session stages
        // anything, what an earlier one staged goes.
        StreamSegment reset;
        reset.kind = StreamSegment::Kind::kReset;
        HANDOFF_RETURN_IF_ERROR(UsePending(reset));
        pending_dirty_ = true;
        HANDOFF_RETURN_IF_ERROR(SendPending(/*wait=*/true));
        staged_reset_ = true;
      }
      StreamTxn& t = streams_[m.xid];
      if (m.first_segment) t = StreamTxn{};
      txn_open_ = true;
      txn_skip_ = t.skip;
      txn_lsn_ = 0;  // the commit LSN is known at Stream Commit
      txn_xid_ = m.xid;
      txn_time_us_ = 0;
      txn_origin_ = t.origin;
      txn_ordinal_ = t.ordinal;
      StreamSegment stage;
      stage.kind = StreamSegment::Kind::kStage;
      stage.xid = m.xid;
      segment_ = stage;
      ctx_.counters->streamed_blocks.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    case Kind::kStreamStop: {
      if (!txn_open_ || !segment_) return Status::Corruption("Stream Stop outside a stream block");
      StreamTxn& t = streams_[txn_xid_];
      t.ordinal = txn_ordinal_;
      t.skip = txn_skip_;
      t.origin = txn_origin_;
      txn_open_ = false;
      segment_.reset();
      return Status::OK();
    }
    case Kind::kStreamCommit: {
      if (txn_open_) return Status::Corruption(fmt::format("Stream Commit of xid {} inside xid {}", m.xid, txn_xid_));
      StreamTxn t;
      if (auto it = streams_.find(m.xid); it != streams_.end()) {
        t = std::move(it->second);
        streams_.erase(it);
      }
      txn_lsn_ = m.commit_lsn;
      txn_xid_ = m.xid;
      txn_time_us_ = m.commit_time_pg_us + kPgEpochOffsetUs;
      txn_origin_ = t.origin;
      if (chunks_.open() && t.tables.count(chunks_.table())) {
        // Changes of it may have come before the chunk began, where the
        // chunk could not see them: read the chunk again.
        LogInfo("capture", "source {}: a streamed transaction changed {} while a chunk of it was read; reading that "
                "chunk again", source_.name, chunks_.table());
        chunks_.Abandon();
      }
      if (!t.skip && t.ordinal > 0) {
        StreamSegment commit;
        commit.kind = StreamSegment::Kind::kCommit;
        commit.xid = m.xid;
        commit.subxid = m.xid;
        commit.commit_lsn = m.commit_lsn;
        commit.commit_time_us = txn_time_us_;
        commit.origin = t.origin;
        segment_ = commit;
        Status st = AddEvent(NewEvent(Op::kCommit, {m.commit_lsn, t.ordinal + 1}));
        segment_.reset();
        HANDOFF_RETURN_IF_ERROR(st);
        ctx_.counters->streamed_transactions.fetch_add(1, std::memory_order_relaxed);
      }
      SetUpto({m.commit_lsn, kMaxOrdinal});
      tracker_.AddCommitted({m.commit_lsn, kMaxOrdinal}, m.end_lsn);
      ctx_.counters->transactions.fetch_add(1, std::memory_order_relaxed);
      if (t.skip) ctx_.counters->skipped_origin.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    case Kind::kStreamAbort: {
      if (txn_open_) return Status::Corruption(fmt::format("Stream Abort of xid {} inside xid {}", m.xid, txn_xid_));
      auto it = streams_.find(m.xid);
      const bool whole = m.subxid == m.xid || m.subxid == 0;
      const bool staged = it != streams_.end() && it->second.ordinal > 0 && !it->second.skip;
      if (whole && it != streams_.end()) streams_.erase(it);
      if (!staged) return Status::OK();
      StreamSegment abort;
      abort.kind = StreamSegment::Kind::kAbort;
      abort.xid = m.xid;
      abort.subxid = m.subxid;
      HANDOFF_RETURN_IF_ERROR(UsePending(abort));
      if (!pending_dirty_) pending_since_ = SteadyClock::now();
      pending_dirty_ = true;
      HANDOFF_RETURN_IF_ERROR(SendPending(/*wait=*/true));
      if (whole) ctx_.counters->streamed_aborts.fetch_add(1, std::memory_order_relaxed);
      return Status::OK();
    }
    default:
      return Status::OK();
  }
}

}  // namespace handoff
