#include "row_op.h"

#include <fmt/format.h>

#include <algorithm>

#include "handoff/engine/event_json.h"

namespace handoff::apply {
namespace {

Status FillImage(const TableMeta& meta, const std::vector<Column>& columns, RowImage* image, bool* has_toast) {
  image->values.assign(meta.columns.size(), std::nullopt);
  image->present.assign(meta.columns.size(), false);
  for (const Column& c : columns) {
    const int idx = meta.Find(c.name);
    if (idx < 0) continue;  // not in the target: ignored
    switch (c.kind) {
      case Column::Kind::kUnchangedToast:
        if (has_toast) *has_toast = true;
        break;
      case Column::Kind::kNull:
        image->present[idx] = true;
        break;
      case Column::Kind::kText:
        image->present[idx] = true;
        image->values[idx] = c.data;
        break;
      case Column::Kind::kBinary:
        return Status::Permanent(fmt::format("column {} carries a binary-form value, which the PostgreSQL "
                                             "applier cannot write (text form expected)",
                                             c.name));
    }
  }
  return Status::OK();
}

bool HasKey(const TableMeta& meta, const RowImage& image) {
  for (size_t k : meta.pk)
    if (!image.present[k] || !image.values[k]) return false;
  return true;
}

Status NeedKey(const TableMeta& meta, const RowImage& image, const char* which) {
  for (size_t k : meta.pk)
    if (!image.present[k] || !image.values[k])
      return Status::Permanent(fmt::format("the {} image carries no value for key column {} of {}", which,
                                           meta.columns[k], meta.Name()));
  return Status::OK();
}

RowImage KeyOnly(const TableMeta& meta, const RowImage& image) {
  RowImage key;
  key.values.assign(meta.columns.size(), std::nullopt);
  key.present.assign(meta.columns.size(), false);
  for (size_t k : meta.pk) {
    key.values[k] = image.values[k];
    key.present[k] = true;
  }
  return key;
}


Status CheckValue(const TableMeta& meta, const Column& c, bool key) {
  const char* what = key ? "key column" : "column";
  if (size_t nul = c.data.find('\0'); nul != std::string::npos)
    return Status::Permanent(fmt::format("{} {} of {} holds a NUL byte (offset {}), which PostgreSQL text cannot "
                                         "store",
                                         what, c.name, meta.Name(), nul));
  if (!meta.utf8) return Status::OK();
  if (size_t bad = FirstInvalidUtf8(c.data); bad != std::string_view::npos)
    return Status::Permanent(fmt::format("{} {} of {} holds bytes that are not valid UTF-8 (offset {}), which a "
                                         "UTF8 database refuses",
                                         what, c.name, meta.Name(), bad));
  return Status::OK();
}

// `s` with control bytes and bytes that are not UTF-8 written as \xNN, so a
// hostile key cannot cut or garble a reason or a log line.
std::string Printable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 1;
    if (c >= 0x80) {
      const size_t bad = FirstInvalidUtf8(std::string_view(s).substr(i, std::min<size_t>(4, s.size() - i)));
      n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (bad == 0 || i + n > s.size()) n = 0;
    }
    if (n == 0 || c < 0x20 || c == 0x7f) {
      out += fmt::format("\\x{:02x}", c);
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

}  // namespace

Status CheckStorable(const TableMeta& meta, const ChangeEvent& ev) {
  const bool key_only = ev.op == Op::kDelete;  // a delete sends its key only
  for (const Column& c : ev.after) {
    const int idx = meta.Find(c.name);
    if (idx < 0 || c.kind != Column::Kind::kText || (key_only && !meta.IsKey(idx))) continue;
    HANDOFF_RETURN_IF_ERROR(CheckValue(meta, c, meta.IsKey(idx)));
  }
  if (!ev.has_before) return Status::OK();
  for (const Column& c : ev.before) {  // only its key is sent
    const int idx = meta.Find(c.name);
    if (idx < 0 || c.kind != Column::Kind::kText || !meta.IsKey(idx)) continue;
    HANDOFF_RETURN_IF_ERROR(CheckValue(meta, c, true));
  }
  return Status::OK();
}

Status BuildRowOps(const TableMeta& meta, const ChangeEvent& ev, std::vector<RowOp>* out) {
  RowOp op;
  switch (ev.op) {
    case Op::kTruncate:
      op.kind = RowOp::Kind::kTruncate;
      out->push_back(std::move(op));
      return Status::OK();
    case Op::kDelete: {
      const auto& cols = ev.has_before ? ev.before : ev.after;
      HANDOFF_RETURN_IF_ERROR(FillImage(meta, cols, &op.image, nullptr));
      HANDOFF_RETURN_IF_ERROR(NeedKey(meta, op.image, "old"));
      op.kind = RowOp::Kind::kDelete;
      op.image = KeyOnly(meta, op.image);
      out->push_back(std::move(op));
      return Status::OK();
    }
    case Op::kInsert:
    case Op::kRead:
    case Op::kUpdate: {
      bool toast = false;
      HANDOFF_RETURN_IF_ERROR(FillImage(meta, ev.after, &op.image, &toast));
      HANDOFF_RETURN_IF_ERROR(NeedKey(meta, op.image, "new"));
      op.kind = toast ? RowOp::Kind::kUpdate : RowOp::Kind::kUpsert;
      if (ev.op == Op::kUpdate && ev.has_before) {
        RowImage before;
        HANDOFF_RETURN_IF_ERROR(FillImage(meta, ev.before, &before, nullptr));
        bool key_only = HasKey(meta, before);
        for (size_t i = 0; key_only && i < before.present.size(); ++i) key_only = !before.present[i] || meta.IsKey(i);
        if (key_only && KeyOf(meta, before) == KeyOf(meta, op.image)) {
          // An update by key naming only what it changes (a derived partial
          // change): it updates the row, never creates a partial one.
          op.kind = RowOp::Kind::kUpdate;
        } else if (HasKey(meta, before) && KeyOf(meta, before) != KeyOf(meta, op.image)) {
          if (toast) {  // keep the unsent columns: move the row in place
            op.kind = RowOp::Kind::kMoveKey;
            for (size_t k : meta.pk) op.old_key.push_back(before.values[k]);
          } else {
            RowOp del;
            del.kind = RowOp::Kind::kDelete;
            del.image = KeyOnly(meta, before);
            out->push_back(std::move(del));
          }
        }
      }
      out->push_back(std::move(op));
      return Status::OK();
    }
    case Op::kMessage:
    case Op::kCommit:
    case Op::kSchema:
      return Status::OK();
  }
  return Status::OK();
}

std::string KeyOf(const TableMeta& meta, const RowImage& image) {
  std::string key;
  for (size_t k : meta.pk) {
    const std::string& v = image.values[k] ? *image.values[k] : std::string();
    key += std::to_string(v.size());
    key += ':';
    key += v;
  }
  return key;
}

std::string DescribeKey(const TableMeta* meta, const ChangeEvent& ev) {
  if (ev.op == Op::kTruncate) return "(all rows)";
  std::vector<std::string> names;
  if (meta) {
    for (size_t k : meta->pk) names.push_back(meta->columns[k]);
  } else {
    names = ev.key_columns;
  }
  if (names.empty()) return "(no key)";
  std::string lhs, rhs;
  for (const auto& name : names) {
    const Column* c = nullptr;
    if (ev.has_before)
      for (const auto& col : ev.before)
        if (col.name == name) c = &col;
    if (!c)
      for (const auto& col : ev.after)
        if (col.name == name) c = &col;
    if (!lhs.empty()) lhs += ", ", rhs += ", ";
    lhs += name;
    rhs += (c && c->kind == Column::Kind::kText) ? Printable(c->data) : (c && c->is_null() ? "NULL" : "?");
  }
  return "(" + lhs + ")=(" + rhs + ")";
}

std::string ImageJson(const std::vector<Column>& columns) {
  std::string out = "{";
  for (const Column& c : columns) {
    if (out.size() > 1) out += ',';
    AppendJsonString(&out, c.name);
    out += ':';
    switch (c.kind) {
      case Column::Kind::kNull: out += "null"; break;
      case Column::Kind::kUnchangedToast: out += "{\"unchanged_toast\":true}"; break;
      case Column::Kind::kText: AppendJsonString(&out, c.data); break;
      case Column::Kind::kBinary: out += "{\"binary_bytes\":" + std::to_string(c.data.size()) + "}"; break;
    }
  }
  out += '}';
  return out;
}

}  // namespace handoff::apply
