// Loads handoff.yaml. Every problem is collected with its key path and line,
// so `handoff config validate` can show them all at once.
#include "handoff/engine/config.h"
#include "handoff/engine/log.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace handoff {

const char* NewColumnPolicyName(NewColumnPolicy p) {
  switch (p) {
    case NewColumnPolicy::kPark: return "park";
    case NewColumnPolicy::kAdd: return "add";
    case NewColumnPolicy::kIgnore: return "ignore";
  }
  return "park";
}
namespace {

class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}
  void Add(const YAML::Node& at, const std::string& key, const std::string& why) {
    std::string where = file_;
    if (at.IsDefined() && at.Mark().line >= 0) where += ":" + std::to_string(at.Mark().line + 1);
    list_.push_back(where + ": " + key + ": " + why);
  }
  bool empty() const { return list_.empty(); }
  std::string Join() const {
    std::string out;
    for (size_t i = 0; i < list_.size(); ++i) out += (i ? "\n" : "") + list_[i];
    return out;
  }

 private:
  std::string file_;
  std::vector<std::string> list_;
};

// Replaces ${NAME} with the environment's value; an unset variable is a problem.
std::string Substitute(const std::string& in, std::vector<std::string>* missing) {
  static const std::regex re(R"(\$\{([A-Za-z_][A-Za-z0-9_]*)\})");
  std::string out;
  auto begin = std::sregex_iterator(in.begin(), in.end(), re);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += in.substr(last, it->position() - last);
    std::string name = (*it)[1];
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) missing->push_back(name);
    out += v ? v : "";
    last = it->position() + it->length();
  }
  return out + in.substr(last);
}

