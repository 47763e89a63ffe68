// CaptureSession, schema changes: the columns of each captured table as the
// stream describes them (Relation messages), compared with the ones the
// source state holds; a difference is journaled as a schema event (Op::kSchema)
// before the first change of the new shape.
//
// The state's shapes start from the catalog as the initial snapshot saw it
// (read in the snapshot's transaction, so in step with the slot), or, for a
// table without one (added later, or a journal from before shapes), from the
// first Relation message that describes it.
#include <fmt/format.h>

#include <map>

#include "capture_session.h"
#include "handoff/engine/log.h"
#include "handoff/engine/schema_change.h"

namespace handoff {
namespace {

// The shape's columns by name (order does not matter: changes name their columns).
std::map<std::string, const ColumnShape*> ByName(const std::vector<ColumnShape>& columns) {
  std::map<std::string, const ColumnShape*> out;
  for (const auto& c : columns) out[c.name] = &c;
  return out;
}

bool SameColumns(const std::vector<ColumnShape>& a, const std::vector<ColumnShape>& b) {
  if (a.size() != b.size()) return false;
  auto bn = ByName(b);
  for (const auto& c : a) {
    auto it = bn.find(c.name);
    if (it == bn.end() || !(*it->second == c)) return false;
  }
  return true;
}

std::vector<ColumnShape> ShapeOf(const PgRelation& rel) {
  std::vector<ColumnShape> out;
  out.reserve(rel.attributes.size());
  for (const auto& a : rel.attributes) out.push_back(ColumnShape{a.name, a.type_oid, a.type_modifier});
  return out;
}

std::string IntArray(const std::vector<ColumnShape>& cols, bool oids) {
  std::string out = "{";
  for (size_t i = 0; i < cols.size(); ++i) {
    if (i) out += ",";
    out += oids ? std::to_string(cols[i].type_oid) : std::to_string(cols[i].type_modifier);
  }
  return out + "}";
}

}  // namespace

Result<std::vector<ColumnShape>> ReadColumnShapes(PgConnection* conn, const TableName& table) {
  // Generated columns are not replicated, so they are no part of the shape.
  auto res = conn->Fetch(
      "SELECT attname::text, atttypid::oid::text, atttypmod::text FROM pg_attribute"
      " WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum",
      {table.Quoted()});
  if (!res.ok()) return Status::Unavailable("reading the columns of " + table.Quoted() + ": " + res.status().message());
  std::vector<ColumnShape> out;
  for (int i = 0; i < res->rows(); ++i) {
    ColumnShape c;
    c.name = res->value(i, 0);
    c.type_oid = static_cast<uint32_t>(std::strtoul(res->value(i, 1), nullptr, 10));
    c.type_modifier = static_cast<int32_t>(std::strtol(res->value(i, 2), nullptr, 10));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<Column>> CaptureSession::DescribeColumns(const std::vector<ColumnShape>& shape) {
  if (!aux_.valid()) {
    auto conn = OpenSource(source_.dsn, /*replication=*/false);
    if (!conn.ok()) return conn.status();
    aux_ = std::move(conn).value();
  }
  // The source formats its own types (length, precision, a user type's schema).
  auto res = aux_.Fetch(
      "SELECT format_type(t.o, NULLIF(t.m, -1)) FROM unnest($1::oid[], $2::int4[]) WITH ORDINALITY AS t(o, m, n)"
      " ORDER BY t.n",
      {IntArray(shape, true), IntArray(shape, false)});
  if (!res.ok()) return Status::Unavailable("formatting column types: " + res.status().message());
  if (res->rows() != static_cast<int>(shape.size()))
    return Status::Internal("formatting column types: unexpected row count");
  std::vector<Column> out;
  for (size_t i = 0; i < shape.size(); ++i)
    out.push_back(Column{shape[i].name, shape[i].type_oid, Column::Kind::kText,
                         res->value(static_cast<int>(i), 0)});
  return out;
}

Status CaptureSession::CheckShape(const std::shared_ptr<const PgRelation>& rel, const TableName& route) {
  auto& checked = shapes_checked_[rel->id];
  if (checked == rel) return Status::OK();  // this Relation message was compared already
  const std::string name = route.schema + "." + route.table;
  std::vector<ColumnShape> now = ShapeOf(*rel);
  auto it = state_.shapes.find(name);
  if (it == state_.shapes.end()) {
    state_.shapes[name] = std::move(now);  // the first description of the table: its baseline
    state_dirty_ = true;
    checked = rel;
    return Status::OK();
  }
  if (SameColumns(it->second, now)) {
    checked = rel;
    return Status::OK();
  }
  auto before = DescribeColumns(it->second);
  if (!before.ok()) return before.status();
  auto after = DescribeColumns(now);
  if (!after.ok()) return after.status();
  ChangeEvent ev = NewEvent(Op::kSchema, {txn_lsn_, ++txn_ordinal_});
  ev.schema = route.schema;
  ev.table = route.table;
  ev.key_columns = KeyOf(*rel, route);
  ev.has_before = true;
  ev.before = std::move(before).value();
  ev.after = std::move(after).value();
  LogInfo("capture", "source {}: the columns of {} changed: {}; journaled as a schema change", source_.name,
          route.Quoted(), DescribeSchemaChange(ev));
  ctx_.counters->schema_changes.fetch_add(1, std::memory_order_relaxed);
  it->second = std::move(now);
  state_dirty_ = true;
  checked = rel;
  std::string filled = FilledByDefault(ev);
  HANDOFF_RETURN_IF_ERROR(AddEvent(std::move(ev)));
  if (filled.empty() || state_.TaskFor(name) != nullptr) return Status::OK();
  // ADD COLUMN ... DEFAULT gives the existing rows a value without a change
  // in the log: they are read again beside the stream, after the event.
  state_.tasks.push_back(NewTask(name, "schema", "schema"));
  PublishProgress(state_.tasks.back());
  LogInfo("capture",
          "source {}: the existing rows of {} took the default of added column {} without a change in the log; "
          "reading them again (about {} rows) in chunks of {} beside the stream",
          source_.name, route.Quoted(), filled, state_.tasks.back().estimated, source_.chunk_rows);
  return Status::OK();
}

std::string CaptureSession::FilledByDefault(const ChangeEvent& ev) {
  SchemaDiff diff = DiffSchema(ev);
  if (diff.added.empty() || !aux_.valid()) return std::string();
  std::string names = "{";
  for (size_t i = 0; i < diff.added.size(); ++i) {
    if (i) names += ",";
    names += "\"";
    for (char c : diff.added[i]->name) {
      if (c == '"' || c == '\\') names += '\\';
      names += c;
    }
    names += "\"";
  }
  names += "}";
  TableName table{ev.schema, ev.table, {}};
  auto res = aux_.Fetch(
      "SELECT string_agg(attname::text, ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = $1::regclass"
      " AND attname = ANY($2::text[]) AND atthasdef",
      {table.Quoted(), names});
  if (!res.ok() || res->rows() == 0 || res->is_null(0, 0)) {
    if (!res.ok())
      LogWarn("capture", "source {}: cannot tell whether the columns added to {} have defaults: {}", source_.name,
              table.Quoted(), res.status().message());
    return std::string();
  }
  return res->value(0, 0);
}

}  // namespace handoff
