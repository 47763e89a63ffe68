// PayloadDecoder: see the header for the formats. simdjson On-Demand is used
// with exceptions inside this file only; Decode catches them and returns a
// Status, so nothing is thrown across the component boundary.
#include "payload_decoder.h"
#include "json_kernel.h"
#include "handoff/engine/civil_date.h"
#include "handoff/engine/pg_types.h"

#include <simdjson.h>

#include <charconv>
#include <cstdint>

namespace handoff::webhook {
namespace {

namespace od = simdjson::ondemand;

std::string_view TrimWs(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

// -?int(.digits)?([eE][+-]?digits)? per RFC 8259; any length (kept as text).
bool ValidJsonNumber(std::string_view t) {
  size_t i = 0;
  auto digits = [&] {
    size_t b = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > b;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.' && (++i, !digits())) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// The JSON value as a PostgreSQL text column (consumes the value).
Column ToColumn(std::string name, od::value v) {
  Column c;
  c.name = std::move(name);
  switch (v.type()) {
    case od::json_type::null:
      c.type_oid = pg_oid::kText;
      c.kind = Column::Kind::kNull;
      (void)v.is_null();
      break;
    case od::json_type::boolean:
      c.type_oid = pg_oid::kBool;
      c.kind = Column::Kind::kText;
      c.data = bool(v.get_bool()) ? "t" : "f";
      break;
    case od::json_type::number: {
      std::string_view tok = TrimWs(v.raw_json_token());
      bool integral = tok.find_first_of(".eE") == std::string_view::npos;
      int64_t i64;
      if (integral) {
        auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), i64);
        integral = ec == std::errc() && p == tok.data() + tok.size();
      }
      c.type_oid = integral ? pg_oid::kInt8 : pg_oid::kNumeric;
      c.kind = Column::Kind::kText;
      if (!ValidJsonNumber(tok)) throw simdjson::simdjson_error(simdjson::NUMBER_ERROR);
      c.data = std::string(tok);
      break;
    }
    case od::json_type::string:
      c.type_oid = pg_oid::kText;
      c.kind = Column::Kind::kText;
      c.data = std::string(std::string_view(v.get_string()));
      break;
    case od::json_type::object:
    case od::json_type::array:
      c.type_oid = pg_oid::kJson;
      c.kind = Column::Kind::kText;
      c.data = std::string(TrimWs(simdjson::to_json_string(v)));
      break;
  }
  return c;
}

// A JSON scalar's text: strings unescaped, numbers as their token.
std::string ScalarText(od::value v) {
  if (v.type() == od::json_type::string) return std::string(std::string_view(v.get_string()));
  return std::string(TrimWs(v.raw_json_token()));
}

// "2023-07-17T11:43:32.827Z" / "+00:00" offsets -> µs since the epoch; 0 if unparsable.
int64_t ParseRfc3339Us(std::string_view s) {
  auto num = [&](size_t pos, size_t len, int* out) {
    if (pos + len > s.size()) return false;
    auto [p, ec] = std::from_chars(s.data() + pos, s.data() + pos + len, *out);
    return ec == std::errc() && p == s.data() + pos + len;
  };
  int y, mo, d, h, mi, se;
  if (!num(0, 4, &y) || !num(5, 2, &mo) || !num(8, 2, &d) || !num(11, 2, &h) || !num(14, 2, &mi) ||
      !num(17, 2, &se))
    return 0;
  // Out-of-range fields (month 99, a sign inside a field) are unparsable too:
  // unchecked, they overflow the microsecond count.
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60)
    return 0;
  int64_t us = 0;
  size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    int digits = 0;
    for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, ++digits)
      if (digits < 6) us = us * 10 + (s[i] - '0');
    for (; digits < 6; ++digits) us *= 10;
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh, om;
    if (!num(i + 1, 2, &oh) || !num(i + 4, 2, &om) || oh < 0 || oh > 23 || om < 0 || om > 59) return 0;
    offset_s = (s[i] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
  }
  int64_t secs = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 +
                 mi * 60 + se - offset_s;
  return secs * 1000000 + us;
}

Column TextColumn(std::string name, uint32_t oid, std::string data) {
  return Column{std::move(name), oid, Column::Kind::kText, std::move(data)};
}

}  // namespace

