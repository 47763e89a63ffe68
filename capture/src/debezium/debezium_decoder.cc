// DebeziumDecoder: splits the input into documents, classifies each
// (envelope, bare payload, keyed record, tombstone) and fills DecodedRecords.
#include <simdjson.h>

#include <charconv>
#include <cstdio>
#include <cstring>

#include "debezium/connect_schema.h"
#include "debezium/decimal_codec.h"
#include "debezium/document_splitter.h"
#include "debezium/row_decoder.h"
#include "handoff/capture/debezium.h"
#include "handoff/engine/text_codec.h"
#include "json_kernel.h"

namespace handoff {
namespace od = simdjson::ondemand;
using dbz::FieldSchema;

namespace {

Status Bad(std::string what) { return Status::InvalidArgument(std::move(what)); }

#define DBZ_TRY(expr, what)                                  \
  do {                                                       \
    if ((expr) != simdjson::SUCCESS) return Bad(what);       \
  } while (0)

// Reads an optional (null allowed) unsigned integer member.
Status ReadU64(od::value v, const char* what, uint64_t* out) {
  od::json_type jt;
  DBZ_TRY(v.type().get(jt), std::string(what) + ": malformed value");
  if (jt == od::json_type::null) return Status::OK();
  if (jt != od::json_type::number || v.get_uint64().get(*out) != simdjson::SUCCESS) {
    return Bad(std::string(what) + ": expected an unsigned 64-bit integer");
  }
  return Status::OK();
}

Status ReadI64(od::value v, const char* what, int64_t* out, bool* present) {
  od::json_type jt;
  DBZ_TRY(v.type().get(jt), std::string(what) + ": malformed value");
  if (jt == od::json_type::null) return Status::OK();
  if (jt != od::json_type::number || v.get_int64().get(*out) != simdjson::SUCCESS) {
    return Bad(std::string(what) + ": expected a 64-bit integer");
  }
  *present = true;
  return Status::OK();
}

Status ReadStr(od::value v, const char* what, std::string* out) {
  od::json_type jt;
  DBZ_TRY(v.type().get(jt), std::string(what) + ": malformed value");
  if (jt == od::json_type::null) return Status::OK();
  std::string_view sv;
  if (jt != od::json_type::string || v.get_string().get(sv) != simdjson::SUCCESS) {
    return Bad(std::string(what) + ": expected a string");
  }
  out->assign(sv);
  return Status::OK();
}

// Timestamps in ms/us/ns, preferring the finest given, into microseconds.
struct EventTime {
  int64_t ms = 0, us = 0, ns = 0;
  bool has_ms = false, has_us = false, has_ns = false;
  bool any() const { return has_ms || has_us || has_ns; }
  Status Micros(int64_t* out) const {
    if (has_us) return *out = us, Status::OK();
    if (has_ms) {
      if (ms > INT64_MAX / 1000 || ms < INT64_MIN / 1000) return Bad("ts_ms out of range");
      return *out = ms * 1000, Status::OK();
    }
    if (has_ns) return *out = ns / 1000, Status::OK();
    return Status::OK();
  }
  // Returns true when `key` was a timestamp member.
  bool Match(std::string_view key, od::value v, Status* st) {
    if (key == "ts_ms") return *st = ReadI64(v, "ts_ms", &ms, &has_ms), true;
    if (key == "ts_us") return *st = ReadI64(v, "ts_us", &us, &has_us), true;
    if (key == "ts_ns") return *st = ReadI64(v, "ts_ns", &ns, &has_ns), true;
    return false;
  }
};

Op OpFromCode(std::string_view code, bool* ok) {
  *ok = code.size() == 1;
  if (*ok) {
    switch (code[0]) {
      case 'c': return Op::kInsert;
      case 'u': return Op::kUpdate;
      case 'd': return Op::kDelete;
      case 'r': return Op::kRead;
      case 't': return Op::kTruncate;
      case 'm': return Op::kMessage;
      default: break;
    }
  }
  *ok = false;
  return Op::kInsert;
}

}  // namespace

const char* DecodedRecordKindName(DecodedRecord::Kind kind) {
  switch (kind) {
    case DecodedRecord::Kind::kChange: return "change";
    case DecodedRecord::Kind::kTombstone: return "tombstone";
    case DecodedRecord::Kind::kTxnBegin: return "txn_begin";
    case DecodedRecord::Kind::kTxnEnd: return "txn_end";
    case DecodedRecord::Kind::kHeartbeat: return "heartbeat";
    case DecodedRecord::Kind::kKey: return "key";
  }
  return "unknown";
}

class DebeziumDecoder::Impl {
 public:
  explicit Impl(DebeziumDecoderOptions o) : options_(std::move(o)) { ChooseJsonKernel(); }

