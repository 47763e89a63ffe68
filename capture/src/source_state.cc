#include "source_state.h"

#include <simdjson.h>

#include "handoff/engine/event_json.h"
#include "handoff/engine/text_codec.h"

namespace handoff {
namespace {

void PutKey(std::string* out, const char* name, const std::vector<std::string>& key) {
  *out += ",\"";
  *out += name;
  *out += "\":[";
  for (size_t i = 0; i < key.size(); ++i) {
    if (i) *out += ",";
    *out += "\"" + HexEncode(key[i]) + "\"";
  }
  *out += "]";
}

void PutStr(std::string* out, const char* name, const std::string& v, bool first = false) {
  if (!first) *out += ",";
  *out += "\"";
  *out += name;
  *out += "\":";
  AppendJsonString(out, v);
}

using simdjson::dom::element;

bool GetKey(element obj, const char* name, std::vector<std::string>* key) {
  key->clear();
  simdjson::dom::array arr;
  auto field = obj[name];
  if (field.error() == simdjson::NO_SUCH_FIELD) return true;
  if (field.get_array().get(arr)) return false;
  for (element v : arr) {
    std::string_view hex;
    if (v.get_string().get(hex)) return false;
    std::string raw;
    if (!HexDecode(hex, &raw)) return false;
    key->push_back(std::move(raw));
  }
  return true;
}

bool GetStr(element obj, const char* name, std::string* out, bool required = true) {
  std::string_view v;
  auto field = obj[name];
  if (field.error() == simdjson::NO_SUCH_FIELD) return !required;
  if (field.get_string().get(v)) return false;
  *out = std::string(v);
  return true;
}

bool GetU64(element obj, const char* name, uint64_t* out) {
  auto field = obj[name];
  if (field.error() == simdjson::NO_SUCH_FIELD) return true;
  return !field.get_uint64().get(*out);
}

Result<element> Parse(simdjson::dom::parser* parser, std::string_view text, const char* what) {
  element root;
  if (auto err = parser->parse(text.data(), text.size()).get(root))
    return Status::InvalidArgument(std::string(what) + " is not JSON: " + simdjson::error_message(err));
  if (!root.is_object()) return Status::InvalidArgument(std::string(what) + " is not a JSON object");
  return root;
}

}  // namespace

bool SourceState::HasTable(const std::string& t) const {
  for (const auto& x : tables)
    if (x == t) return true;
  return false;
}

const BackfillTask* SourceState::TaskFor(const std::string& table) const {
  for (const auto& t : tasks)
    if (t.table == table) return &t;
  return nullptr;
}

std::string SourceState::Encode() const {
  std::string out = "{\"v\":1,\"tables\":[";
  for (size_t i = 0; i < tables.size(); ++i) {
    if (i) out += ",";
    AppendJsonString(&out, tables[i]);
  }
  out += "],\"backfills\":[";
  for (size_t i = 0; i < tasks.size(); ++i) {
    const BackfillTask& t = tasks[i];
    if (i) out += ",";
    out += "{";
    PutStr(&out, "id", t.id, /*first=*/true);
    PutStr(&out, "table", t.table);
    PutStr(&out, "reason", t.reason);
    PutKey(&out, "after", t.after_key);
    if (!t.from_key.empty()) PutKey(&out, "from", t.from_key);
    if (!t.to_key.empty()) PutKey(&out, "to", t.to_key);
    out += ",\"rows\":" + std::to_string(t.rows) + ",\"chunks\":" + std::to_string(t.chunks) +
           ",\"estimated\":" + std::to_string(t.estimated) + ",\"started_us\":" + std::to_string(t.started_us) + "}";
  }
  out += "]";
  if (!shapes.empty()) {
    out += ",\"shapes\":{";
    bool first_table = true;
    for (const auto& [table, columns] : shapes) {
      if (!first_table) out += ",";
      first_table = false;
      AppendJsonString(&out, table);
      out += ":[";
      for (size_t i = 0; i < columns.size(); ++i) {
        if (i) out += ",";
        out += "[";
        AppendJsonString(&out, columns[i].name);
        out += "," + std::to_string(columns[i].type_oid) + "," + std::to_string(columns[i].type_modifier) + "]";
      }
      out += "]";
    }
    out += "}";
  }
  out += "}";
  return out;
}

Result<SourceState> SourceState::Decode(std::string_view text) {
  SourceState s;
  if (text.empty()) return s;
  simdjson::dom::parser parser;
  auto root = Parse(&parser, text, "source state");
  if (!root.ok()) return root.status();
  auto bad = [](const std::string& what) { return Status::Corruption("source state: " + what); };
  uint64_t version = 0;
  if ((*root)["v"].get_uint64().get(version) || version != 1) return bad("unknown version");
  simdjson::dom::array tables, tasks;
  if ((*root)["tables"].get_array().get(tables) || (*root)["backfills"].get_array().get(tasks))
    return bad("tables or backfills missing");
  for (element t : tables) {
    std::string_view name;
    if (t.get_string().get(name)) return bad("a table is not a string");
    s.tables.emplace_back(name);
  }
  for (element e : tasks) {
    BackfillTask t;
    uint64_t started = 0;
    if (!e.is_object() || !GetStr(e, "id", &t.id) || !GetStr(e, "table", &t.table) ||
        !GetStr(e, "reason", &t.reason) || !GetKey(e, "after", &t.after_key) || !GetKey(e, "from", &t.from_key) ||
        !GetKey(e, "to", &t.to_key) || !GetU64(e, "rows", &t.rows) || !GetU64(e, "chunks", &t.chunks) ||
        !GetU64(e, "estimated", &t.estimated) || !GetU64(e, "started_us", &started))
      return bad("malformed backfill");
    t.started_us = static_cast<int64_t>(started);
    s.tasks.push_back(std::move(t));
  }
  simdjson::dom::object shapes;
  auto shapes_field = (*root)["shapes"];
  if (shapes_field.error() != simdjson::NO_SUCH_FIELD) {
    if (shapes_field.get_object().get(shapes)) return bad("shapes is not an object");
    for (auto [table, columns] : shapes) {
      simdjson::dom::array list;
      if (columns.get_array().get(list)) return bad("the shape of a table is not a list");
      std::vector<ColumnShape>& out = s.shapes[std::string(table)];
      for (element c : list) {
        simdjson::dom::array parts;
        std::string_view name;
        uint64_t oid = 0;
        int64_t mod = 0;
        if (c.get_array().get(parts) || parts.size() != 3 || parts.at(0).get_string().get(name) ||
            parts.at(1).get_uint64().get(oid) || parts.at(2).get_int64().get(mod) || oid > UINT32_MAX ||
            mod < INT32_MIN || mod > INT32_MAX)
          return bad("malformed column shape");
        out.push_back(ColumnShape{std::string(name), static_cast<uint32_t>(oid), static_cast<int32_t>(mod)});
      }
    }
  }
  s.known = true;
  return s;
}

std::string BackfillSignal::Encode() const {
  std::string out = "{";
  PutStr(&out, "source", source, /*first=*/true);
  PutStr(&out, "table", table);
  PutStr(&out, "id", id);
  out += cancel ? ",\"action\":\"cancel\"" : prune() ? ",\"action\":\"prune\"" : ",\"action\":\"snapshot\"";
  if (prune()) {
    out += ",\"keys\":[";
    for (size_t i = 0; i < prune_keys.size(); ++i) {
      std::string one;
      PutKey(&one, "k", prune_keys[i]);
      out += (i ? "," : "") + one.substr(5);  // the array after ,"k":
    }
    out += "],\"columns\":[";
    for (size_t i = 0; i < prune_columns.size(); ++i) {
      if (i) out += ",";
      AppendJsonString(&out, prune_columns[i]);
    }
    out += "]";
  }
  if (!from_key.empty()) PutKey(&out, "from", from_key);
  if (!to_key.empty()) PutKey(&out, "to", to_key);
  out += "}";
  return out;
}

Result<BackfillSignal> BackfillSignal::Decode(std::string_view text) {
  simdjson::dom::parser parser;
  auto root = Parse(&parser, text, "signal");
  if (!root.ok()) return root.status();
  BackfillSignal s;
  std::string action;
  if (!GetStr(*root, "source", &s.source) || !GetStr(*root, "table", &s.table) || !GetStr(*root, "id", &s.id, false) ||
      !GetStr(*root, "action", &action) || !GetKey(*root, "from", &s.from_key) || !GetKey(*root, "to", &s.to_key))
    return Status::InvalidArgument("signal: source, table and action are required; from/to are hex key arrays");
  if (action != "snapshot" && action != "cancel" && action != "prune")
    return Status::InvalidArgument("signal: unknown action " + action);
  s.cancel = action == "cancel";
  if (action == "prune") {
    simdjson::dom::array keys;
    if ((*root)["keys"].get_array().get(keys)) return Status::InvalidArgument("signal: prune needs keys, hex key arrays");
    for (element k : keys) {
      simdjson::dom::array parts;
      if (k.get_array().get(parts)) return Status::InvalidArgument("signal: a prune key is not an array");
      std::vector<std::string> key;
      for (element v : parts) {
        std::string_view hex;
        std::string raw;
        if (v.get_string().get(hex) || !HexDecode(hex, &raw))
          return Status::InvalidArgument("signal: a prune key part is not hex");
        key.push_back(std::move(raw));
      }
      s.prune_keys.push_back(std::move(key));
    }
    simdjson::dom::array columns;
    if ((*root)["columns"].get_array().get(columns)) return Status::InvalidArgument("signal: prune needs columns");
    for (element c : columns) {
      std::string_view name;
      if (c.get_string().get(name)) return Status::InvalidArgument("signal: a prune column is not a string");
      s.prune_columns.emplace_back(name);
    }
    if (s.prune_keys.empty() || s.prune_columns.empty()) return Status::InvalidArgument("signal: prune names no key");
    for (const auto& k : s.prune_keys)
      if (k.size() != s.prune_columns.size())
        return Status::InvalidArgument("signal: a prune key has another number of parts than columns");
  }
  return s;
}

}  // namespace handoff
