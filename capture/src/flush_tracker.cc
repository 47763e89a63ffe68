#include "flush_tracker.h"

#include <algorithm>

namespace handoff {

void FlushTracker::AddCommitted(SourcePosition upto, uint64_t end_lsn) { queue_.push_back({upto, end_lsn}); }

uint64_t FlushTracker::Advance(SourcePosition durable) {
  while (!queue_.empty() && queue_.front().upto <= durable) {
    flush_lsn_ = std::max(flush_lsn_, queue_.front().end_lsn);
    queue_.pop_front();
  }
  return flush_lsn_;
}

void FlushTracker::ConfirmIdle(uint64_t wal_end) {
  if (queue_.empty()) flush_lsn_ = std::max(flush_lsn_, wal_end);
}

}  // namespace handoff