  Status DecodeAll(std::string_view input, std::vector<DecodedRecord>* out) {
    HANDOFF_RETURN_IF_ERROR(Load(input));
    dbz::DocumentSplitter splitter(input);
    size_t start = 0, len = 0;
    while (true) {
      Status st = splitter.Next(&start, &len);
      if (!st.ok()) return st;
      if (len == 0) return Status::OK();
      HANDOFF_RETURN_IF_ERROR(DecodeDocument(start, len, out));
    }
  }

  Status DecodeKeyValue(std::string_view key, std::string_view value, DecodedRecord* out) {
    std::vector<DecodedRecord> keys, values;
    if (!key.empty()) {
      HANDOFF_RETURN_IF_ERROR(DecodeAll(key, &keys));
      if (keys.size() != 1) return Bad("Debezium key: expected exactly one document");
    }
    HANDOFF_RETURN_IF_ERROR(DecodeAll(value, &values));
    if (values.size() > 1) return Bad("Debezium value: expected exactly one document");
    DecodedRecord rec;
    if (values.empty()) rec.kind = DecodedRecord::Kind::kTombstone;
    else rec = std::move(values[0]);
    if (!keys.empty()) AttachKey(keys[0].kind == DecodedRecord::Kind::kKey ? std::move(keys[0].key)
                                                                           : std::vector<Column>{}, &rec);
    *out = std::move(rec);
    return Status::OK();
  }

  void ResetOrdinals() { last_lsn_ = 0, counter_ = 0, have_last_ = false; }

 private:
  // Checks that the input is UTF-8 (simdjson's On-Demand API does not).
  Status Load(std::string_view input) {
    if (!simdjson::validate_utf8(input.data(), input.size())) {
      return Bad("invalid Debezium JSON at byte " + std::to_string(FirstBadUtf8(input)) + ": invalid UTF-8");
    }
    input_ = input;
    return Status::OK();
  }

  static size_t FirstBadUtf8(std::string_view s) {
    for (size_t lo = 0, hi = s.size(); lo < hi;) {  // the longest valid prefix, by bisection
      size_t mid = lo + (hi - lo + 1) / 2;
      if (simdjson::validate_utf8(s.data(), mid)) lo = mid;
      else hi = mid - 1;
      if (lo == hi) return lo;
    }
    return 0;
  }

  Status Fail(size_t doc_start, const char* doc, Status st) {
    size_t at = doc_start;
    const char* loc = nullptr;
    if (doc_ != nullptr && doc_->current_location().get(loc) == simdjson::SUCCESS && loc >= doc) {
      at = doc_start + static_cast<size_t>(loc - doc);
    }
    return Bad("invalid Debezium JSON at byte " + std::to_string(at) + ": " + st.message());
  }

  Status DecodeDocument(size_t start, size_t len, std::vector<DecodedRecord>* out) {
    // Each document gets its own copy followed by real padding: simdjson may
    // read (and, on malformed strings, copy) past the end of a document, and
    // must then meet padding, not the next document.
    size_t need = len + simdjson::SIMDJSON_PADDING;
    if (buffer_cap_ < need) {
      buffer_cap_ = need + need / 2;
      buffer_ = std::make_unique<char[]>(buffer_cap_);
    }
    char* p = buffer_.get();
    std::memcpy(p, input_.data() + start, len);
    std::memset(p + len, ' ', simdjson::SIMDJSON_PADDING);
    od::document doc;
    if (parser_.iterate(simdjson::padded_string_view(p, len, buffer_cap_)).get(doc) != simdjson::SUCCESS) {
      return Bad("invalid Debezium JSON at byte " + std::to_string(start) + ": not JSON");
    }
    doc_ = &doc;
    size_t before = out->size();
    Status st = DecodeTop(doc, start, out);
    doc_ = nullptr;
    if (!st.ok()) {
      out->resize(before);
      return Fail(start, p, std::move(st));
    }
    return Status::OK();
  }

