// What handoff keeps on a PostgreSQL server for one source: its replication
// slot and its publication. `handoff source drop` looks at them and drops
// them; capture marks each publication it creates with a comment so that
// only those are ever dropped (one a person made for handoff stays).
//
// Thread-safety: plain functions; each opens a connection of its own.
#pragma once

#include <cstdint>
#include <string>

#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"

namespace handoff {

// The comment capture puts on a publication it creates: "created by handoff
// for journal <id> (source <name>)", or without the journal when it is not
// known (a separate `handoff agent`).
std::string PublicationMarker(const std::string& journal_id, const std::string& source);
// Whether `comment` is such a marker; *journal_id gets the journal it names ("" if none).
bool IsPublicationMarker(const std::string& comment, std::string* journal_id = nullptr);

struct SourceObjects {
  std::string database;  // the database the DSN connects to
  bool slot_exists = false;
  bool slot_active = false;
  int64_t slot_active_pid = 0;
  std::string slot_database;
  uint64_t slot_retained_bytes = 0;  // current LSN - restart_lsn
  bool publication_exists = false;   // in `database`
  std::string publication_comment;
  bool publication_marked = false;       // the comment is a PublicationMarker
  std::string publication_journal;       // the journal its marker names
};

// Reads the slot and the publication over one ordinary connection.
Result<SourceObjects> InspectSourceObjects(const ConnParams& dsn, const std::string& slot,
                                           const std::string& publication);
// Drops the slot (fails while a session streams from it).
Status DropReplicationSlot(const ConnParams& dsn, const std::string& slot);
// Drops the publication of the DSN's database.
Status DropPublication(const ConnParams& dsn, const std::string& publication);

}  // namespace handoff
