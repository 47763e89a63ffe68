#include "chunk_writer.h"

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

namespace handoff::apply {
namespace {

constexpr const char* kKindColumn = "\"__handoff_kind\"";

// The collapsed state of one key within a chunk.
struct Slot {
  enum class Mode { kNone, kDelete, kUpsert, kUpdate };
  Mode mode = Mode::kNone;
  bool delete_first = false;  // the key was deleted earlier in the chunk, then written again
  RowImage image;
};

// Later present values override earlier ones; the union of columns is present.
void Merge(const RowImage& later, RowImage* into) {
  for (size_t i = 0; i < later.values.size(); ++i) {
    if (!later.present[i]) continue;
    into->present[i] = true;
    into->values[i] = later.values[i];
  }
}

void Fold(const RowOp& op, Slot* slot) {
  switch (op.kind) {
    case RowOp::Kind::kDelete:
      slot->mode = Slot::Mode::kDelete;
      slot->delete_first = false;
      slot->image = op.image;
      return;
    case RowOp::Kind::kUpsert:
      if (slot->mode == Slot::Mode::kDelete) {
        slot->delete_first = true;
        slot->image = op.image;
      } else if (slot->mode == Slot::Mode::kNone) {
        slot->image = op.image;
      } else {
        Merge(op.image, &slot->image);
      }
      slot->mode = Slot::Mode::kUpsert;
      return;
    case RowOp::Kind::kUpdate:
      if (slot->mode == Slot::Mode::kDelete) return;  // updating a deleted row changes nothing
      if (slot->mode == Slot::Mode::kNone) {
        slot->image = op.image;
        slot->mode = Slot::Mode::kUpdate;
      } else {
        Merge(op.image, &slot->image);
      }
      return;
    case RowOp::Kind::kMoveKey:
    case RowOp::Kind::kTruncate:
      return;  // never collapsed (REQUIRES of WriteCollapsed)
  }
}

void AppendCopyValue(const std::optional<std::string>& v, std::string* out) {
  if (!v) {
    *out += "\\N";
    return;
  }
  for (char c : *v) {
    switch (c) {
      case '\\': *out += "\\\\"; break;
      case '\t': *out += "\\t"; break;
      case '\n': *out += "\\n"; break;
      case '\r': *out += "\\r"; break;
      default: out->push_back(c);
    }
  }
}

std::string ColumnList(const TableMeta& meta, const std::vector<bool>& present, const char* prefix) {
  std::string out;
  for (size_t i = 0; i < meta.columns.size(); ++i) {
    if (!present[i]) continue;
    if (!out.empty()) out += ", ";
    out += prefix;
    out += QuoteIdent(meta.columns[i]);
  }
  return out;
}

std::string KeyList(const TableMeta& meta) {
  std::string out;
  for (size_t k : meta.pk) out += (out.empty() ? "" : ", ") + QuoteIdent(meta.columns[k]);
  return out;
}

std::string KeyJoin(const TableMeta& meta) {
  std::string out;
  for (size_t k : meta.pk) out += " AND t." + QuoteIdent(meta.columns[k]) + " = s." + QuoteIdent(meta.columns[k]);
  return out;
}

// "c = EXCLUDED.c, ..." (or "c = s.c") over present non-key columns.
std::string SetList(const TableMeta& meta, const std::vector<bool>& present, const char* source) {
  std::string out;
  for (size_t i = 0; i < meta.columns.size(); ++i) {
    if (!present[i] || meta.IsKey(i)) continue;
    const std::string c = QuoteIdent(meta.columns[i]);
    out += (out.empty() ? "" : ", ") + c + " = " + source + c;
  }
  return out;
}

std::string UpsertSql(const TableMeta& meta, const std::vector<bool>& present, const std::string& values) {
  std::string set = SetList(meta, present, "EXCLUDED.");
  return "INSERT INTO " + meta.quoted + " AS t (" + ColumnList(meta, present, "") + ") OVERRIDING SYSTEM VALUE " +
         values + " ON CONFLICT (" + KeyList(meta) + ") DO " + (set.empty() ? "NOTHING" : "UPDATE SET " + set);
}

// " RESTART IDENTITY CASCADE" as the source's TRUNCATE had them.
std::string TruncateOptions(const ChangeEvent& ev) {
  std::string out;
  if (ev.truncate_options & kTruncateRestartIdentity) out += " RESTART IDENTITY";
  if (ev.truncate_options & kTruncateCascade) out += " CASCADE";
  return out;
}

// Writes the collapsed rows of one table.
// Chunks of a table that failed the direct path skip it for this many chunks.
constexpr int kDirectCooldownChunks = 16;

// Tries the direct path: every surviving row is a full insert of a new key,
// so the rows are COPYed straight into the target under a savepoint. A key
// that exists already (23505) rolls back to the savepoint and returns false,
// and the caller takes the staged upsert path instead. Same result either way;
// the direct path saves the staging table and the ON CONFLICT pass in the
// common spike case (new approved entries).
Result<bool> TryDirectInsert(PgConnection& conn, const TableMeta& meta, const std::vector<Slot>& slots,
                             const std::vector<bool>& present) {
  std::string data;
  for (const Slot& s : slots) {
    if (s.mode == Slot::Mode::kNone) continue;
    bool first = true;
    for (size_t i = 0; i < meta.columns.size(); ++i) {
      if (!present[i]) continue;
      if (!first) data += '\t';
      first = false;
      AppendCopyValue(s.image.values[i], &data);
    }
    data += '\n';
  }
  HANDOFF_RETURN_IF_ERROR(conn.Exec("SAVEPOINT handoff_direct"));
  Status st = conn.CopyIn("COPY " + meta.quoted + " (" + ColumnList(meta, present, "") + ") FROM STDIN", data);
  if (st.ok()) {
    HANDOFF_RETURN_IF_ERROR(conn.Exec("RELEASE SAVEPOINT handoff_direct"));
    return true;
  }
  if (conn.last_sqlstate() != "23505") return st;
  HANDOFF_RETURN_IF_ERROR(conn.Exec("ROLLBACK TO SAVEPOINT handoff_direct; RELEASE SAVEPOINT handoff_direct"));
  return false;
}

Status WriteTable(PgConnection& conn, const TableMeta& meta, const std::vector<const PendingChange*>& changes,
                  int* direct_cooldown) {
  std::unordered_map<std::string, size_t> by_key;
  std::vector<Slot> slots;
  bool only_inserts = true;
  for (const PendingChange* c : changes) {
    only_inserts = only_inserts && (c->event.op == Op::kInsert || c->event.op == Op::kRead);
    for (const RowOp& op : c->ops) {
      auto [it, fresh] = by_key.try_emplace(KeyOf(meta, op.image), slots.size());
      if (fresh) slots.emplace_back();
      Fold(op, &slots[it->second]);
    }
  }
  if (only_inserts && !slots.empty()) {
    const std::vector<bool>& present = slots.front().image.present;
    bool uniform = true;
    for (const Slot& s : slots) uniform = uniform && s.mode == Slot::Mode::kUpsert && !s.delete_first && s.image.present == present;
    if (uniform && *direct_cooldown == 0) {
      auto done = TryDirectInsert(conn, meta, slots, present);
      if (!done.ok()) return done.status();
      if (*done) return Status::OK();
      *direct_cooldown = kDirectCooldownChunks;
    } else if (*direct_cooldown > 0) {
      --*direct_cooldown;
    }
  }
  // Groups: one per (mode, set of present columns); stage kind = group + 1, 0 = delete.
  std::map<std::pair<Slot::Mode, std::vector<bool>>, int> group_of;
  std::vector<std::pair<Slot::Mode, std::vector<bool>>> groups;
  bool any_delete = false;
  std::string data;
  auto emit = [&](const RowImage& image, int kind) {
    for (size_t i = 0; i < meta.columns.size(); ++i) {
      AppendCopyValue(image.present[i] ? image.values[i] : std::nullopt, &data);
      data += '\t';
    }
    data += std::to_string(kind);
    data += '\n';
  };
  for (const Slot& s : slots) {
    if (s.mode == Slot::Mode::kNone) continue;
    if (s.mode == Slot::Mode::kDelete || s.delete_first) {
      any_delete = true;
      emit(s.image, 0);
    }
    if (s.mode == Slot::Mode::kDelete) continue;
    auto key = std::make_pair(s.mode, s.image.present);
    auto [it, fresh] = group_of.try_emplace(key, static_cast<int>(groups.size()));
    if (fresh) groups.push_back(key);
    emit(s.image, it->second + 1);
  }
  if (data.empty()) return Status::OK();

  const std::string all = ColumnList(meta, std::vector<bool>(meta.columns.size(), true), "");
  HANDOFF_RETURN_IF_ERROR(conn.Exec("CREATE TEMP TABLE IF NOT EXISTS " + meta.stage + " ON COMMIT DELETE ROWS AS SELECT " +
                                    all + ", 0::int AS " + kKindColumn + " FROM " + meta.quoted +
                                    " WITH NO DATA; TRUNCATE " + meta.stage));
  HANDOFF_RETURN_IF_ERROR(
      conn.CopyIn("COPY " + meta.stage + " (" + all + ", " + kKindColumn + ") FROM STDIN", data));

  std::string sql;
  if (any_delete)
    sql += "DELETE FROM " + meta.quoted + " AS t USING " + meta.stage + " AS s WHERE s." + kKindColumn + " = 0" +
           KeyJoin(meta) + ";\n";
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto& [mode, present] = groups[g];
    const std::string where = std::string(" WHERE ") + kKindColumn + " = " + std::to_string(g + 1);
    if (mode == Slot::Mode::kUpsert) {
      sql += UpsertSql(meta, present, "SELECT " + ColumnList(meta, present, "") + " FROM " + meta.stage + where) +
             ";\n";
    } else {
      std::string set = SetList(meta, present, "s.");
      if (set.empty()) continue;  // only key columns present: nothing to change
      sql += "UPDATE " + meta.quoted + " AS t SET " + set + " FROM " + meta.stage + " AS s WHERE s." + kKindColumn +
             " = " + std::to_string(g + 1) + KeyJoin(meta) + ";\n";
    }
  }
  return conn.Exec(sql);
}

}  // namespace