// Decimal digits only, at most `max`; no sign, no spaces, no overflow.
bool ParseUnsigned(const std::string& s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (d > max || v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

// The first line of a password file, or an error naming the file.
Result<std::string> ReadPasswordFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument("cannot read the password file " + path);
  std::string line;
  std::getline(in, line);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return Status::InvalidArgument("the password file " + path + " has an empty first line");
  return line;
}

// Longer values are refused before any regex sees them: libstdc++'s
// std::regex recurses once per character and overflows the stack on a value
// of some ten thousand bytes (under ASan; a few times that without).
constexpr size_t kMaxValueBytes = 8192;

struct Reader {
  Problems* problems;

  bool TooLong(const YAML::Node& n, const std::string& key_path) {
    if (n.Scalar().size() <= kMaxValueBytes) return false;
    problems->Add(n, key_path, "is longer than " + std::to_string(kMaxValueBytes) + " bytes");
    return true;
  }

  std::string Str(const YAML::Node& map, const std::string& key, const std::string& path, bool required,
                  const std::string& def = "") {
    YAML::Node n = map[key];
    if (!n.IsDefined() || n.IsNull()) {
      if (required) problems->Add(map, path + "." + key, "is required");
      return def;
    }
    if (!n.IsScalar()) {
      problems->Add(n, path + "." + key, "must be a string");
      return def;
    }
    if (TooLong(n, path + "." + key)) return def;
    std::vector<std::string> missing;
    std::string v = Substitute(n.Scalar(), &missing);
    for (const auto& m : missing) problems->Add(n, path + "." + key, "environment variable " + m + " is not set");
    return v;
  }

  // Whether `n` (map[key]) is a set scalar; a mapping or a list is a problem.
  // (A yaml-cpp Node is copied, never assigned: assigning an absent key's node throws.)
  bool IsSetScalar(const YAML::Node& n, const std::string& key_path) {
    if (!n.IsDefined() || n.IsNull()) return false;
    if (!n.IsScalar()) {
      problems->Add(n, key_path, "must be a single value, not a mapping or a list");
      return false;
    }
    return !TooLong(n, key_path);
  }

  // A PostgreSQL DSN split into pairs, `${NAME}` substituted inside single
  // values (see SourceConfig::dsn), and the password of `password_file`, if set.
  ConnParams Dsn(const YAML::Node& map, const std::string& path, bool required, const std::string& config_file) {
    const std::string key_path = path + ".dsn";
    YAML::Node n = map["dsn"];
    std::string password;
    bool have_password_file = false;
    if (YAML::Node pf = map["password_file"]; pf.IsDefined()) {
      std::string file = Str(map, "password_file", path, true);
      if (!file.empty() && file[0] != '/') {
        std::filesystem::path base = std::filesystem::path(config_file).parent_path();
        if (!base.empty()) file = (base / file).string();
      }
      if (!file.empty()) {
        auto pw = ReadPasswordFile(file);
        if (pw.ok()) password = *pw, have_password_file = true;
        else problems->Add(pf, path + ".password_file", pw.status().message());
      }
    }
    if (!n.IsDefined() || n.IsNull()) {
      if (required) problems->Add(map, key_path, "is required");
      return {};
    }
    if (!n.IsScalar()) {
      problems->Add(n, key_path, "must be a string");
      return {};
    }
    if (TooLong(n, key_path)) return {};
    auto params = ConnParams::Parse(n.Scalar());
    if (!params.ok()) {
      problems->Add(n, key_path, params.status().message());
      return {};
    }
    std::vector<std::string> missing;
    for (auto& p : params->pairs) p.value = Substitute(p.value, &missing);
    if (have_password_file) params->Set("password", password);
    for (const auto& m : missing) problems->Add(n, key_path, "environment variable " + m + " is not set");
    return std::move(*params);
  }

  uint64_t Size(const YAML::Node& map, const std::string& key, const std::string& path, uint64_t def) {
    YAML::Node n = map[key];
    if (!IsSetScalar(n, path + "." + key)) return def;
    std::string s = n.Scalar();
    std::smatch m;
    static const std::regex re(R"(^\s*(\d+)\s*([KMGT]i?B?)?\s*$)", std::regex::icase);
    if (!std::regex_match(s, m, re)) {
      problems->Add(n, path + "." + key, "must be a size such as 1GiB or 512MiB, not '" + s + "'");
      return def;
    }
    std::string unit = m[2];
    char u = unit.empty() ? 'B' : static_cast<char>(std::toupper(unit[0]));
    int shift = u == 'K' ? 10 : u == 'M' ? 20 : u == 'G' ? 30 : u == 'T' ? 40 : 0;
    uint64_t v = 0;
    if (!ParseUnsigned(m[1], UINT64_MAX >> shift, &v)) {
      problems->Add(n, path + "." + key, "is too large: '" + s + "' does not fit in 64 bits");
      return def;
    }
    return v << shift;
  }

  int64_t Duration(const YAML::Node& map, const std::string& key, const std::string& path, int64_t def_us) {
    YAML::Node n = map[key];
    if (!IsSetScalar(n, path + "." + key)) return def_us;
    std::string s = n.Scalar();
    std::smatch m;
    static const std::regex re(R"(^\s*(\d+)\s*(ms|s|m|h|d)\s*$)");
    if (!std::regex_match(s, m, re)) {
      problems->Add(n, path + "." + key, "must be a duration such as 7d, 12h, 30m or 10s, not '" + s + "'");
      return def_us;
    }
    std::string unit = m[2];
    int64_t mult = unit == "ms" ? 1000 : unit == "s" ? 1000000 : unit == "m" ? 60000000ll
                 : unit == "h" ? 3600000000ll : 86400000000ll;
    uint64_t v = 0;
    if (!ParseUnsigned(m[1], static_cast<uint64_t>(INT64_MAX / mult), &v)) {
      problems->Add(n, path + "." + key, "is too long: '" + s + "' does not fit in 64-bit microseconds");
      return def_us;
    }
    return static_cast<int64_t>(v) * mult;
  }

  // A whole number in [lo, hi]; anything else (a sign, a fraction, text, too
  // large) is a problem naming the allowed range.
  uint64_t Count(const YAML::Node& map, const std::string& key, const std::string& path, uint64_t def,
                 uint64_t lo, uint64_t hi) {
    YAML::Node n = map[key];
    if (!IsSetScalar(n, path + "." + key)) return def;
    std::string s = n.Scalar();
    while (!s.empty() && s.back() == ' ') s.pop_back();
    while (!s.empty() && s.front() == ' ') s.erase(0, 1);
    uint64_t v = 0;
    if (!ParseUnsigned(s, hi, &v) || v < lo) {
      problems->Add(n, path + "." + key, "must be a whole number from " + std::to_string(lo) + " to " +
                                             std::to_string(hi) + ", not '" + n.Scalar() + "'");
      return def;
    }
    return v;
  }

  // A duration in [lo_us, hi_us]; outside is a problem naming the range.
  int64_t DurationIn(const YAML::Node& map, const std::string& key, const std::string& path, int64_t def_us,
                     int64_t lo_us, int64_t hi_us, const char* range) {
    int64_t v = Duration(map, key, path, def_us);
    if (v >= lo_us && v <= hi_us) return v;
    problems->Add(map[key], path + "." + key, std::string("must be a duration from ") + range + ", not '" +
                                                  map[key].Scalar() + "'");
    return def_us;
  }

  // The limit keys of an embedded HTTP server (webhook source, admin).
  void HttpLimits(const YAML::Node& map, const std::string& path, HttpServerLimits* l) {
    const uint64_t header_bytes = Size(map, "max_header_bytes", path, l->max_header_bytes);
    if (header_bytes < 1024 || header_bytes > (1u << 20))
      problems->Add(map["max_header_bytes"], path + ".max_header_bytes",
                    "must be a size from 1KiB to 1MiB, not '" + map["max_header_bytes"].Scalar() + "'");
    else
      l->max_header_bytes = header_bytes;
    l->max_headers = Count(map, "max_headers", path, l->max_headers, 8, 10000);
    l->head_timeout_us = DurationIn(map, "head_timeout", path, l->head_timeout_us, 100000, 3600ll * 1000000,
                                    "100ms to 1h");
    l->request_timeout_us = DurationIn(map, "request_timeout", path, l->request_timeout_us, 1000000,
                                       3600ll * 1000000, "1s to 1h");
    l->connection_timeout_us = DurationIn(map, "connection_timeout", path, l->connection_timeout_us, 1000000,
                                          24 * 3600ll * 1000000, "1s to 24h");
    l->max_connections = Count(map, "max_connections", path, l->max_connections, 1, 10000);
    l->threads = Count(map, "http_threads", path, l->threads, 1, 1024);
  }

  bool Bool(const YAML::Node& map, const std::string& key, const std::string& path, bool def) {
    YAML::Node n = map[key];
    if (!IsSetScalar(n, path + "." + key)) return def;
    bool v = def;
    if (!YAML::convert<bool>::decode(n, v)) problems->Add(n, path + "." + key, "must be true or false");
    return v;
  }

  // A host:port value; the port is 0 (any free port) to 65535.
  void HostPort(const YAML::Node& at, const std::string& key_path, const std::string& value) {
    static const std::regex re(R"(^[A-Za-z0-9_.\-\[\]:]+:(\d{1,5})$)");
    std::smatch m;
    uint64_t port = 0;
    if (!std::regex_match(value, m, re))
      problems->Add(at, key_path, "must be host:port, not '" + value + "'");
    else if (!ParseUnsigned(m[1], 65535, &port))
      problems->Add(at, key_path, "port must be 0 to 65535, not " + std::string(m[1]));
  }

  void CheckKeys(const YAML::Node& map, const std::string& path, const std::set<std::string>& allowed) {
    if (!map.IsMap()) return;
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) {
        problems->Add(kv.first, path.empty() ? "(key)" : path + ".(key)", "a key must be a plain name, not a mapping or a list");
        continue;
      }
      const std::string& k = kv.first.Scalar();
      if (!allowed.count(k)) problems->Add(kv.first, path + "." + k, "is not a known key");
    }
  }
};

