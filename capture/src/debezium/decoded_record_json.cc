// DecodedRecordToJson: the one-line normalized form printed by
// `handoff inspect debezium`. Values are PostgreSQL text; a value that is not
// UTF-8 (binary columns, message content) is printed as base64 with
// "encoding":"base64".
#include <simdjson.h>

#include "debezium/decimal_codec.h"
#include "debezium/json_text.h"
#include "handoff/capture/debezium.h"

namespace handoff {
namespace {

using dbz::AppendInt;
using dbz::AppendJsonString;

void AppendColumns(const std::vector<Column>& cols, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < cols.size(); ++i) {
    const Column& c = cols[i];
    if (i > 0) out->push_back(',');
    out->append("{\"name\":");
    AppendJsonString(c.name, out);
    out->append(",\"type_oid\":");
    AppendInt(c.type_oid, out);
    switch (c.kind) {
      case Column::Kind::kNull: out->append(",\"kind\":\"null\"}"); continue;
      case Column::Kind::kUnchangedToast: out->append(",\"kind\":\"unchanged_toast\"}"); continue;
      case Column::Kind::kText: out->append(",\"kind\":\"text\""); break;
      case Column::Kind::kBinary: out->append(",\"kind\":\"binary\""); break;
    }
    if (c.kind == Column::Kind::kText && simdjson::validate_utf8(c.data.data(), c.data.size())) {
      out->append(",\"value\":");
      AppendJsonString(c.data, out);
    } else {
      out->append(",\"encoding\":\"base64\",\"value\":\"");
      dbz::AppendBase64(c.data, out);
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
  AppendInt(r.offset, &out);
  switch (r.kind) {
    case DecodedRecord::Kind::kChange: {
      const ChangeEvent& e = r.event;
      out.append(",\"source\":");
      AppendJsonString(e.source, &out);
      out.append(",\"position\":");
      AppendJsonString(FormatPosition(e.position), &out);
      out.append(",\"xid\":");
      AppendInt(e.xid, &out);
      out.append(",\"commit_time_us\":");
      AppendInt(e.commit_time_us, &out);
      if (!e.origin.empty()) out.append(",\"origin\":"), AppendJsonString(e.origin, &out);
      out.append(",\"schema\":");
      AppendJsonString(e.schema, &out);
      out.append(",\"table\":");
      AppendJsonString(e.table, &out);
      out.append(",\"op\":");
      AppendJsonString(OpName(e.op), &out);
      out.append(",\"key_columns\":[");
      for (size_t i = 0; i < e.key_columns.size(); ++i) {
        if (i > 0) out.push_back(',');
        AppendJsonString(e.key_columns[i], &out);
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
      AppendJsonString(r.txn_id, &out);
      out.append(",\"xid\":");
      AppendInt(r.xid, &out);
      out.append(",\"lsn\":");
      AppendJsonString(FormatLsn(r.lsn), &out);
      out.append(",\"ts_us\":");
      AppendInt(r.ts_us, &out);
      if (r.kind == DecodedRecord::Kind::kTxnEnd) {
        out.append(",\"event_count\":");
        AppendInt(r.event_count, &out);
        out.append(",\"data_collections\":[");
        for (size_t i = 0; i < r.data_collections.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.append("{\"data_collection\":");
          AppendJsonString(r.data_collections[i].first, &out);
          out.append(",\"event_count\":");
          AppendInt(r.data_collections[i].second, &out);
          out.push_back('}');
        }
        out.push_back(']');
      }
      break;
    case DecodedRecord::Kind::kHeartbeat:
      out.append(",\"ts_us\":");
      AppendInt(r.ts_us, &out);
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
