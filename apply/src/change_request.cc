#include "change_request.h"

#include <fmt/format.h>

#include <vector>

#include "handoff/engine/event_json.h"
#include "handoff/engine/text_codec.h"

namespace handoff::apply {
namespace {

const Column* Find(const std::vector<Column>& image, const std::string& name) {
  for (const Column& c : image)
    if (c.name == name) return &c;
  return nullptr;
}

// The key columns of `image` (in key_columns order); kPermanent when one is
// absent or carries no value (unchanged TOAST).
Status KeyOf(const ChangeEvent& ev, const std::vector<Column>& image, const char* which, std::vector<Column>* out) {
  out->clear();
  for (const std::string& name : ev.key_columns) {
    const Column* c = Find(image, name);
    if (c == nullptr || c->is_unchanged_toast())
      return Status::Permanent(fmt::format("key column {} has no value in the {} image", name, which));
    out->push_back(*c);
  }
  return Status::OK();
}

}  // namespace

Status CheckJsonText(const ChangeEvent& ev) {
  for (const auto* image : {&ev.before, &ev.after}) {
    for (const Column& c : *image) {
      if (c.kind != Column::Kind::kText) continue;
      if (size_t bad = FirstInvalidUtf8(c.data); bad != std::string_view::npos)
        return Status::Permanent(fmt::format("column {} of {}.{} holds bytes that are not valid UTF-8 (offset {}), "
                                             "which a JSON body cannot carry",
                                             c.name, ev.schema, ev.table, bad));
    }
  }
  return Status::OK();
}

std::string ChangeId(const ChangeEvent& ev) {
  return fmt::format("{}:{}:{}.{}:{}", ev.source, FormatPosition(ev.position), ev.schema, ev.table, OpName(ev.op));
}

std::string IdempotencyKey(const ChangeEvent& ev) { return Sha256Hex(ChangeId(ev)); }

Status BuildChangeRequest(const ChangeEvent& ev, const std::string& resource, ChangeRequest* out) {
  const bool is_delete = ev.op == Op::kDelete;
  if (!is_delete && ev.op != Op::kInsert && ev.op != Op::kRead && ev.op != Op::kUpdate)
    return Status::InvalidArgument(fmt::format("a {} is not sent as a request", OpName(ev.op)));

  // The key: the row's identity after the change (delete: before it). An
  // update that moves the key also carries the old one.
  std::vector<Column> key, old_key;
  bool moved = false;
  if (is_delete) {
    if (ev.key_columns.empty() || !ev.has_before) return Status::Permanent("a delete without a key cannot be sent");
    HANDOFF_RETURN_IF_ERROR(KeyOf(ev, ev.before, "before", &key));
  } else {
    HANDOFF_RETURN_IF_ERROR(KeyOf(ev, ev.after, "after", &key));
    if (ev.op == Op::kUpdate && ev.has_before && !ev.key_columns.empty()) {
      Status st = KeyOf(ev, ev.before, "before", &old_key);
      moved = st.ok() && old_key != key;
    }
  }

  out->method = is_delete ? "DELETE" : "PUT";
  out->resource = resource;
  out->change_id = ChangeId(ev);
  out->idempotency_key = Sha256Hex(out->change_id);
  if (out->idempotency_key.empty()) return Status::Internal("SHA-256 is unavailable");

  std::string& b = out->body;
  b.clear();
  b += "{\"id\":";
  AppendJsonString(&b, out->change_id);
  b += ",\"op\":";
  AppendJsonString(&b, OpName(ev.op));
  b += ",\"source\":";
  AppendJsonString(&b, ev.source);
  b += ",\"position\":";
  AppendJsonString(&b, FormatPosition(ev.position));
  b += ",\"schema\":";
  AppendJsonString(&b, ev.schema);
  b += ",\"table\":";
  AppendJsonString(&b, ev.table);
  b += fmt::format(",\"commit_time_us\":{}", ev.commit_time_us);
  b += ",\"key\":" + ImageToJson(key);
  if (moved) b += ",\"old_key\":" + ImageToJson(old_key);
  if (ev.has_before) b += ",\"before\":" + ImageToJson(ev.before);
  if (!is_delete) b += ",\"after\":" + ImageToJson(ev.after);
  b += "}";
  return Status::OK();
}

}  // namespace handoff::apply