  Status DecodeTop(od::document& doc, size_t start, std::vector<DecodedRecord>* out) {
    od::json_type jt;
    DBZ_TRY(doc.type().get(jt), "malformed document");
    if (jt == od::json_type::null) {
      bool n = false;
      if (doc.is_null().get(n) != simdjson::SUCCESS || !n) return Bad("malformed literal");
      out->emplace_back();
      out->back().kind = DecodedRecord::Kind::kTombstone;
      out->back().offset = start;
      return Status::OK();
    }
    if (jt == od::json_type::array) {
      od::array arr;
      DBZ_TRY(doc.get_array().get(arr), "malformed array");
      for (auto el : arr) {
        od::value v;
        DBZ_TRY(std::move(el).get(v), "malformed array element");
        out->emplace_back();
        out->back().offset = start;
        HANDOFF_RETURN_IF_ERROR(DecodeRecordValue(v, &out->back()));
      }
      return Status::OK();
    }
    if (jt != od::json_type::object) return Bad("expected an object, an array or null");
    od::object obj;
    DBZ_TRY(doc.get_object().get(obj), "malformed object");
    out->emplace_back();
    out->back().offset = start;
    return DecodeRecordObject(obj, &out->back());
  }

  Status DecodeRecordValue(od::value v, DecodedRecord* rec) {
    od::json_type jt;
    DBZ_TRY(v.type().get(jt), "malformed record");
    if (jt == od::json_type::null) {
      bool n = false;
      if (v.is_null().get(n) != simdjson::SUCCESS || !n) return Bad("malformed literal");
      rec->kind = DecodedRecord::Kind::kTombstone;
      return Status::OK();
    }
    od::object obj;
    if (jt != od::json_type::object || v.get_object().get(obj) != simdjson::SUCCESS) {
      return Bad("a record must be an object or null");
    }
    return DecodeRecordObject(obj, rec);
  }

  // An envelope, a keyed record or a bare payload.
  Status DecodeRecordObject(od::object obj, DecodedRecord* rec) {
    std::string_view first;
    bool fast_found = false, schema_first = false;
    const FieldSchema* fast_schema = nullptr;
    for (auto member : obj) {
      od::field f;
      std::string_view key;
      DBZ_TRY(std::move(member).get(f), "malformed member");
      DBZ_TRY(f.unescaped_key().get(key), "malformed member name");
      if (!schema_first) {
        first = key;
        if (key != "schema") break;
        // Debezium's own order, schema then payload: one pass, no rewinding.
        schema_first = true;
        HANDOFF_RETURN_IF_ERROR(ReadSchema(f.value(), &fast_schema));
      } else if (key == "payload" && !fast_found) {
        fast_found = true;
        HANDOFF_RETURN_IF_ERROR(DecodeEnvelopePayload(f.value(), fast_schema, rec));
      }
    }
    if (fast_found) return Status::OK();
    // A failed probe other than "no such member" leaves the parser unusable
    // (simdjson abandons the document), so every error ends the record.
    auto probe = [&obj](const char* member, od::value* v, bool* found) -> Status {
      auto err = obj.find_field_unordered(member).get(*v);
      *found = err == simdjson::SUCCESS;
      if (err == simdjson::SUCCESS || err == simdjson::NO_SUCH_FIELD) return Status::OK();
      return Bad(std::string("malformed member \"") + member + "\"");
    };
    bool found = false;
    if (first == "schema" || first == "payload") {
      od::value payload;
      DBZ_TRY(obj.reset().error(), "malformed object");
      HANDOFF_RETURN_IF_ERROR(probe("payload", &payload, &found));
      if (found) {
        const FieldSchema* schema = nullptr;
        od::value sv;
        HANDOFF_RETURN_IF_ERROR(probe("schema", &sv, &found));
        if (found) HANDOFF_RETURN_IF_ERROR(ReadSchema(sv, &schema));
        HANDOFF_RETURN_IF_ERROR(probe("payload", &payload, &found));
        if (!found) return Bad("malformed payload");
        return DecodeEnvelopePayload(payload, schema, rec);
      }
    } else if (first == "key" || first == "value") {
      od::value kv, vv;
      DBZ_TRY(obj.reset().error(), "malformed object");
      HANDOFF_RETURN_IF_ERROR(probe("value", &vv, &found));
      bool found_key = false;
      if (found) HANDOFF_RETURN_IF_ERROR(probe("key", &kv, &found_key));
      if (found && found_key) return DecodeKeyed(obj, rec);
    }
    DBZ_TRY(obj.reset().error(), "malformed object");
    return DecodePayload(obj, nullptr, rec);
  }

