#include "apply_ledger.h"

#include <cstdlib>

namespace handoff::testing {

Status InstallApplyLedger(const PgServer& server, const std::string& db, const std::string& table) {
  return server.Exec(db, "CREATE TABLE applied_log (id bigint, version int);"
                         "CREATE FUNCTION log_apply() RETURNS trigger LANGUAGE plpgsql AS "
                         "$$ BEGIN INSERT INTO applied_log VALUES (NEW.id, NEW.version); RETURN NEW; END $$;"
                         "CREATE TRIGGER log_apply AFTER INSERT OR UPDATE ON " +
                             table + " FOR EACH ROW EXECUTE FUNCTION log_apply();");
}

std::string LedgerDuplicates(const PgServer& server, const std::string& db) {
  return server.Dump(db, "SELECT id, version, count(*) FROM applied_log GROUP BY 1, 2 HAVING count(*) > 1 "
                         "ORDER BY 1, 2 LIMIT 50");
}

long LedgerRows(const PgServer& server, const std::string& db) {
  return std::atol(server.Dump(db, "SELECT count(*) FROM applied_log").c_str());
}

std::string OrderedChecksum(const PgServer& server, const std::string& db, const std::string& table,
                            const std::string& key, const std::string& where) {
  std::string out = server.Dump(db, "SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, E'\\n' ORDER BY " +
                                        key + ")), '-') FROM " + table + " x" +
                                        (where.empty() ? "" : " WHERE " + where));
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace handoff::testing