class PayloadDecoder::Impl {
 public:
  Impl(PayloadFormat f, std::string source)
      : format_(f), source_(std::move(source)), debezium_(DebeziumDecoderOptions{source_, SourceKind::kWebhook}) {}

  Status Decode(std::string_view body, bool want_id, DecodedDelivery* out) {
    *out = DecodedDelivery();
    buf_.assign(body.data(), body.size());
    buf_.resize(body.size() + simdjson::SIMDJSON_PADDING);
    try {
      switch (format_) {
        case PayloadFormat::kDebezium: HANDOFF_RETURN_IF_ERROR(DecodeDebezium(body, out)); break;
        case PayloadFormat::kSalesforce: HANDOFF_RETURN_IF_ERROR(DecodeSalesforce(body, out)); break;
        case PayloadFormat::kToggl: HANDOFF_RETURN_IF_ERROR(DecodeToggl(body, out)); break;
      }
      if (want_id && out->delivery_id.empty()) {
        od::document doc = parser_.iterate(Padded(body));
        if (doc.type() == od::json_type::object) {
          auto id = doc.find_field_unordered("id");
          if (!id.error() && id.type() == od::json_type::string) out->delivery_id = ScalarText(id.value());
        }
      }
    } catch (const simdjson::simdjson_error& e) {
      return Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
    }
    for (ChangeEvent& ev : out->events) {
      ev.source = source_;
      ev.source_kind = SourceKind::kWebhook;
    }
    return Status::OK();
  }

 private:
  simdjson::padded_string_view Padded(std::string_view body) {
    return simdjson::padded_string_view(buf_.data(), body.size(), buf_.size());
  }

  Status DecodeDebezium(std::string_view body, DecodedDelivery* out) {
    records_.clear();
    HANDOFF_RETURN_IF_ERROR(debezium_.DecodeAll(body, &records_));
    for (DecodedRecord& r : records_) {
      if (r.kind != DecodedRecord::Kind::kChange) continue;
      ChangeEvent& ev = r.event;
      if (ev.xid != 0) ev.correlation_id = "txid:" + std::to_string(ev.xid);
      ev.xid = 0;
      out->events.push_back(std::move(ev));
    }
    return Status::OK();
  }

  // ---- salesforce ----

  struct SfHeader {
    std::string entity, change_type, transaction_key, sequence, commit_number;
    int64_t commit_ms = 0;
    std::vector<std::string> record_ids, nulled;
    bool present = false;
  };

  Status DecodeSalesforce(std::string_view body, DecodedDelivery* out) {
    od::document doc = parser_.iterate(Padded(body));
    std::vector<std::string> ids;
    if (doc.type() == od::json_type::array) {
      for (od::value item : doc.get_array()) HANDOFF_RETURN_IF_ERROR(SalesforceItem(item.get_object(), out, &ids));
    } else {
      HANDOFF_RETURN_IF_ERROR(SalesforceItem(doc.get_object(), out, &ids));
    }
    if (ids.size() == 1) out->delivery_id = "salesforce:" + ids[0];
    return Status::OK();
  }

  // One CometD envelope {data:{...}} or bare {schema, payload, event}.
  Status SalesforceItem(od::object item, DecodedDelivery* out, std::vector<std::string>* ids) {
    bool seen_payload = false;
    for (auto field : item) {
      std::string_view key = field.unescaped_key();
      if (key == "data") return SalesforceItem(field.value().get_object(), out, ids);
      if (key == "payload") {
        HANDOFF_RETURN_IF_ERROR(SalesforcePayload(field.value().get_object(), out));
        seen_payload = true;
      } else if (key == "event") {
        for (auto ef : field.value().get_object()) {
          std::string_view ek = ef.unescaped_key();
          if (ek == "replayId" || ek == "EventUuid") ids->push_back(std::string(ek) + ":" + ScalarText(ef.value()));
        }
      }
    }
    if (!seen_payload) return Status::InvalidArgument("Salesforce event has no payload");
    return Status::OK();
  }

