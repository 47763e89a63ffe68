// SlotWatch: reads, every interval, how much WAL the replication slot of each
// PostgreSQL source retains on its server (restart_lsn behind the current WAL
// position) and how far its confirmed flush position lags, over an ordinary
// (non-replication) connection. A slot that retains more than `warn_bytes`
// and grew since the previous reading is logged as a warning: left alone it
// fills the source's disk.
//
// Thread-safety: Run() on one thread; Stop() and Readings() from any.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/status.h"

namespace handoff {

struct SlotWatchOptions {
  std::vector<PostgresSourceConfig> sources;  // the PostgreSQL sources
  std::chrono::milliseconds interval{15000};
  uint64_t warn_bytes = 1ull << 30;
};

struct SlotReading {
  std::string source;
  std::string slot;
  bool known = false;            // false until the slot exists and was read
  uint64_t retained_bytes = 0;   // WAL kept for the slot (current LSN - restart_lsn)
  uint64_t unconfirmed_bytes = 0;  // current LSN - confirmed_flush_lsn: capture lag in bytes
  bool active = false;           // a session streams from the slot
};

// A logical slot named like handoff's (handoff_...) on the server of a
// configured PostgreSQL source that no configured source uses and no
// session streams from: left behind by a source removed from the
// configuration (or a deleted journal), it keeps WAL until it is dropped.
struct OrphanSlot {
  std::string slot;
  std::string database;
  uint64_t retained_bytes = 0;  // current LSN - restart_lsn
  // False once it went (dropped, or used again): kept, at 0 bytes, so its
  // series reads 0 instead of vanishing.
  bool present = true;
};

class SlotWatch {
 public:
  static Result<std::unique_ptr<SlotWatch>> Create(SlotWatchOptions options);
  virtual ~SlotWatch() = default;
  // Reads until Stop(); connection failures are logged and retried next time.
  virtual Status Run() = 0;
  virtual void Stop() = 0;
  // The latest reading of every watched slot.
  virtual std::vector<SlotReading> Readings() const = 0;
  // Every orphan seen since the watch started, in (slot, database) order.
  virtual std::vector<OrphanSlot> Orphans() const = 0;
};

// The slot a source uses: its `slot`, or handoff_<name>.
std::string SlotNameOf(const PostgresSourceConfig& source);

}  // namespace handoff