Status ChunkWriter::WriteCollapsed(const std::vector<PendingChange>& changes) {
  // Tables in order of first appearance; each table's changes in seq order.
  std::vector<std::pair<const TableMeta*, std::vector<const PendingChange*>>> tables;
  std::unordered_map<const TableMeta*, size_t> index;
  for (const PendingChange& c : changes) {
    auto [it, fresh] = index.try_emplace(c.meta.get(), tables.size());
    if (fresh) tables.emplace_back(c.meta.get(), std::vector<const PendingChange*>{});
    tables[it->second].second.push_back(&c);
  }
  for (const auto& [meta, list] : tables)
    HANDOFF_RETURN_IF_ERROR(WriteTable(*conn_, *meta, list, &direct_cooldown_[meta->quoted]));
  return Status::OK();
}

Status ChunkWriter::WriteOne(const PendingChange& change) {
  const TableMeta& meta = *change.meta;
  for (const RowOp& op : change.ops) {
    PgParams params;
    std::string sql;
    auto where_key = [&](const std::vector<std::optional<std::string>>& key) {
      std::string w;
      for (size_t i = 0; i < meta.pk.size(); ++i) {
        params.push_back(key[i]);
        w += (i ? " AND " : " WHERE ") + QuoteIdent(meta.columns[meta.pk[i]]) + " = $" + std::to_string(params.size());
      }
      return w;
    };
    auto key_values = [&](const RowImage& image) {
      std::vector<std::optional<std::string>> key;
      for (size_t k : meta.pk) key.push_back(image.values[k]);
      return key;
    };
    auto set_params = [&](bool include_key) {
      std::string set;
      for (size_t i = 0; i < meta.columns.size(); ++i) {
        if (!op.image.present[i] || (!include_key && meta.IsKey(i))) continue;
        params.push_back(op.image.values[i]);
        set += (set.empty() ? "" : ", ") + QuoteIdent(meta.columns[i]) + " = $" + std::to_string(params.size());
      }
      return set;
    };
    switch (op.kind) {
      case RowOp::Kind::kTruncate:
        sql = "TRUNCATE " + meta.quoted + TruncateOptions(change.event);
        break;
      case RowOp::Kind::kDelete:
        sql = "DELETE FROM " + meta.quoted + where_key(key_values(op.image));
        break;
      case RowOp::Kind::kUpsert: {
        std::string values;
        for (size_t i = 0; i < meta.columns.size(); ++i) {
          if (!op.image.present[i]) continue;
          params.push_back(op.image.values[i]);
          values += (values.empty() ? "$" : ", $") + std::to_string(params.size());
        }
        sql = UpsertSql(meta, op.image.present, "VALUES (" + values + ")");
        break;
      }
      case RowOp::Kind::kUpdate: {
        std::string set = set_params(false);
        if (set.empty()) continue;
        sql = "UPDATE " + meta.quoted + " SET " + set + where_key(key_values(op.image));
        break;
      }
      case RowOp::Kind::kMoveKey: {
        std::string set = set_params(true);
        sql = "UPDATE " + meta.quoted + " SET " + set + where_key(op.old_key);
        break;
      }
    }
    HANDOFF_RETURN_IF_ERROR(conn_->Query(sql, params));
  }
  return Status::OK();
}

Status ChunkWriter::WriteTruncate(const std::vector<PendingChange>& group) {
  std::string list;
  std::set<std::string> named;  // two source tables routed to one target table: named once
  for (const PendingChange& c : group)
    if (named.insert(c.meta->quoted).second) list += (list.empty() ? "" : ", ") + c.meta->quoted;
  return conn_->Exec("TRUNCATE " + list + TruncateOptions(group.front().event));
}

Status ChunkWriter::DropStages(const std::vector<std::shared_ptr<const TableMeta>>& tables) {
  std::string sql;
  for (const auto& t : tables) sql += "DROP TABLE IF EXISTS pg_temp." + t->stage + ";";
  return sql.empty() ? Status::OK() : conn_->Exec(sql);
}

}  // namespace handoff::apply