  Status SalesforcePayload(od::object payload, DecodedDelivery* out) {
    SfHeader h;
    std::vector<Column> cols;
    for (auto field : payload) {
      std::string key(std::string_view(field.unescaped_key()));
      if (key == "ChangeEventHeader") {
        h.present = true;
        for (auto hf : field.value().get_object()) {
          std::string_view hk = hf.unescaped_key();
          od::value v = hf.value();
          if (hk == "entityName") h.entity = ScalarText(v);
          else if (hk == "changeType") h.change_type = ScalarText(v);
          else if (hk == "transactionKey") h.transaction_key = ScalarText(v);
          else if (hk == "sequenceNumber") h.sequence = ScalarText(v);
          else if (hk == "commitNumber") h.commit_number = ScalarText(v);  // > 2^53: kept as text
          else if (hk == "commitTimestamp") {
            h.commit_ms = int64_t(v.get_int64());
            // Milliseconds that do not fit as microseconds (±292,000 years) are not a time.
            if (h.commit_ms > INT64_MAX / 1000 || h.commit_ms < INT64_MIN / 1000)
              return Status::InvalidArgument("Salesforce commitTimestamp " + std::to_string(h.commit_ms) +
                                             " is out of range");
          }
          else if (hk == "recordIds")
            for (od::value id : v.get_array()) h.record_ids.push_back(ScalarText(id));
          else if (hk == "nulledFields")
            for (od::value f : v.get_array()) h.nulled.push_back(ScalarText(f));
        }
        continue;
      }
      cols.push_back(ToColumn(std::move(key), field.value()));
    }
    if (!h.present) return Status::InvalidArgument("Salesforce payload has no ChangeEventHeader");
    if (h.entity.empty() || h.change_type.empty())
      return Status::InvalidArgument("ChangeEventHeader lacks entityName or changeType");
    for (const std::string& f : h.nulled) {
      if (f.find('.') != std::string::npos) continue;  // compound-field parts
      bool have = false;
      for (const Column& c : cols) have |= c.name == f;
      if (!have) cols.push_back(Column{f, pg_oid::kText, Column::Kind::kNull, {}});
    }
    const std::string& ct = h.change_type;
    Op op;
    bool gap = ct.starts_with("GAP_");
    if (gap) {
      if (ct != "GAP_CREATE" && ct != "GAP_UPDATE" && ct != "GAP_DELETE" && ct != "GAP_UNDELETE" &&
          ct != "GAP_OVERFLOW")
        return Status::InvalidArgument("unknown Salesforce changeType " + ct);
      op = Op::kMessage;
    } else if (ct == "CREATE" || ct == "UNDELETE") {
      op = Op::kInsert;
    } else if (ct == "UPDATE") {
      op = Op::kUpdate;
    } else if (ct == "DELETE") {
      op = Op::kDelete;
    } else {
      return Status::InvalidArgument("unknown Salesforce changeType " + ct);
    }
    if (h.record_ids.empty() && !gap) return Status::InvalidArgument("ChangeEventHeader has no recordIds");
    std::vector<std::string> ids = h.record_ids;
    if (ids.empty()) ids.push_back({});  // GAP_OVERFLOW may name no record
    for (const std::string& id : ids) {
      ChangeEvent ev;
      ev.schema = "salesforce";
      ev.table = h.entity;
      ev.op = op;
      ev.commit_time_us = h.commit_ms * 1000;
      ev.key_columns = {"Id"};
      ev.correlation_id = h.transaction_key + "#" + h.sequence + "@" + h.commit_number;
      Column idc = id.empty() ? Column{"Id", pg_oid::kText, Column::Kind::kNull, {}} : TextColumn("Id", pg_oid::kText, id);
      if (gap) {
        ev.after = {TextColumn("refetch_needed", pg_oid::kBool, "t"), TextColumn("change_type", pg_oid::kText, ct), idc};
      } else if (op == Op::kDelete) {
        ev.has_before = true;
        ev.before = {idc};
      } else {
        ev.after.push_back(idc);
        for (const Column& c : cols)
          if (c.name != "Id") ev.after.push_back(c);
      }
      out->events.push_back(std::move(ev));
    }
    return Status::OK();
  }

