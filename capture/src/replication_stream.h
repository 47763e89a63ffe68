// ReplicationStream: the COPY BOTH framing of a logical replication
// connection: START_REPLICATION, XLogData ('w') and primary keepalive ('k')
// messages in, standby status updates ('r') out.
//
// The stream is the one part of capture that speaks libpq itself (the
// COPY BOTH frames); it runs on a connection of handoff/pg/pg_connection.h.
//
// Thread-safety: not thread-safe; owned by the agent thread.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "handoff/engine/status.h"
#include "source_connection.h"

namespace handoff {

struct ReplicationMessage {
  enum class Kind { kNone, kXLogData, kKeepalive };
  Kind kind = Kind::kNone;
  uint64_t wal_start = 0;        // XLogData only
  uint64_t wal_end = 0;          // the server's current end of WAL
  int64_t send_time_pg_us = 0;
  bool reply_requested = false;  // keepalive only
  std::string_view payload;      // XLogData only; valid until the next Read()
};

class ReplicationStream {
 public:
  // REQUIRES: `conn` is a replication connection that outlives the stream.
  explicit ReplicationStream(PgConnection* conn) : conn_(conn) {}

  // START_REPLICATION SLOT <slot> LOGICAL 0/0 with pgoutput v1 options; the
  // server resumes from the slot's confirmed flush position.
  // Fails with kNotFound when the slot does not exist.
  // `streaming`: pgoutput protocol 2 with `streaming 'on'` (PostgreSQL 14+), else protocol 1.
  Status Start(const std::string& slot, const std::string& publication, bool streaming);

  // Reads the next message, waiting up to `wait` for one. kind == kNone when
  // none arrived. Connection loss or the end of the stream is kUnavailable; a
  // malformed frame is kCorruption.
  Status Read(std::chrono::milliseconds wait, ReplicationMessage* msg);

  // Sends a standby status update (write, flush, apply LSNs, clock).
  Status SendStatus(uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn, bool reply_requested);

 private:
  Status TakeMessage(int len, char* raw, ReplicationMessage* msg);

  PgConnection* conn_;
  std::unique_ptr<char, decltype(&PQfreemem)> buffer_{nullptr, &PQfreemem};  // the last frame
};

}  // namespace handoff
