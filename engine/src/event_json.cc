#include "handoff/engine/event_json.h"

#include <fmt/format.h>

#include "handoff/engine/text_codec.h"

namespace handoff {

size_t FirstInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;  // allowed range of the second byte
    if (c >= 0xc2 && c <= 0xdf) n = 2;
    else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return i;
    if (i + n > s.size()) return i;
    const auto second = static_cast<unsigned char>(s[i + 1]);
    if (second < lo || second > hi) return i;
    for (size_t k = 2; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return i;
    i += n;
  }
  return std::string_view::npos;
}

std::string ImageToJson(const std::vector<Column>& image) {
  std::string out = "{";
  for (size_t i = 0; i < image.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(&out, image[i].name);
    out.push_back(':');
    switch (image[i].kind) {
      case Column::Kind::kNull: out.append("null"); break;
      case Column::Kind::kUnchangedToast: out.append("{\"unchanged_toast\":true}"); break;
      case Column::Kind::kBinary: {
        AppendJsonString(&out, "\\x" + HexEncode(image[i].data));
        break;
      }
      case Column::Kind::kText: AppendJsonString(&out, image[i].data); break;
    }
  }
  out.push_back('}');
  return out;
}

std::string EntryToJson(const JournalEntry& entry) {
  const ChangeEvent& e = entry.event;
  std::string out = fmt::format("{{\"seq\":{},\"journaled_at_us\":{},\"source\":", entry.seq, entry.journaled_at_us);
  AppendJsonString(&out, e.source);
  out += fmt::format(",\"source_kind\":\"{}\",\"position\":\"{}\",\"xid\":{},\"commit_time_us\":{},\"op\":\"{}\"",
                     SourceKindName(e.source_kind), FormatPosition(e.position), e.xid, e.commit_time_us, OpName(e.op));
  if (!e.origin.empty()) {
    out += ",\"origin\":";
    AppendJsonString(&out, e.origin);
  }
  if (!e.delivery_id.empty()) {
    out += ",\"delivery_id\":";
    AppendJsonString(&out, e.delivery_id);
  }
  if (!e.table.empty()) {
    out += ",\"schema\":";
    AppendJsonString(&out, e.schema);
    out += ",\"table\":";
    AppendJsonString(&out, e.table);
  }
  if (!e.key_columns.empty()) {
    out += ",\"key\":[";
    for (size_t i = 0; i < e.key_columns.size(); ++i) {
      if (i) out.push_back(',');
      AppendJsonString(&out, e.key_columns[i]);
    }
    out += "]";
  }
  if (e.op == Op::kTruncate) {
    out += fmt::format(",\"truncate\":{{\"cascade\":{},\"restart_identity\":{},\"index\":{},\"count\":{}}}",
                       (e.truncate_options & kTruncateCascade) != 0,
                       (e.truncate_options & kTruncateRestartIdentity) != 0, e.truncate_index, e.truncate_count);
  }
  if (e.has_before) out += ",\"before\":" + ImageToJson(e.before);
  if (!e.after.empty()) out += ",\"after\":" + ImageToJson(e.after);
  out += ",\"correlation_id\":";
  AppendJsonString(&out, e.correlation_id);
  out += "}";
  return out;
}

}  // namespace handoff
