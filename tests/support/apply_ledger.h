// The apply ledger of end-to-end tests: a trigger on a target table records
// every row version the engine writes (id, version) in `applied_log`, so a
// version applied twice shows up as two ledger rows.
#pragma once

#include <string>

#include "pg_server.h"

namespace handoff::testing {

// Creates applied_log and the trigger on `table` (which has columns id and
// version) in `db`.
Status InstallApplyLedger(const PgServer& server, const std::string& db, const std::string& table = "time_entries");

// "id|version|count" lines of every version logged more than once; empty
// when nothing was applied twice.
std::string LedgerDuplicates(const PgServer& server, const std::string& db);

// Number of ledger rows (row versions applied).
long LedgerRows(const PgServer& server, const std::string& db);

// "rows:md5" over the rows of `table` ordered by `key` and filtered by
// `where` (SQL, may be empty): equal checksums mean equal ordered contents.
std::string OrderedChecksum(const PgServer& server, const std::string& db, const std::string& table,
                            const std::string& key = "id", const std::string& where = "");

}  // namespace handoff::testing
