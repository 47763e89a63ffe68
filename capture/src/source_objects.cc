#include "handoff/capture/source_objects.h"

#include <cstdlib>

#include "source_connection.h"

namespace handoff {
namespace {

constexpr const char* kMarkerPrefix = "created by handoff for ";
constexpr const char* kJournalWord = "journal ";

}  // namespace

std::string PublicationMarker(const std::string& journal_id, const std::string& source) {
  if (journal_id.empty()) return std::string(kMarkerPrefix) + "source " + source;
  return std::string(kMarkerPrefix) + kJournalWord + journal_id + " (source " + source + ")";
}

bool IsPublicationMarker(const std::string& comment, std::string* journal_id) {
  if (comment.rfind(kMarkerPrefix, 0) != 0) return false;
  if (journal_id != nullptr) {
    journal_id->clear();
    std::string rest = comment.substr(std::string(kMarkerPrefix).size());
    if (rest.rfind(kJournalWord, 0) == 0) {
      rest = rest.substr(std::string(kJournalWord).size());
      *journal_id = rest.substr(0, rest.find(' '));
    }
  }
  return true;
}

Result<SourceObjects> InspectSourceObjects(const ConnParams& dsn, const std::string& slot,
                                           const std::string& publication) {
  auto conn = OpenSource(dsn, /*replication=*/false);
  if (!conn.ok()) return conn.status();
  SourceObjects o;
  auto db = conn->Fetch("SELECT current_database()");
  if (!db.ok()) return db.status();
  o.database = db->value(0, 0);
  auto s = conn->Fetch(
      "SELECT active, COALESCE(active_pid, 0), COALESCE(database, ''),"
      " COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint"
      " FROM pg_replication_slots WHERE slot_name = $1",
      {slot});
  if (!s.ok()) return s.status();
  if (s->rows() > 0) {
    o.slot_exists = true;
    o.slot_active = s->value(0, 0)[0] == 't';
    o.slot_active_pid = std::strtoll(s->value(0, 1), nullptr, 10);
    o.slot_database = s->value(0, 2);
    long long retained = std::strtoll(s->value(0, 3), nullptr, 10);
    o.slot_retained_bytes = retained > 0 ? static_cast<uint64_t>(retained) : 0;
  }
  auto p = conn->Fetch(
      "SELECT COALESCE(obj_description(oid, 'pg_publication'), '') FROM pg_publication WHERE pubname = $1",
      {publication});
  if (!p.ok()) return p.status();
  if (p->rows() > 0) {
    o.publication_exists = true;
    o.publication_comment = p->value(0, 0);
    o.publication_marked = IsPublicationMarker(o.publication_comment, &o.publication_journal);
  }
  return o;
}

Status DropReplicationSlot(const ConnParams& dsn, const std::string& slot) {
  auto conn = OpenSource(dsn, /*replication=*/false);
  if (!conn.ok()) return conn.status();
  return conn->Fetch("SELECT pg_drop_replication_slot($1)", {slot}).status();
}

Status DropPublication(const ConnParams& dsn, const std::string& publication) {
  auto conn = OpenSource(dsn, /*replication=*/false);
  if (!conn.ok()) return conn.status();
  return conn->Fetch("DROP PUBLICATION IF EXISTS " + QuoteIdent(publication)).status();
}

}  // namespace handoff
