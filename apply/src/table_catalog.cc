#include "table_catalog.h"

#include <algorithm>

namespace handoff::apply {
namespace {

// One row per insertable column: relation oid, name, place in the primary key (or NULL), type.
// Only the key columns count, not the INCLUDE columns after them (indnkeyatts).
constexpr const char* kColumnsSql =
    "SELECT a.attrelid::oid::text, a.attname::text,"
    " (SELECT k.ord FROM pg_index i, unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, ord)"
    "   WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.n = a.attnum AND k.ord <= i.indnkeyatts)::text,"
    " format_type(a.atttypid, a.atttypmod)"
    " FROM pg_attribute a"
    " WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''"
    " ORDER BY a.attnum";

}  // namespace

bool TableMeta::IsKey(size_t column) const { return std::find(pk.begin(), pk.end(), column) != pk.end(); }

Result<std::shared_ptr<const TableMeta>> TableCatalog::Get(PgConnection& conn, const std::string& schema,
                                                           const std::string& table) {
  auto key = std::make_pair(schema, table);
  if (auto it = tables_.find(key); it != tables_.end()) {
    if (it->second.meta) return it->second.meta;
    return it->second.error;
  }
  auto meta = std::make_shared<TableMeta>();
  meta->schema = schema;
  meta->table = table;
  meta->quoted = QuoteQualified(schema, table);
  meta->utf8 = conn.client_encoding() == "UTF8";
  PgRows rows;
  Status st = conn.Query(kColumnsSql, {meta->quoted}, &rows);
  if (!st.ok()) return Status::Unavailable("reading the catalog entry of " + meta->Name() + ": " + st.message());
  if (rows.empty()) {
    Status missing = Status::NotFound("target table " + meta->Name() + " does not exist");
    tables_[key].error = missing;
    return missing;
  }
  std::vector<std::pair<int, size_t>> key_order;
  for (const auto& row : rows) {
    const size_t idx = meta->columns.size();
    meta->columns.push_back(row[1].value_or(""));
    meta->types.push_back(row[3].value_or(""));
    meta->index[meta->columns.back()] = idx;
    if (row[2]) key_order.emplace_back(std::stoi(*row[2]), idx);
  }
  if (key_order.empty()) {
    Status no_pk = Status::Permanent("target table " + meta->Name() + " has no primary key");
    tables_[key].error = no_pk;
    return no_pk;
  }
  std::sort(key_order.begin(), key_order.end());
  for (const auto& [ord, idx] : key_order) meta->pk.push_back(idx);
  meta->stage = QuoteIdent("handoff_stage_" + rows[0][0].value_or("0"));
  tables_[key].meta = meta;
  return std::shared_ptr<const TableMeta>(meta);
}

void TableCatalog::ForgetMissing() {
  for (auto it = tables_.begin(); it != tables_.end();) {
    if (!it->second.meta) it = tables_.erase(it);
    else ++it;
  }
}

}  // namespace handoff::apply
