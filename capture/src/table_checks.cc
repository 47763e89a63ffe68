#include "table_checks.h"

#include <fmt/format.h>

#include <algorithm>

#include "table_snapshot_reader.h"

namespace handoff {
namespace {

// The key columns (not INCLUDE columns) of the primary key, or with
// `replident` 'i' of the replica identity index, in key order.
constexpr const char* kIdentityKeySql =
    "SELECT a.attname FROM pg_index i"
    " CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
    " WHERE i.indrelid = $1::oid AND k.ord <= i.indnkeyatts"
    "   AND CASE WHEN $2 = 'i' THEN i.indisreplident ELSE i.indisprimary END"
    " ORDER BY k.ord";

constexpr const char* kColumnsSql =
    "SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped";

constexpr const char* kLeavesSql =
    "SELECT n.nspname, c.relname, c.oid::int8, c.relkind::text, c.relreplident::text"
    " FROM pg_partition_tree($1::oid::regclass) t JOIN pg_class c ON c.oid = t.relid"
    " JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE t.isleaf ORDER BY n.nspname, c.relname";

struct Rel {
  std::string schema, table, oid;
  char kind = 'r';
  char replident = 'd';
  std::string Name() const { return schema + "." + table; }
};

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

Result<std::vector<std::string>> Column0(PgConnection* conn, const char* sql, const std::vector<std::string>& params) {
  auto res = conn->Fetch(sql, params);
  if (!res.ok()) return Status::Unavailable("reading the source catalog: " + res.status().message());
  std::vector<std::string> out;
  for (int i = 0; i < res->rows(); ++i) out.push_back(res->value(i, 0));
  return out;
}

// How `rel` identifies its rows: the key columns, or a problem sentence.
// `what` names it in messages ("table public.t", "partition public.t_1 of
// public.t"); `configured` is the configured table whose entry takes a key.
Status IdentityKey(PgConnection* conn, const Rel& rel, const std::string& what, const std::string& configured,
                   const std::vector<std::string>* configured_key, std::vector<std::string>* key,
                   std::string* problem) {
  key->clear();
  problem->clear();
  const std::string full_hint = fmt::format(
      "or ALTER TABLE {0} REPLICA IDENTITY FULL with a key on its entry in tables ({{ table: {1}, key: [...] }})",
      rel.Name(), configured);
  if (rel.replident == 'n') {
    *problem = fmt::format(
        "{} has REPLICA IDENTITY NOTHING, so its updates and deletes cannot be published; ALTER TABLE {} "
        "REPLICA IDENTITY DEFAULT (with a primary key), or REPLICA IDENTITY USING INDEX <unique index>, {}",
        what, rel.Name(), full_hint);
    return Status::OK();
  }
  auto pk = Column0(conn, kIdentityKeySql, {rel.oid, std::string(1, rel.replident == 'i' ? 'i' : 'd')});
  if (!pk.ok()) return pk.status();
  if (rel.replident == 'f') {
    if (configured_key == nullptr) {
      if (!pk->empty()) {
        *key = std::move(*pk);
        return Status::OK();
      }
      *problem = fmt::format(
          "{} has REPLICA IDENTITY FULL and no primary key, so nothing says which columns identify a row; "
          "give its entry in tables a key ({{ table: {}, key: [...] }}), or add a primary key",
          what, configured);
      return Status::OK();
    }
    auto columns = Column0(conn, kColumnsSql, {rel.oid});
    if (!columns.ok()) return columns.status();
    for (const auto& c : *configured_key) {
      if (std::find(columns->begin(), columns->end(), c) == columns->end()) {
        *problem = fmt::format("the key of {} names column {}, which {} does not have", configured, c, what);
        return Status::OK();
      }
    }
    *key = *configured_key;
    return Status::OK();
  }
  if (pk->empty()) {
    *problem = fmt::format(
        "{} has no primary key or replica identity index; add a primary key, or ALTER TABLE {} REPLICA "
        "IDENTITY USING INDEX <unique index>, {}",
        what, rel.Name(), full_hint);
    return Status::OK();
  }
  if (configured_key != nullptr && *configured_key != *pk) {
    *problem = fmt::format(
        "the key configured for {} ({}) is for a table with REPLICA IDENTITY FULL; {} identifies its rows by "
        "({}): remove the key, or set REPLICA IDENTITY FULL",
        configured, Join(*configured_key), what, Join(*pk));
    return Status::OK();
  }
  *key = std::move(*pk);
  return Status::OK();
}

Result<std::vector<Rel>> Leaves(PgConnection* conn, const Rel& root) {
  auto res = conn->Fetch(kLeavesSql, {root.oid});
  if (!res.ok()) return Status::Unavailable("reading the partitions of " + root.Name() + ": " + res.status().message());
  std::vector<Rel> out;
  const PgResult& r = *res;
  for (int i = 0; i < r.rows(); ++i) {
    Rel leaf;
    leaf.schema = r.value(i, 0);
    leaf.table = r.value(i, 1);
    leaf.oid = r.value(i, 2);
    leaf.kind = r.value(i, 3)[0];
    leaf.replident = r.value(i, 4)[0];
    out.push_back(std::move(leaf));
  }
  return out;
}

// Checks one configured table, adding what capture reads to *report.
Status CheckTable(PgConnection* conn, const PostgresSourceConfig& source, const TableName& name, SourceTableReport* report) {
  const std::string configured = name.schema + "." + name.table;
  auto res = conn->Fetch("SELECT c.oid::int8, c.relkind::text, c.relreplident::text FROM pg_class c"
                        " WHERE c.oid = to_regclass($1)",
                        {name.Quoted()});
  if (!res.ok()) return Status::Unavailable("reading the source catalog: " + res.status().message());
  if (res->rows() == 0) {
    report->problems.push_back(fmt::format("table {} does not exist (or the source user cannot see it)", configured));
    return Status::OK();
  }
  Rel rel{name.schema, name.table, res->value(0, 0), res->value(0, 1)[0],
          res->value(0, 2)[0]};
  if (rel.kind != 'r' && rel.kind != 'p') {
    report->problems.push_back(fmt::format("{} is not a table (relkind '{}'); only tables can be published",
                                           configured, rel.kind));
    return Status::OK();
  }
  const std::vector<std::string>* configured_key = ConfiguredKey(source, configured);
  const bool each = source.partitions == "each";
  std::vector<std::string> key;
  std::string problem;
  if (rel.kind == 'r' || !each) {
    HANDOFF_RETURN_IF_ERROR(IdentityKey(conn, rel, "table " + configured, configured, configured_key, &key, &problem));
    if (!problem.empty()) {
      report->problems.push_back(problem);
      return Status::OK();
    }
    report->relations.push_back({rel.schema, rel.table, configured, key});
  }
  if (rel.kind != 'p') return Status::OK();
  report->partitioned.push_back(configured);
  // PostgreSQL checks the replica identity of the partition a row is written to.
  auto leaves = Leaves(conn, rel);
  if (!leaves.ok()) return leaves.status();
  for (const Rel& leaf : *leaves) {
    const std::string what = "partition " + leaf.Name() + " of " + configured;
    if (leaf.kind != 'r') {
      report->problems.push_back(fmt::format("{} is not a table (relkind '{}') and cannot be published", what, leaf.kind));
      continue;
    }
    std::vector<std::string> leaf_key;
    HANDOFF_RETURN_IF_ERROR(IdentityKey(conn, leaf, what, configured, configured_key, &leaf_key, &problem));
    if (!problem.empty() && !(leaf.replident == 'f' && !each)) {
      report->problems.push_back(problem);
      continue;
    }
    // Through the root, rows carry the root's name and key (a FULL partition
    // is fine then); a partition's own name only comes from WAL decoded
    // while the publication did not publish through the root.
    report->relations.push_back({leaf.schema, leaf.table, configured, each ? leaf_key : key});
  }
  return Status::OK();
}

}  // namespace

std::string SourceTableReport::Summary() const {
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

Result<SourceTableReport> CheckSourceTables(PgConnection* conn, const PostgresSourceConfig& source) {
  SourceTableReport report;
  for (const auto& t : source.tables) {
    auto name = ParseTableName(t);
    if (!name.ok()) {
      report.problems.push_back(name.status().message());
      continue;
    }
    HANDOFF_RETURN_IF_ERROR(CheckTable(conn, source, *name, &report));
  }
  for (const auto& [t, key] : source.table_keys) {
    if (std::find(source.tables.begin(), source.tables.end(), t) == source.tables.end())
      report.problems.push_back("a key is configured for " + t + ", which is not in the tables");
  }
  if (!report.ok()) report.relations.clear();
  return report;
}

Result<SourceTableReport> CheckSourceTables(const PostgresSourceConfig& source, std::chrono::seconds connect_timeout) {
  auto conn = OpenSource(source.dsn, /*replication=*/false, static_cast<int>(connect_timeout.count()));
  if (!conn.ok()) return Status::Unavailable(conn.status().message());
  return CheckSourceTables(&*conn, source);
}

}  // namespace handoff
