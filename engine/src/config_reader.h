// The pieces handoff.yaml is read with: the list of problems (each with its
// file, line and key path) and a Reader for each kind of value. Shared by the
// readers of the sections (config.cc) and of each source and target kind
// (config_kinds.cc).
//
// Thread-safety: plain functions; a Reader is used by one thread.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "handoff/engine/config.h"

namespace handoff::config_read {

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
inline std::string Substitute(const std::string& in, std::vector<std::string>* missing) {
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
inline bool ParseUnsigned(const std::string& s, uint64_t max, uint64_t* out) {
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
inline Result<std::string> ReadPasswordFile(const std::string& path) {
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
inline constexpr size_t kMaxValueBytes = 8192;

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
    // An empty value (`key: ""`, a tag without a value, an empty variable) does not make a required one.
    if (required && v.empty() && missing.empty()) problems->Add(n, path + "." + key, "must not be empty");
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
  // values (see PostgresSourceSettings::dsn), and the password of `password_file`, if set.
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

inline bool SplitQualified(const std::string& s, size_t parts, std::vector<std::string>* out) {
  out->clear();
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, '.')) out->push_back(item);
  if (out->size() != parts) return false;
  for (const auto& p : *out)
    if (p.empty()) return false;
  return true;
}

inline bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Every key a `sources:` (`targets:`) entry may have, of any kind.
const std::set<std::string>& SourceKeys();
const std::set<std::string>& TargetKeys();

// The settings of `sc`'s kind from its `sources:` entry `s` (at `path`),
// after a check that every key there is common or of that kind.
void ReadSourceSettings(Reader& r, YAML::Node s, const std::string& path, const std::string& config_file,
                        SourceConfig* sc);
// The same for a target.
void ReadTargetSettings(Reader& r, YAML::Node t, const std::string& path, const std::string& config_file,
                        TargetConfig* tc);

}  // namespace handoff::config_read