bool SplitQualified(const std::string& s, size_t parts, std::vector<std::string>* out) {
  out->clear();
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, '.')) out->push_back(item);
  if (out->size() != parts) return false;
  for (const auto& p : *out)
    if (p.empty()) return false;
  return true;
}

bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The keys of a webhook source.
void ReadWebhook(Reader& r, Problems& problems, YAML::Node s, const std::string& path, SourceConfig* sc) {
  sc->listen = r.Str(s, "listen", path, true);
  if (!sc->listen.empty()) r.HostPort(s["listen"], path + ".listen", sc->listen);
  sc->path = r.Str(s, "path", path, false, "/");
  if (sc->path.empty() || sc->path[0] != '/') problems.Add(s["path"], path + ".path", "must start with /");
  sc->format = r.Str(s, "format", path, true);
  if (!sc->format.empty() && sc->format != "debezium" && sc->format != "salesforce" && sc->format != "toggl")
    problems.Add(s["format"], path + ".format",
                 "unknown webhook format '" + sc->format + "' (known: debezium, salesforce, toggl)");
  sc->signature = r.Str(s, "signature", path, true);
  const std::string& sig = sc->signature;
  if (!sig.empty() && sig != "standard" && sig != "stripe" && sig != "hmac-sha256" && sig != "none")
    problems.Add(s["signature"], path + ".signature",
                 "unknown signature scheme '" + sig + "' (known: standard, stripe, hmac-sha256, none)");
  sc->signature_header = r.Str(s, "signature_header", path, sig == "hmac-sha256");
  YAML::Node secrets = s["secrets"];
  if (secrets.IsSequence()) {
    for (size_t i = 0; i < secrets.size(); ++i) {
      YAML::Node wrap;
      wrap["v"] = secrets[i];
      std::string v = r.Str(wrap, "v", path + ".secrets[" + std::to_string(i) + "]", true);
      if (!v.empty()) sc->secrets.push_back(v);
    }
  } else if (secrets.IsDefined()) {
    problems.Add(secrets, path + ".secrets", "must be a list of secrets");
  }
  if (sig != "none" && !sig.empty() && sc->secrets.empty())
    problems.Add(secrets.IsDefined() ? secrets : s, path + ".secrets",
                 "needs at least one secret for signature scheme '" + sig + "'");
  // Unsigned deliveries are only taken from this host unless the operator says
  // otherwise: anyone who can reach the port could write into the journal.
  sc->allow_unsigned = r.Bool(s, "allow_unsigned", path, false);
  if (sig == "none" && !sc->listen.empty() && !IsLoopbackListen(sc->listen)) {
    if (!sc->allow_unsigned)
      problems.Add(s["signature"], path + ".signature",
                   "none on " + sc->listen + " (not a loopback address) lets anyone who reaches the port write "
                   "changes; use a signature scheme, listen on 127.0.0.1, or set allow_unsigned: true");
    else
      LogWarn("config", "{}: source {} takes UNSIGNED webhook deliveries on {} (allow_unsigned: true): anyone "
              "who reaches this port can write changes", path, sc->name, sc->listen);
  }
  if (s["allow_unsigned"].IsDefined() && sig != "none")
    problems.Add(s["allow_unsigned"], path + ".allow_unsigned", "is only for signature: none");
  sc->tolerance_us = r.Duration(s, "tolerance", path, sc->tolerance_us);
  sc->max_body = r.Size(s, "max_body", path, sc->max_body);
  r.HttpLimits(s, path, &sc->http);
}

}  // namespace

