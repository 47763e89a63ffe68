// DecodedRecordToJson: the one-line normalized form printed by
// `handoff inspect debezium`. Values are PostgreSQL text; a value that is not
// UTF-8 (binary columns, message content) is printed as base64 with
// "encoding":"base64".
#include <simdjson.h>

#include "debezium/decimal_codec.h"
#include "handoff/capture/debezium.h"
#include "handoff/engine/json_text.h"
#include "handoff/engine/text_codec.h"

namespace handoff {
namespace {


void AppendColumns(const std::vector<Column>& cols, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < cols.size(); ++i) {
    const Column& c = cols[i];
    if (i > 0) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(out, c.name, InvalidUtf8::kKeep);
    out->append(",\"type_oid\":");
    AppendJsonInt(out, c.type_oid);
    switch (c.kind) {
      case Column::Kind::kNull: out->append(",\"kind\":\"null\"}"); continue;
      case Column::Kind::kUnchangedToast: out->append(",\"kind\":\"unchanged_toast\"}"); continue;
      case Column::Kind::kText: out->append(",\"kind\":\"text\""); break;
      case Column::Kind::kBinary: out->append(",\"kind\":\"binary\""); break;
    }
    if (c.kind == Column::Kind::kText && simdjson::validate_utf8(c.data.data(), c.data.size())) {
      out->append(",\"value\":");
      AppendJsonString(out, c.data, InvalidUtf8::kKeep);
    } else {
      out->append(",\"encoding\":\"base64\",\"value\":\"");
      AppendBase64(out, c.data);
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(']');
}

}  // namespace

std::string DecodedRecordToJson(const DecodedRecord& r) {
  std::string out = "{\"kind\":\"";
  out.append(DecodedRecordKindName(r.kind));
  out.append("\",\"offset\":");
  AppendJsonInt(&out, r.offset);
  switch (r.kind) {
    case DecodedRecord::Kind::kChange: {
      const ChangeEvent& e = r.event;
      out.append(",\"source\":");
      AppendJsonString(&out, e.source, InvalidUtf8::kKeep);
      out.append(",\"position\":");
      AppendJsonString(&out, FormatPosition(e.position), InvalidUtf8::kKeep);
      out.append(",\"xid\":");
      AppendJsonInt(&out, e.xid);
      out.append(",\"commit_time_us\":");
      AppendJsonInt(&out, e.commit_time_us);
      if (!e.origin.empty()) out.append(",\"origin\":"), AppendJsonString(&out, e.origin, InvalidUtf8::kKeep);
      out.append(",\"schema\":");
      AppendJsonString(&out, e.schema, InvalidUtf8::kKeep);
      out.append(",\"table\":");
      AppendJsonString(&out, e.table, InvalidUtf8::kKeep);
      out.append(",\"op\":");
      AppendJsonString(&out, OpName(e.op), InvalidUtf8::kKeep);
      out.append(",\"key_columns\":[");
      for (size_t i = 0; i < e.key_columns.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendJsonString(&out, e.key_columns[i], InvalidUtf8::kKeep);
      }
      out.append("],\"before\":");
      if (e.has_before) AppendColumns(e.before, &out);
      else out.append("null");
      out.append(",\"after\":");
      AppendColumns(e.after, &out);
      break;
    }
    case DecodedRecord::Kind::kTxnBegin:
    case DecodedRecord::Kind::kTxnEnd:
      out.append(",\"txn_id\":");
      AppendJsonString(&out, r.txn_id, InvalidUtf8::kKeep);
      out.append(",\"xid\":");
      AppendJsonInt(&out, r.xid);
      out.append(",\"lsn\":");
      AppendJsonString(&out, FormatLsn(r.lsn), InvalidUtf8::kKeep);
      out.append(",\"ts_us\":");
      AppendJsonInt(&out, r.ts_us);
      if (r.kind == DecodedRecord::Kind::kTxnEnd) {
        out.append(",\"event_count\":");
        AppendJsonInt(&out, r.event_count);
        out.append(",\"data_collections\":[");
        for (size_t i = 0; i < r.data_collections.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.append("{\"data_collection\":");
          AppendJsonString(&out, r.data_collections[i].first, InvalidUtf8::kKeep);
          out.append(",\"event_count\":");
          AppendJsonInt(&out, r.data_collections[i].second);
          out.push_back('}');
        }
        out.push_back(']');
      }
      break;
    case DecodedRecord::Kind::kHeartbeat:
      out.append(",\"ts_us\":");
      AppendJsonInt(&out, r.ts_us);
      break;
    default:
      break;
  }
  if (!r.key.empty()) {
    out.append(",\"key\":");
    AppendColumns(r.key, &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace handoff
