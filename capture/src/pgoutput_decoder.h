// PgOutputDecoder: parses the pgoutput logical replication protocol messages
// (versions 1 and 2) carried in XLogData, keeping the relation cache that
// gives tuple data its column names, type OIDs and key flags. Version 2 adds
// the streaming of in-progress transactions: Stream Start / Stop blocks whose
// messages carry the xid of the (sub)transaction that made them, Stream
// Commit and Stream Abort.
//
// Thread-safety: not thread-safe; one decoder per replication stream.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff {

// Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01).
inline constexpr int64_t kPgEpochOffsetUs = 946684800LL * 1000000LL;

// The schema of one relation as announced by a Relation ('R') message.
struct PgRelation {
  struct Attribute {
    std::string name;
    uint32_t type_oid = 0;
    int32_t type_modifier = -1;
    bool key = false;  // part of the replica identity
  };
  uint32_t id = 0;
  std::string schema;
  std::string table;
  char replica_identity = 'd';  // 'd' default, 'n' nothing, 'f' full, 'i' index
  std::vector<Attribute> attributes;
  std::vector<std::string> key_columns;  // names of the key attributes, in order
};

// One decoded pgoutput message. Only the fields of `kind` are set.
struct PgOutputMessage {
  enum class Kind : char {
    kBegin = 'B',
    kCommit = 'C',
    kOrigin = 'O',
    kRelation = 'R',
    kType = 'Y',
    kInsert = 'I',
    kUpdate = 'U',
    kDelete = 'D',
    kTruncate = 'T',
    kMessage = 'M',
    kStreamStart = 'S',
    kStreamStop = 'E',
    kStreamCommit = 'c',
    kStreamAbort = 'A',
  };
  Kind kind = Kind::kBegin;

  // Begin: final_lsn, commit_time_pg_us, xid. Commit: flags, commit_lsn,
  // end_lsn, commit_time_pg_us. Times are µs since the PostgreSQL epoch.
  uint64_t final_lsn = 0;
  uint64_t commit_lsn = 0;
  uint64_t end_lsn = 0;
  int64_t commit_time_pg_us = 0;
  uint32_t xid = 0;
  uint8_t flags = 0;
  // Stream Start: xid, first_segment. Stream Commit: xid, flags, commit_lsn,
  // end_lsn, commit_time_pg_us. Stream Abort: xid, subxid. A message inside
  // a Stream Start / Stop block: xid of the (sub)transaction that made it.
  bool first_segment = false;
  uint32_t subxid = 0;
  bool streamed = false;  // inside a Stream Start / Stop block

  // Origin.
  uint64_t origin_lsn = 0;
  std::string origin_name;

  // Relation (the cached entry), Insert/Update/Delete (the target relation).
  std::shared_ptr<const PgRelation> relation;
  // Update/Delete: 'K' (key columns only), 'O' (full old row) or 0 (none).
  char old_kind = 0;
  std::vector<Column> old_tuple;  // for 'K', only the key columns
  std::vector<Column> new_tuple;

  // Truncate: relations in message order; options bit 1 CASCADE, bit 2 RESTART IDENTITY.
  std::vector<std::shared_ptr<const PgRelation>> truncated;

  // Type: type_oid, type_schema, type_name.
  uint32_t type_oid = 0;
  std::string type_schema;
  std::string type_name;

  // Message: transactional = flags & 1, message_lsn, prefix, content.
  uint64_t message_lsn = 0;
  std::string prefix;
  std::string content;
};

class PgOutputDecoder {
 public:
  // Decodes one pgoutput message (the payload of an XLogData message).
  // Relation messages update the cache (replacing an entry with the same id).
  // Returns kCorruption naming the message type and byte offset when the
  // input is truncated or malformed, or when a change names an unknown
  // relation; the cache is left unchanged in that case.
  Status Decode(std::string_view data, PgOutputMessage* out);

  // The cached relation with `id`, or nullptr.
  std::shared_ptr<const PgRelation> FindRelation(uint32_t id) const;
  size_t relation_count() const { return relations_.size(); }
  void Clear() {
    relations_.clear();
    in_stream_ = false;
  }
  // Between a Stream Start and its Stream Stop.
  bool in_stream() const { return in_stream_; }

 private:
  std::unordered_map<uint32_t, std::shared_ptr<const PgRelation>> relations_;
  bool in_stream_ = false;
};

}  // namespace handoff