const std::vector<std::string>* ConfiguredKey(const SourceConfig& source, const std::string& table) {
  for (const auto& [t, key] : source.table_keys)
    if (t == table) return &key;
  return nullptr;
}

const SourceConfig* Config::FindSource(const std::string& name) const {
  for (const auto& s : sources)
    if (s.name == name) return &s;
  return nullptr;
}
const TargetConfig* Config::FindTarget(const std::string& name) const {
  for (const auto& t : targets)
    if (t.name == name) return &t;
  return nullptr;
}

static Result<Config> ParseConfigUnguarded(const std::string& text, const std::string& file);

// Hostile input must end as a listed problem (exit 2), never as an exception
// escaping into main (abort, exit 134).
Result<Config> ParseConfig(const std::string& text, const std::string& file) {
  try {
    return ParseConfigUnguarded(text, file);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  } catch (const std::exception& e) {
    return Status::InvalidArgument(file + ": cannot read the configuration: " + e.what());
  }
}

static Result<Config> ParseConfigUnguarded(const std::string& text, const std::string& file) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  Problems problems(file);
  Reader r{&problems};
  Config cfg;
  cfg.file = file;
  if (!root.IsMap()) return Status::InvalidArgument(file + ": the configuration must be a YAML mapping");
  r.CheckKeys(root, "", {"journal", "sources", "targets", "routes", "admin", "engine", "schemas", "ownership",
                         "conflicts", "feed", "canonical", "log"});

  YAML::Node journal = root["journal"];
  if (!journal.IsMap()) {
    problems.Add(root, "journal", "is required (a mapping with at least 'path')");
  } else {
    r.CheckKeys(journal, "journal", {"path", "map_size", "max_map_size", "retention"});
    cfg.journal_path = r.Str(journal, "path", "journal", true);
    cfg.journal_map_size = r.Size(journal, "map_size", "journal", cfg.journal_map_size);
    cfg.journal_max_map_size = r.Size(journal, "max_map_size", "journal", cfg.journal_max_map_size);
    if (cfg.journal_max_map_size < cfg.journal_map_size) cfg.journal_max_map_size = cfg.journal_map_size;
    cfg.journal_retention_us = r.Duration(journal, "retention", "journal", cfg.journal_retention_us);
  }

  std::set<std::string> names, target_names;
  YAML::Node sources = root["sources"];
  if (sources.IsDefined() && !sources.IsSequence()) problems.Add(sources, "sources", "must be a list");
  if (sources.IsSequence()) {
    for (size_t i = 0; i < sources.size(); ++i) {
      YAML::Node s = sources[i];
      std::string path = "sources[" + std::to_string(i) + "]";
      if (!s.IsMap()) {
        problems.Add(s, path, "must be a mapping");
        continue;
      }
      r.CheckKeys(s, path, {"name", "kind", "dsn", "tables", "slot", "publication", "snapshot", "file", "pull", "listen",
                           "path", "format", "signature", "signature_header", "secrets", "tolerance", "max_body", "external",
                           "allow_unsigned", "max_header_bytes", "max_headers", "head_timeout", "request_timeout",
                           "connection_timeout", "max_connections", "http_threads",
                           "skip_origins", "partitions", "password_file", "chunk_rows", "snapshot_rate"});
      SourceConfig sc;
      sc.name = r.Str(s, "name", path, true);
      sc.kind = r.Str(s, "kind", path, true);
      const bool debezium = sc.kind == "debezium";
      const bool webhook = sc.kind == "webhook";
      sc.dsn = r.Dsn(s, path, !debezium && !webhook, file);
      if (webhook) ReadWebhook(r, problems, s, path, &sc);
      sc.file = r.Str(s, "file", path, false);
      sc.pull = r.Str(s, "pull", path, false);
      sc.slot = r.Str(s, "slot", path, false, "handoff_" + sc.name);
      sc.publication = r.Str(s, "publication", path, false, "handoff_" + sc.name);
      sc.external = r.Bool(s, "external", path, sc.external);
      if (YAML::Node so = s["skip_origins"]; so.IsDefined()) {
        sc.skip_origins.clear();
        bool ok = so.IsSequence();
        for (size_t k = 0; ok && k < so.size(); ++k) {
          ok = so[k].IsScalar() && !so[k].Scalar().empty();
          if (ok) sc.skip_origins.push_back(so[k].Scalar());
        }
        if (!ok) problems.Add(so, path + ".skip_origins", "must be a list of replication origin name prefixes");
      }
      sc.snapshot = r.Bool(s, "snapshot", path, sc.snapshot);
      sc.chunk_rows = r.Count(s, "chunk_rows", path, sc.chunk_rows, 1, 1000000);
      sc.snapshot_rate = r.Count(s, "snapshot_rate", path, sc.snapshot_rate, 0, 100000000);
      sc.partitions = r.Str(s, "partitions", path, false, "root");
      if (sc.partitions != "root" && sc.partitions != "each")
        problems.Add(s["partitions"], path + ".partitions", "must be root or each, not '" + sc.partitions + "'");
      for (const char* key : {"partitions", "snapshot_rate"})
        if (s[key].IsDefined() && sc.kind != "postgres")
          problems.Add(s[key], path + "." + key, "is only for sources of kind postgres");
      if (!sc.kind.empty() && sc.kind != "postgres" && !debezium && !webhook)
        problems.Add(s["kind"], path + ".kind",
                     "unknown source kind '" + sc.kind + "' (known: postgres, debezium, webhook)");
      if (debezium && sc.file.empty() == sc.pull.empty())
        problems.Add(s, path, "a debezium source needs exactly one of 'file' or 'pull'");
      if (!debezium && (!sc.file.empty() || !sc.pull.empty()))
        problems.Add(s["file"].IsDefined() ? s["file"] : s["pull"], path + (sc.file.empty() ? ".pull" : ".file"),
                     "is only for sources of kind debezium");
      if (!sc.pull.empty() && sc.pull.rfind("tcp://", 0) != 0 && sc.pull.rfind("ipc://", 0) != 0)
        problems.Add(s["pull"], path + ".pull", "must be a tcp:// or ipc:// endpoint");
      if (!sc.name.empty() && !names.insert(sc.name).second)
        problems.Add(s["name"], path + ".name", "'" + sc.name + "' is used twice");
      YAML::Node tables = s["tables"];
      if ((debezium || webhook) && !tables.IsDefined()) {
        // every table the feed carries
      } else if (!tables.IsSequence() || tables.size() == 0) {
        problems.Add(tables.IsDefined() ? tables : s, path + ".tables", "must be a non-empty list of schema.table");
      } else {
        for (size_t j = 0; j < tables.size(); ++j) {
          const std::string at = path + ".tables[" + std::to_string(j) + "]";
          YAML::Node entry = tables[j];
          if (entry.IsMap()) r.CheckKeys(entry, at, {"table", "key"});  // { table: schema.table, key: [col, ...] }
          // (A fresh node: assigning to a yaml-cpp Node would rewrite the entry it shares.)
          YAML::Node name = entry.IsMap() ? entry["table"] : entry;
          std::vector<std::string> parts;
          std::string t = name.IsScalar() ? name.Scalar() : "";
          if (!SplitQualified(t, 2, &parts)) {
            problems.Add(entry, at, entry.IsMap() ? "table must be schema.table, not '" + t + "'"
                                                  : "must be schema.table, not '" + t + "'");
            continue;
          }
          sc.tables.push_back(t);
          if (!entry.IsMap() || !entry["key"].IsDefined()) continue;
          YAML::Node key = entry["key"];
          std::vector<std::string> cols;
          if (key.IsSequence())
            for (const auto& c : key)
              if (c.IsScalar() && !c.Scalar().empty()) cols.push_back(c.Scalar());
          if (!key.IsSequence() || cols.size() != key.size() || cols.empty())
            problems.Add(key, at + ".key", "must be a non-empty list of column names");
          else if (sc.kind != "postgres")
            problems.Add(key, at + ".key", "is only for sources of kind postgres");
          else
            sc.table_keys.emplace_back(t, std::move(cols));
        }
      }
      cfg.sources.push_back(std::move(sc));
    }
  }

  YAML::Node targets = root["targets"];
  if (targets.IsDefined() && !targets.IsSequence()) problems.Add(targets, "targets", "must be a list");
  if (targets.IsSequence()) {
    for (size_t i = 0; i < targets.size(); ++i) {
      YAML::Node t = targets[i];
      std::string path = "targets[" + std::to_string(i) + "]";
      if (!t.IsMap()) {
        problems.Add(t, path, "must be a mapping");
        continue;
      }
      r.CheckKeys(t, path, {"name", "kind", "dsn", "password_file", "batch_rows", "url", "headers", "timeout"});
      TargetConfig tc;
      tc.name = r.Str(t, "name", path, true);
      tc.kind = r.Str(t, "kind", path, true);
      const bool http = tc.kind == "http";
      tc.dsn = r.Dsn(t, path, !http, file);
      if (http) {
        tc.url = r.Str(t, "url", path, true);
        if (!tc.url.empty() && tc.url.rfind("http://", 0) != 0 && tc.url.rfind("https://", 0) != 0)
          problems.Add(t["url"], path + ".url", "must start with http:// or https://");
        while (!tc.url.empty() && tc.url.back() == '/') tc.url.pop_back();
        YAML::Node hs = t["headers"];
        if (hs.IsDefined() && !hs.IsMap()) problems.Add(hs, path + ".headers", "must be a mapping of header: value");
        if (hs.IsMap())
          for (const auto& kv : hs) {
            if (!kv.first.IsScalar()) {
              problems.Add(kv.first, path + ".headers.(key)", "a header name must be a plain name");
              continue;
            }
            const std::string k = kv.first.Scalar();
            tc.headers.emplace_back(k, r.Str(hs, k, path + ".headers", true));
          }
        tc.timeout_us = r.Duration(t, "timeout", path, tc.timeout_us);
      } else if (t["url"].IsDefined() || t["headers"].IsDefined()) {
        problems.Add(t["url"].IsDefined() ? t["url"] : t["headers"], path, "url and headers are only for http targets");
      }
      tc.batch_rows = r.Count(t, "batch_rows", path, tc.batch_rows, 1, 100000000);
      if (!tc.kind.empty() && tc.kind != "postgres" && !http)
        problems.Add(t["kind"], path + ".kind", "unknown target kind '" + tc.kind + "' (known: postgres, http)");
      // Target names are their own namespace: in canonical mode a system is both
      // a source and a target of the same name (crm, erp).
      if (!tc.name.empty() && !target_names.insert(tc.name).second)
        problems.Add(t["name"], path + ".name", "'" + tc.name + "' is used twice");
      cfg.targets.push_back(std::move(tc));
    }
  }

  YAML::Node routes = root["routes"];
  if (routes.IsDefined() && !routes.IsSequence()) problems.Add(routes, "routes", "must be a list");
  if (routes.IsSequence()) {
    for (size_t i = 0; i < routes.size(); ++i) {
      YAML::Node n = routes[i];
      std::string path = "routes[" + std::to_string(i) + "]";
      if (!n.IsMap()) {
        problems.Add(n, path, "must be a mapping");
        continue;
      }
      r.CheckKeys(n, path, {"from", "to", "on_new_column"});
      std::string from = r.Str(n, "from", path, true);
      std::string to = r.Str(n, "to", path, true);
      std::vector<std::string> f, t;
      RouteConfig rc;
      if (!from.empty()) {
        if (!SplitQualified(from, 3, &f)) {
          problems.Add(n["from"], path + ".from", "must be source.schema.table, not '" + from + "'");
        } else {
          rc.from_source = f[0], rc.from_schema = f[1], rc.from_table = f[2];
          const SourceConfig* sc = cfg.FindSource(f[0]);
          if (sc == nullptr) {
            problems.Add(n["from"], path + ".from", "names no configured source '" + f[0] + "'");
          } else {
            // With `partitions: each` a route names a partition of a listed table
            // (`config validate` checks it against the source).
            bool listed = (sc->kind != "postgres" && sc->tables.empty()) || sc->partitions == "each";
            for (const auto& tbl : sc->tables) listed |= (tbl == f[1] + "." + f[2]);
            if (!listed)
              problems.Add(n["from"], path + ".from", "table " + f[1] + "." + f[2] + " is not in the tables of source '" + f[0] + "'");
          }
        }
      }
      const TargetConfig* to_http = nullptr;
      if (!to.empty() && SplitQualified(to, 2, &t)) {
        to_http = cfg.FindTarget(t[0]);
        if (to_http != nullptr && to_http->kind != "http") to_http = nullptr;
      }
      if (to_http != nullptr) {
        rc.to_target = t[0], rc.to_table = t[1];
      } else if (!to.empty()) {
        if (!SplitQualified(to, 3, &t)) {
          problems.Add(n["to"], path + ".to",
                       "must be target.schema.table (target.resource for an http target), not '" + to + "'");
        } else {
          rc.to_target = t[0], rc.to_schema = t[1], rc.to_table = t[2];
          if (cfg.FindTarget(t[0]) == nullptr)
            problems.Add(n["to"], path + ".to", "names no configured target '" + t[0] + "'");
        }
      }
      if (n["on_new_column"].IsDefined()) {
        const std::string policy = r.Str(n, "on_new_column", path, false);
        if (policy == "add") rc.on_new_column = NewColumnPolicy::kAdd;
        else if (policy == "ignore") rc.on_new_column = NewColumnPolicy::kIgnore;
        else if (policy == "park") rc.on_new_column = NewColumnPolicy::kPark;
        else
          problems.Add(n["on_new_column"], path + ".on_new_column",
                       "must be add, ignore or park, not '" + policy + "'");
        if (to_http != nullptr)
          problems.Add(n["on_new_column"], path + ".on_new_column",
                       "applies to PostgreSQL targets; an http target receives the columns each change has");
      }
      cfg.routes.push_back(std::move(rc));
    }
  }

  YAML::Node admin = root["admin"];
  if (admin.IsDefined()) {
    if (!admin.IsMap()) {
      problems.Add(admin, "admin", "must be a mapping");
    } else {
      r.CheckKeys(admin, "admin", {"listen", "max_header_bytes", "max_headers", "head_timeout", "request_timeout",
                                   "connection_timeout", "max_connections", "http_threads"});
      cfg.admin_listen = r.Str(admin, "listen", "admin", false);
      r.HttpLimits(admin, "admin", &cfg.admin_http);
      if (!cfg.admin_listen.empty()) r.HostPort(admin["listen"], "admin.listen", cfg.admin_listen);
    }
  }
  YAML::Node engine = root["engine"];
  if (engine.IsDefined()) {
    if (!engine.IsMap()) {
      problems.Add(engine, "engine", "must be a mapping");
    } else {
      r.CheckKeys(engine, "engine", {"intake", "intake_max_message", "intake_curve", "intake_clients", "intake_client_key",
                                     "slot_check_interval", "slot_wal_warn", "origin"});
      cfg.intake_endpoint = r.Str(engine, "intake", "engine", false);
      cfg.apply_origin = r.Str(engine, "origin", "engine", false);
      static const std::regex origin_re(R"(^[A-Za-z0-9_]{1,200}$)");
      if (!cfg.apply_origin.empty() && !std::regex_match(cfg.apply_origin, origin_re))
        problems.Add(engine["origin"], "engine.origin", "must be 1 to 200 letters, digits or underscores");
      cfg.slot_check_interval_us = r.Duration(engine, "slot_check_interval", "engine", cfg.slot_check_interval_us);
      if (cfg.slot_check_interval_us <= 0)
        problems.Add(engine["slot_check_interval"], "engine.slot_check_interval", "must be longer than zero");
      cfg.slot_wal_warn_bytes = r.Size(engine, "slot_wal_warn", "engine", cfg.slot_wal_warn_bytes);
      cfg.intake_max_message_bytes = r.Size(engine, "intake_max_message", "engine", cfg.intake_max_message_bytes);
      if (cfg.intake_max_message_bytes < (64u << 10) || cfg.intake_max_message_bytes > (1ull << 31))
        problems.Add(engine["intake_max_message"], "engine.intake_max_message", "must be between 64KiB and 2GiB");
      if (!cfg.intake_endpoint.empty() && cfg.intake_endpoint.rfind("tcp://", 0) != 0 &&
          cfg.intake_endpoint.rfind("ipc://", 0) != 0)
        problems.Add(engine["intake"], "engine.intake", "must be a tcp:// or ipc:// endpoint");
      static const std::regex z85_re(R"(^[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$)");
      auto key_map = [&](const char* key, Config::CurveKeyConfig* out) {
        YAML::Node n = engine[key];
        if (!n.IsDefined() || n.IsNull()) return;
        const std::string path = std::string("engine.") + key;
        if (!n.IsMap()) {
          problems.Add(n, path, "must be a mapping with public_key and secret_key_file");
          return;
        }
        r.CheckKeys(n, path, {"public_key", "secret_key_file"});
        out->public_key = r.Str(n, "public_key", path, true);
        out->secret_key_file = r.Str(n, "secret_key_file", path, false);
        if (!out->public_key.empty() && !std::regex_match(out->public_key, z85_re))
          problems.Add(n["public_key"], path + ".public_key", "must be a Z85 key of 40 characters (handoff agent keygen)");
      };
      key_map("intake_curve", &cfg.intake_curve);
      key_map("intake_client_key", &cfg.intake_client_key);
      YAML::Node clients = engine["intake_clients"];
      if (clients.IsDefined() && !clients.IsSequence()) problems.Add(clients, "engine.intake_clients", "must be a list");
      if (clients.IsSequence()) {
        for (size_t i = 0; i < clients.size(); ++i) {
          const std::string path = "engine.intake_clients[" + std::to_string(i) + "]";
          YAML::Node c = clients[i];
          if (!c.IsMap()) {
            problems.Add(c, path, "must be a mapping with public_key and sources");
            continue;
          }
          r.CheckKeys(c, path, {"public_key", "sources"});
          Config::IntakeClientConfig ic;
          ic.public_key = r.Str(c, "public_key", path, true);
          if (!ic.public_key.empty() && !std::regex_match(ic.public_key, z85_re))
            problems.Add(c["public_key"], path + ".public_key", "must be a Z85 key of 40 characters");
          YAML::Node srcs = c["sources"];
          if (!srcs.IsSequence() || srcs.size() == 0) {
            problems.Add(srcs.IsDefined() ? srcs : c, path + ".sources", "must be a non-empty list of source names");
          } else {
            for (const auto& sn : srcs) ic.sources.push_back(sn.IsScalar() ? sn.Scalar() : "");
          }
          cfg.intake_clients.push_back(std::move(ic));
        }
      }
      if (!cfg.intake_clients.empty() && cfg.intake_curve.public_key.empty())
        problems.Add(clients, "engine.intake_clients", "needs engine.intake_curve (the engine's key)");
      // Anything that can reach a non-loopback endpoint could speak as any
      // source: such an intake must authenticate its peers.
      static const std::regex loopback_re(R"(^tcp://(127\.[0-9.]+|localhost|\[::1\]|::1):[0-9*]+$)");
      if (cfg.intake_endpoint.rfind("tcp://", 0) == 0 && !std::regex_match(cfg.intake_endpoint, loopback_re) &&
          cfg.intake_curve.public_key.empty())
        problems.Add(engine["intake"], "engine.intake",
                     "is not a loopback address: set engine.intake_curve and engine.intake_clients (CURVE) for it");
    }
  }
  YAML::Node log = root["log"];
  if (log.IsDefined()) {
    if (!log.IsMap()) {
      problems.Add(log, "log", "must be a mapping with 'format' and/or 'level'");
    } else {
      r.CheckKeys(log, "log", {"format", "level"});
      cfg.log_format = r.Str(log, "format", "log", false);
      LogFormat f;
      if (!cfg.log_format.empty() && !ParseLogFormat(cfg.log_format, &f))
        problems.Add(log["format"], "log.format", "must be text or json, not '" + cfg.log_format + "'");
      cfg.log_level = r.Str(log, "level", "log", false);
      LogLevel l;
      if (!cfg.log_level.empty() && !ParseLogLevel(cfg.log_level, &l))
        problems.Add(log["level"], "log.level", "must be debug, info, warn or error, not '" + cfg.log_level + "'");
    }
  }
  YAML::Node feed = root["feed"];
  if (feed.IsDefined()) {
    if (!feed.IsMap()) {
      problems.Add(feed, "feed", "must be a mapping");
    } else {
      r.CheckKeys(feed, "feed", {"publish"});
      cfg.feed_publish = r.Str(feed, "publish", "feed", true);
      if (!cfg.feed_publish.empty() && cfg.feed_publish.rfind("tcp://", 0) != 0 &&
          cfg.feed_publish.rfind("ipc://", 0) != 0)
        problems.Add(feed["publish"], "feed.publish", "must be a tcp:// or ipc:// endpoint");
    }
  }
  YAML::Node canonical = root["canonical"];
  if (canonical.IsDefined()) {
    if (!canonical.IsMap()) {
      problems.Add(canonical, "canonical", "must be a mapping with 'schemas' and 'ownership'");
    } else {
      r.CheckKeys(canonical, "canonical", {"schemas", "ownership", "flows", "tombstone_days"});
      auto resolve = [&](std::string p) {
        if (p.empty() || p[0] == '/') return p;
        std::filesystem::path base = std::filesystem::path(file).parent_path();
        return base.empty() ? p : (base / p).string();
      };
      cfg.canonical_schemas = resolve(r.Str(canonical, "schemas", "canonical", true));
      cfg.canonical_ownership = resolve(r.Str(canonical, "ownership", "canonical", true));
      cfg.canonical_flows = resolve(r.Str(canonical, "flows", "canonical", false));
      cfg.canonical_tombstone_days = static_cast<int64_t>(
          r.Count(canonical, "tombstone_days", "canonical", static_cast<uint64_t>(cfg.canonical_tombstone_days), 0, 36500));
    }
  }
  for (SourceConfig& sc : cfg.sources) {
    bool covered = false;
    for (const auto& p : sc.skip_origins) covered = covered || (!cfg.apply_origin.empty() && cfg.apply_origin.rfind(p, 0) == 0);
    if (!cfg.apply_origin.empty() && !covered) sc.skip_origins.push_back(cfg.apply_origin);
  }
  for (size_t i = 0; i < cfg.sources.size(); ++i)
    if (cfg.sources[i].external && cfg.intake_endpoint.empty())
      problems.Add(root, "sources[" + std::to_string(i) + "].external",
                   "needs engine.intake (the tcp:// or ipc:// endpoint the agent process connects to)");
  if (!problems.empty()) return Status::InvalidArgument(problems.Join());
  return cfg;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::InvalidArgument(path + ": cannot read the configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path);
}

}  // namespace handoff
