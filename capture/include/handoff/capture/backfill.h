// Backfill requests: `handoff snapshot` asks a running PostgreSQL source to
// read one table again, in chunks beside the stream (capture/src/
// chunked_snapshot.h). The request is a transactional logical message in the
// source database, so it reaches the capture session in stream order, is not
// lost while the engine is down, and needs no connection to the engine.
#pragma once

#include <string>
#include <vector>

#include "handoff/engine/config.h"
#include "handoff/engine/status.h"

namespace handoff {

struct BackfillRequest {
  std::string table;  // "schema.table" (schema defaults to public)
  // Optional inclusive key range, one text value per key column.
  std::vector<std::string> from_key, to_key;
  bool cancel = false;
  // Instead of a read: keys (one text value per key column) the target holds
  // and the source did not; capture journals a delete of each that the source
  // still does not hold when the request reaches it (`handoff verify --repair`).
  std::vector<std::vector<std::string>> prune_keys;
};

struct BackfillReceipt {
  std::string id;     // names the request in logs and status
  std::string table;  // normalised "schema.table"
  std::string lsn;    // where the request was written in the source's WAL
  std::vector<std::string> key_columns;
};

// Checks the request against the source (kind postgres, the table is one of
// its tables and exists, the range has one value per key column) and writes
// it. Errors name what is wrong.
Result<BackfillReceipt> RequestBackfill(const PostgresSourceConfig& source, const BackfillRequest& request);

}  // namespace handoff