  Status ReadSchema(od::value sv, const FieldSchema** schema) {
    od::json_type jt;
    DBZ_TRY(sv.type().get(jt), "schema: malformed");
    if (jt == od::json_type::null) return Status::OK();
    od::object so;
    std::string_view raw;
    if (jt != od::json_type::object || sv.get_object().get(so) != simdjson::SUCCESS ||
        so.raw_json().get(raw) != simdjson::SUCCESS) {
      return Bad("schema: expected an object");
    }
    return schemas_.Get(raw, schema);
  }

  Status DecodeEnvelopePayload(od::value payload, const FieldSchema* schema, DecodedRecord* rec) {
    od::json_type jt;
    DBZ_TRY(payload.type().get(jt), "payload: malformed");
    if (jt == od::json_type::null) {
      rec->kind = DecodedRecord::Kind::kTombstone;
      return Status::OK();
    }
    od::object po;
    if (jt != od::json_type::object || payload.get_object().get(po) != simdjson::SUCCESS) {
      return Bad("payload: expected an object or null");
    }
    return DecodePayload(po, schema, rec);
  }

  // {"key": <key doc|null>, "value": <value doc|null>}, members in any order.
  Status DecodeKeyed(od::object obj, DecodedRecord* rec) {
    DBZ_TRY(obj.reset().error(), "malformed object");
    od::value vv, kv;
    DBZ_TRY(obj.find_field_unordered("value").get(vv), "keyed record: malformed value");
    HANDOFF_RETURN_IF_ERROR(DecodeRecordValue(vv, rec));
    DBZ_TRY(obj.find_field_unordered("key").get(kv), "keyed record: malformed key");
    DecodedRecord key_rec;
    HANDOFF_RETURN_IF_ERROR(DecodeRecordValue(kv, &key_rec));
    if (key_rec.kind == DecodedRecord::Kind::kKey) {
      AttachKey(std::move(key_rec.key), rec);
    } else if (key_rec.kind != DecodedRecord::Kind::kTombstone) {
      return Bad("keyed record: the key is not a key document");
    }
    return Status::OK();
  }

  static void AttachKey(std::vector<Column> key, DecodedRecord* rec) {
    if (rec->kind == DecodedRecord::Kind::kChange) {
      rec->event.key_columns.clear();
      for (const Column& c : key) rec->event.key_columns.push_back(c.name);
    }
    rec->key = std::move(key);
  }

