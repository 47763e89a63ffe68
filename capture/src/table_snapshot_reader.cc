#include "table_snapshot_reader.h"

#include <fmt/format.h>

#include <optional>

#include "copy_text_parser.h"

namespace handoff {

Result<TableName> ParseTableName(const std::string& configured) {
  TableName t;
  size_t dot = configured.find('.');
  if (dot == std::string::npos) {
    t.schema = "public";
    t.table = configured;
  } else {
    t.schema = configured.substr(0, dot);
    t.table = configured.substr(dot + 1);
  }
  if (t.schema.empty() || t.table.empty()) {
    return Status::InvalidArgument("table \"" + configured + "\" is not of the form schema.table");
  }
  return t;
}

Result<TableShape> TableSnapshotReader::Describe(const TableName& name) {
  // Key flags follow pgoutput: FULL marks every column, DEFAULT the primary
  // key, INDEX the replica identity index, NOTHING none.
  static const char* kSql =
      "SELECT a.attname, a.atttypid::int8,"
      "  CASE WHEN c.relreplident = 'f' THEN true ELSE EXISTS ("
      "    SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid"
      "      AND a.attnum = ANY((i.indkey::int2[])[0:i.indnkeyatts - 1])"
      "      AND ((c.relreplident = 'd' AND i.indisprimary) OR (c.relreplident = 'i' AND i.indisreplident)))"
      "  END"
      " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
      " WHERE c.oid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''"
      " ORDER BY a.attnum";
  auto res = conn_->Fetch(kSql, {name.Quoted()});
  if (!res.ok()) return res.status();
  const PgResult& r = *res;
  TableShape shape;
  shape.name = name;
  for (int i = 0; i < r.rows(); ++i) {
    Column c;
    c.name = r.value(i, 0);
    c.type_oid = static_cast<uint32_t>(std::stoull(r.value(i, 1)));
    if (name.key.empty() && r.value(i, 2)[0] == 't') shape.key_columns.push_back(c.name);
    shape.columns.push_back(std::move(c));
  }
  if (!name.key.empty()) shape.key_columns = name.key;
  return shape;
}

Status TableSnapshotReader::Copy(const TableShape& shape,
                                 const std::function<Status(std::vector<Column>&&)>& on_row) {
  std::string cols;
  for (const auto& c : shape.columns) {
    if (!cols.empty()) cols += ", ";
    cols += QuoteIdent(c.name);
  }
  std::string sql = "COPY (SELECT " + cols + " FROM " + shape.name.Quoted() + ") TO STDOUT";
  std::vector<std::optional<std::string>> fields;
  return conn_->CopyOut(sql, "COPY " + shape.name.Quoted(), [&](std::string_view data) -> Status {
    HANDOFF_RETURN_IF_ERROR(ParseCopyTextRow(data, &fields));
    if (fields.size() != shape.columns.size()) {
      return Status::Corruption(fmt::format("COPY {}: row has {} fields, expected {}", shape.name.Quoted(),
                                            fields.size(), shape.columns.size()));
    }
    std::vector<Column> row = shape.columns;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i]) {
        row[i].kind = Column::Kind::kText;
        row[i].data = std::move(*fields[i]);
      }
    }
    return on_row(std::move(row));
  });
}

}  // namespace handoff