  // ---- toggl ----

  Status DecodeToggl(std::string_view body, DecodedDelivery* out) {
    od::document doc = parser_.iterate(Padded(body));
    std::string event_id, action, model, validation_code, created_at;
    std::vector<Column> cols;
    bool ping = false, have_payload = false;
    for (auto field : doc.get_object()) {
      std::string_view key = field.unescaped_key();
      od::value v = field.value();
      if (key == "event_id") {
        event_id = ScalarText(v);
      } else if (key == "created_at") {
        created_at = ScalarText(v);
      } else if (key == "validation_code") {
        validation_code = ScalarText(v);
      } else if (key == "metadata") {
        for (auto mf : v.get_object()) {
          std::string_view mk = mf.unescaped_key();
          if (mk == "action") action = ScalarText(mf.value());
          else if (mk == "model") model = ScalarText(mf.value());
        }
      } else if (key == "payload") {
        have_payload = true;
        if (v.type() == od::json_type::string) {
          ping = std::string_view(v.get_string()) == "ping";
          if (!ping) return Status::InvalidArgument("Toggl payload is a string other than \"ping\"");
        } else {
          for (auto pf : v.get_object()) cols.push_back(ToColumn(std::string(std::string_view(pf.unescaped_key())), pf.value()));
        }
      }
    }
    if (!have_payload) return Status::InvalidArgument("Toggl delivery has no payload");
    if (ping) {
      out->handshake = true;
      std::string escaped;
      for (char c : validation_code)
        if (c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20) escaped.push_back(c);
      out->reply_body = "{\"validation_code\":\"" + escaped + "\"}";
      return Status::OK();
    }
    if (event_id.empty()) return Status::InvalidArgument("Toggl delivery has no event_id");
    if (model.empty() || action.empty()) return Status::InvalidArgument("Toggl metadata lacks model or action");
    ChangeEvent ev;
    ev.schema = "toggl";
    ev.table = model.ends_with("s") ? model : model + (model.ends_with("y") ? "" : "s");
    if (model.ends_with("y")) ev.table = model.substr(0, model.size() - 1) + "ies";
    ev.key_columns = {"id"};
    ev.commit_time_us = ParseRfc3339Us(created_at);
    if (action == "created") {
      ev.op = Op::kInsert;
      ev.after = std::move(cols);
    } else if (action == "updated") {
      ev.op = Op::kUpdate;
      ev.after = std::move(cols);
    } else if (action == "deleted") {
      ev.op = Op::kDelete;
      ev.has_before = true;
      ev.before = std::move(cols);
    } else {
      return Status::InvalidArgument("unknown Toggl action " + action);
    }
    out->delivery_id = "toggl:" + event_id;
    out->events.push_back(std::move(ev));
    return Status::OK();
  }

  PayloadFormat format_;
  std::string source_;
  DebeziumDecoder debezium_;
  std::vector<DecodedRecord> records_;
  od::parser parser_;
  std::string buf_;
};

Result<PayloadFormat> PayloadDecoder::ParseFormat(const std::string& name) {
  if (name == "debezium") return PayloadFormat::kDebezium;
  if (name == "salesforce") return PayloadFormat::kSalesforce;
  if (name == "toggl") return PayloadFormat::kToggl;
  return Status::InvalidArgument("unknown webhook format '" + name + "' (debezium, salesforce or toggl)");
}

PayloadDecoder::PayloadDecoder(PayloadFormat format, std::string source_name)
    : impl_(std::make_unique<Impl>(format, std::move(source_name))) {
  ChooseJsonKernel();
}
PayloadDecoder::~PayloadDecoder() = default;

Status PayloadDecoder::Decode(std::string_view body, bool want_top_level_id, DecodedDelivery* out) {
  return impl_->Decode(body, want_top_level_id, out);
}

}  // namespace handoff::webhook