  Status DecodeSource(od::value v, ChangeEvent* ev, EventTime* ts, std::string* name) {
    od::object src;
    DBZ_TRY(v.get_object().get(src), "source: expected an object");
    std::string db;
    bool have_schema = false;
    for (auto member : src) {
      od::field f;
      std::string_view key;
      DBZ_TRY(std::move(member).get(f), "source: malformed member");
      DBZ_TRY(f.unescaped_key().get(key), "source: malformed member name");
      od::value fv = f.value();
      Status st;
      if (ts->Match(key, fv, &st)) {
        HANDOFF_RETURN_IF_ERROR(st);
      } else if (key == "name") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.name", name));
      } else if (key == "schema") {
        have_schema = true;
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.schema", &ev->schema));
      } else if (key == "table") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.table", &ev->table));
      } else if (key == "db") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.db", &db));
      } else if (key == "lsn") {
        HANDOFF_RETURN_IF_ERROR(ReadU64(fv, "source.lsn", &ev->position.lsn));
      } else if (key == "txId") {
        HANDOFF_RETURN_IF_ERROR(ReadU64(fv, "source.txId", &ev->xid));
      } else if (key == "snapshot") {
        od::json_type jt;
        DBZ_TRY(fv.type().get(jt), "source.snapshot: malformed value");
        if (jt == od::json_type::boolean) {
          bool b;
          DBZ_TRY(fv.get_bool().get(b), "source.snapshot: malformed boolean");
        } else if (jt == od::json_type::string) {
          std::string_view s;
          DBZ_TRY(fv.get_string().get(s), "source.snapshot: malformed string");
        } else if (jt != od::json_type::null) {
          return Bad("source.snapshot: expected a string or boolean");
        }
      } else if (key == "sequence") {
        std::string seq;
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.sequence", &seq));
        if (!seq.empty() && (seq.front() != '[' || seq.back() != ']')) {
          return Bad("source.sequence: expected a string holding a JSON array");
        }
      } else if (key == "origin") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.origin", &ev->origin));
      } else if (key == "delivery_id") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.delivery_id", &ev->delivery_id));
      } else if (key == "correlation_id") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.correlation_id", &ev->correlation_id));
      } else if (key == "truncate") {
        std::string t;
        HANDOFF_RETURN_IF_ERROR(ReadStr(fv, "source.truncate", &t));
        unsigned index = 0, count = 0, options = 0;
        char tail = 0;
        if (!t.empty() && (std::sscanf(t.c_str(), "%u/%u/%u%c", &index, &count, &options, &tail) != 3 ||
                           index >= count || options > 255))
          return Bad("source.truncate: expected \"<index>/<count>/<options>\"");
        ev->truncate_index = index;
        ev->truncate_count = count;
        ev->truncate_options = static_cast<uint8_t>(options);
      }
    }
    if (!have_schema) ev->schema = std::move(db);  // MySQL: the database is the schema
    return Status::OK();
  }

  Status DecodeRow(od::value v, const FieldSchema* schema, const char* what, bool* present, std::vector<Column>* out) {
    od::json_type jt;
    DBZ_TRY(v.type().get(jt), std::string(what) + ": malformed value");
    if (jt == od::json_type::null) {
      bool n = false;
      if (v.is_null().get(n) != simdjson::SUCCESS || !n) return Bad(std::string(what) + ": malformed literal");
      return Status::OK();
    }
    od::object row;
    if (jt != od::json_type::object || v.get_object().get(row) != simdjson::SUCCESS) {
      return Bad(std::string(what) + ": expected an object or null");
    }
    *present = true;
    out->clear();
    Status st = rows_.DecodeRow(row, schema, out);
    if (!st.ok()) return Bad(std::string(what) + ": " + st.message());
    return Status::OK();
  }

  Status DecodePayload(od::object payload, const FieldSchema* schema, DecodedRecord* rec);
  Status DecodeTxnCollections(od::value v, DecodedRecord* rec);

  DebeziumDecoderOptions options_;
  od::parser parser_;
  od::document* doc_ = nullptr;
  std::unique_ptr<char[]> buffer_;
  size_t buffer_cap_ = 0;
  std::string_view input_;  // the input of the current DecodeAll
  dbz::ConnectSchemaCache schemas_;
  dbz::RowDecoder rows_;
  uint64_t last_lsn_ = 0, counter_ = 0;
  bool have_last_ = false;

  friend class DebeziumDecoder;
};


// The payload members, in any order. Which record it is follows from what is
// present: "op" -> a change; "status" BEGIN/END -> transaction metadata;
// only other members -> a key document; only ts_* -> a heartbeat.
Status DebeziumDecoder::Impl::DecodePayload(od::object payload, const FieldSchema* schema, DecodedRecord* rec) {
  ChangeEvent& ev = rec->event;
  const FieldSchema* before_schema = nullptr;
  const FieldSchema* after_schema = nullptr;
  if (schema != nullptr) {
    size_t hint = 0;
    before_schema = schema->Find("before", &hint);
    after_schema = schema->Find("after", &hint);
  }
  EventTime record_ts, source_ts;
  std::string op_code, status, source_name, prefix, content;
  bool has_op = false, has_status = false, has_after = false, has_message = false, has_source = false;
  uint64_t total_order = 0;
  bool has_total_order = false;
  size_t hint = 0;
  for (auto member : payload) {
    od::field f;
    std::string_view key;
    DBZ_TRY(std::move(member).get(f), "payload: malformed member");
    DBZ_TRY(f.unescaped_key().get(key), "payload: malformed member name");
    od::value v = f.value();
    Status st;
    if (record_ts.Match(key, v, &st)) {
      HANDOFF_RETURN_IF_ERROR(st);
    } else if (key == "op") {
      HANDOFF_RETURN_IF_ERROR(ReadStr(v, "op", &op_code));
      has_op = true;
    } else if (key == "before") {
      HANDOFF_RETURN_IF_ERROR(DecodeRow(v, before_schema, "before", &ev.has_before, &ev.before));
    } else if (key == "after") {
      HANDOFF_RETURN_IF_ERROR(DecodeRow(v, after_schema, "after", &has_after, &ev.after));
    } else if (key == "source") {
      HANDOFF_RETURN_IF_ERROR(DecodeSource(v, &ev, &source_ts, &source_name));
      has_source = true;
    } else if (key == "transaction") {
      od::json_type jt;
      DBZ_TRY(v.type().get(jt), "transaction: malformed value");
      if (jt == od::json_type::object) {
        od::object t;
        DBZ_TRY(v.get_object().get(t), "transaction: malformed");
        for (auto tm : t) {
          od::field tf;
          std::string_view tk;
          DBZ_TRY(std::move(tm).get(tf), "transaction: malformed member");
          DBZ_TRY(tf.unescaped_key().get(tk), "transaction: malformed member name");
          if (tk == "total_order") {
            HANDOFF_RETURN_IF_ERROR(ReadU64(tf.value(), "transaction.total_order", &total_order));
            has_total_order = true;
          }
        }
      } else if (jt != od::json_type::null) {
        return Bad("transaction: expected an object or null");
      }
    } else if (key == "message") {
      od::object m;
      DBZ_TRY(v.get_object().get(m), "message: expected an object");
      for (auto mm : m) {
        od::field mf;
        std::string_view mk;
        DBZ_TRY(std::move(mm).get(mf), "message: malformed member");
        DBZ_TRY(mf.unescaped_key().get(mk), "message: malformed member name");
        if (mk == "prefix") {
          HANDOFF_RETURN_IF_ERROR(ReadStr(mf.value(), "message.prefix", &prefix));
        } else if (mk == "content") {
          std::string b64;
          HANDOFF_RETURN_IF_ERROR(ReadStr(mf.value(), "message.content", &b64));
          if (!Base64Decode(b64, &content)) return Bad("message.content: invalid base64");
        }
      }
      has_message = true;
    } else if (key == "status" && !has_op) {
      od::json_type jt;
      DBZ_TRY(v.type().get(jt), "status: malformed value");
      if (jt == od::json_type::string) {
        HANDOFF_RETURN_IF_ERROR(ReadStr(v, "status", &status));
        has_status = true;
      } else {
        rec->key.emplace_back();
        rec->key.back().name = "status";
        HANDOFF_RETURN_IF_ERROR(rows_.DecodeValue(v, nullptr, 0, &rec->key.back()));
      }
    } else if (key == "event_count" && has_status) {
      HANDOFF_RETURN_IF_ERROR(ReadU64(v, "event_count", &rec->event_count));
    } else if (key == "data_collections" && has_status) {
      HANDOFF_RETURN_IF_ERROR(DecodeTxnCollections(v, rec));
    } else {
      // Not an envelope member: a column of a key document (or "id" of a
      // transaction record).
      rec->key.emplace_back();
      Column& c = rec->key.back();
      c.name.assign(key);
      const FieldSchema* fs = schema != nullptr ? schema->Find(key, &hint) : nullptr;
      HANDOFF_RETURN_IF_ERROR(rows_.DecodeValue(v, fs, 0, &c));
    }
  }
  if (has_op) {
    bool ok = false;
    ev.op = OpFromCode(op_code, &ok);
    if (!ok) return Bad("op: unknown code \"" + op_code + "\"");
    if (!has_source) return Bad("a change record needs a source block");
    if ((ev.op == Op::kInsert || ev.op == Op::kRead || ev.op == Op::kUpdate) && !has_after) {
      return Bad("op \"" + op_code + "\" without an after image");
    }
    rec->kind = DecodedRecord::Kind::kChange;
    rec->key.clear();
    ev.source = options_.source_name.empty() ? std::move(source_name) : options_.source_name;
    ev.source_kind = options_.source_kind;
    HANDOFF_RETURN_IF_ERROR(source_ts.Micros(&ev.commit_time_us));
    if (ev.op == Op::kMessage) {
      if (!has_message) return Bad("op \"m\" without a message block");
      ev.table = prefix;
      ev.after.clear();
      ev.after.push_back(Column{prefix, 0, Column::Kind::kText, std::move(content)});
    }
    if (has_total_order) {
      ev.position.ordinal = total_order;
    } else {
      if (!have_last_ || last_lsn_ != ev.position.lsn) counter_ = 0;
      ev.position.ordinal = ++counter_;
    }
    have_last_ = true;
    last_lsn_ = ev.position.lsn;
    return Status::OK();
  }
  if (has_status) {
    if (status != "BEGIN" && status != "END") return Bad("status: expected BEGIN or END");
    rec->kind = status == "BEGIN" ? DecodedRecord::Kind::kTxnBegin : DecodedRecord::Kind::kTxnEnd;
    for (const Column& c : rec->key) {
      if (c.name == "id") rec->txn_id = c.data;
    }
    rec->key.clear();
    size_t colon = rec->txn_id.find(':');
    if (colon != std::string::npos) {
      std::string_view id(rec->txn_id);
      auto a = std::from_chars(id.data(), id.data() + colon, rec->xid);
      auto b = std::from_chars(id.data() + colon + 1, id.data() + id.size(), rec->lsn);
      if (a.ec != std::errc() || b.ec != std::errc()) rec->xid = rec->lsn = 0;
    }
    return record_ts.Micros(&rec->ts_us);
  }
  if (!rec->key.empty()) {
    rec->kind = DecodedRecord::Kind::kKey;
    return Status::OK();
  }
  if (record_ts.any()) {
    rec->kind = DecodedRecord::Kind::kHeartbeat;
    return record_ts.Micros(&rec->ts_us);
  }
  return Bad("not a Debezium record (no op, status, key fields or ts_ms)");
}

Status DebeziumDecoder::Impl::DecodeTxnCollections(od::value v, DecodedRecord* rec) {
  od::json_type jt;
  DBZ_TRY(v.type().get(jt), "data_collections: malformed value");
  if (jt == od::json_type::null) return Status::OK();
  od::array arr;
  DBZ_TRY(v.get_array().get(arr), "data_collections: expected an array");
  for (auto el : arr) {
    od::object o;
    DBZ_TRY(el.get_object().get(o), "data_collections: expected objects");
    std::pair<std::string, uint64_t> dc;
    for (auto m : o) {
      od::field f;
      std::string_view k;
      DBZ_TRY(std::move(m).get(f), "data_collections: malformed member");
      DBZ_TRY(f.unescaped_key().get(k), "data_collections: malformed member name");
      if (k == "data_collection") {
        HANDOFF_RETURN_IF_ERROR(ReadStr(f.value(), "data_collection", &dc.first));
      } else if (k == "event_count") {
        HANDOFF_RETURN_IF_ERROR(ReadU64(f.value(), "data_collections.event_count", &dc.second));
      }
    }
    rec->data_collections.push_back(std::move(dc));
  }
  return Status::OK();
}

DebeziumDecoder::DebeziumDecoder(DebeziumDecoderOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
DebeziumDecoder::~DebeziumDecoder() = default;
DebeziumDecoder::DebeziumDecoder(DebeziumDecoder&&) noexcept = default;
DebeziumDecoder& DebeziumDecoder::operator=(DebeziumDecoder&&) noexcept = default;

Status DebeziumDecoder::DecodeAll(std::string_view input, std::vector<DecodedRecord>* out) {
  return impl_->DecodeAll(input, out);
}
Status DebeziumDecoder::DecodeKeyValue(std::string_view key, std::string_view value, DecodedRecord* out) {
  return impl_->DecodeKeyValue(key, value, out);
}
void DebeziumDecoder::ResetOrdinals() { impl_->ResetOrdinals(); }

}  // namespace handoff
