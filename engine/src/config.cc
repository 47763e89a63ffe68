// Loads handoff.yaml. Every problem is collected with its key path and line,
// so `handoff config validate` can show them all at once.
#include "handoff/engine/config.h"
#include "handoff/engine/log.h"

#include "config_reader.h"

namespace handoff {

using config_read::IsLoopbackListen;
using config_read::Problems;
using config_read::Reader;
using config_read::SplitQualified;

const char* NewColumnPolicyName(NewColumnPolicy p) {
  switch (p) {
    case NewColumnPolicy::kPark: return "park";
    case NewColumnPolicy::kAdd: return "add";
    case NewColumnPolicy::kIgnore: return "ignore";
  }
  return "park";
}
const char* TargetKindName(TargetKind kind) { return kind == TargetKind::kHttp ? "http" : "postgres"; }

SourceKind SourceConfig::source_kind() const {
  return std::visit([](const auto& s) { return std::decay_t<decltype(s)>::kKind; }, settings);
}

TargetKind TargetConfig::target_kind() const {
  return std::visit([](const auto& t) { return std::decay_t<decltype(t)>::kKind; }, settings);
}

const std::vector<std::string>* ConfiguredKey(const PostgresSourceSettings& source, const std::string& table) {
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
                         "conflicts", "feed", "canonical", "log", "verify", "reconcile"});

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
      r.CheckKeys(s, path, config_read::SourceKeys());
      SourceConfig sc;
      sc.name = r.Str(s, "name", path, true);
      sc.kind = r.Str(s, "kind", path, true);
      sc.external = r.Bool(s, "external", path, sc.external);
      config_read::ReadSourceSettings(r, s, path, file, &sc);
      const bool debezium = sc.debezium() != nullptr;
      const bool webhook = sc.webhook() != nullptr;
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
          else if (sc.postgres() == nullptr)
            problems.Add(key, at + ".key", "is only for sources of kind postgres");
          else
            sc.postgres()->table_keys.emplace_back(t, std::move(cols));
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
      r.CheckKeys(t, path, config_read::TargetKeys());
      TargetConfig tc;
      tc.name = r.Str(t, "name", path, true);
      tc.kind = r.Str(t, "kind", path, true);
      config_read::ReadTargetSettings(r, t, path, file, &tc);
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
            const PostgresSourceSettings* pg = sc->postgres();
            bool listed = (pg == nullptr && sc->tables.empty()) || (pg != nullptr && pg->partitions == "each");
            for (const auto& tbl : sc->tables) listed |= (tbl == f[1] + "." + f[2]);
            if (!listed)
              problems.Add(n["from"], path + ".from", "table " + f[1] + "." + f[2] + " is not in the tables of source '" + f[0] + "'");
          }
        }
      }
      const TargetConfig* to_http = nullptr;
      if (!to.empty() && SplitQualified(to, 2, &t)) {
        to_http = cfg.FindTarget(t[0]);
        if (to_http != nullptr && to_http->http() == nullptr) to_http = nullptr;
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
  constexpr int64_t kSecond = 1000000, kYear = 366ll * 86400 * kSecond;
  YAML::Node verify = root["verify"];
  if (verify.IsDefined() && !verify.IsSequence()) problems.Add(verify, "verify", "must be a list of scheduled checks");
  if (verify.IsSequence()) {
    for (size_t i = 0; i < verify.size(); ++i) {
      YAML::Node v = verify[i];
      const std::string path = "verify[" + std::to_string(i) + "]";
      if (!v.IsMap()) {
        problems.Add(v, path, "must be a mapping with 'route' and 'every'");
        continue;
      }
      r.CheckKeys(v, path, {"route", "table", "every", "first_after", "rate", "chunk_rows", "timeout", "repair"});
      Config::VerifySchedule vs;
      vs.source = r.Str(v, "route", path, true);
      vs.table = r.Str(v, "table", path, false);
      if (!v["every"].IsDefined()) problems.Add(v, path + ".every", "is required (a duration such as 6h)");
      vs.every_us = r.DurationIn(v, "every", path, 3600 * kSecond, kSecond, kYear, "1s to 366d");
      if (v["first_after"].IsDefined())
        vs.first_after_us = r.DurationIn(v, "first_after", path, 0, 0, kYear, "0s to 366d");
      vs.rate = r.Count(v, "rate", path, 0, 0, 100000000);
      vs.chunk_rows = r.Count(v, "chunk_rows", path, vs.chunk_rows, 1, 1000000);
      vs.timeout_us = r.DurationIn(v, "timeout", path, vs.timeout_us, kSecond, 86400 * kSecond, "1s to 1d");
      vs.repair = r.Bool(v, "repair", path, false);
      const SourceConfig* src = nullptr;
      for (const SourceConfig& sc : cfg.sources)
        if (sc.name == vs.source) src = &sc;
      if (!vs.source.empty() && src == nullptr)
        problems.Add(v["route"], path + ".route", "names no configured source: '" + vs.source + "'");
      else if (src != nullptr && src->postgres() == nullptr)
        problems.Add(v["route"], path + ".route",
                     "'" + vs.source + "' is not a PostgreSQL source: verify reads the source's tables");
      cfg.verify_schedule.push_back(std::move(vs));
    }
  }
  YAML::Node reconcile = root["reconcile"];
  if (reconcile.IsDefined()) {
    if (!reconcile.IsMap()) {
      problems.Add(reconcile, "reconcile", "must be a mapping with 'every' and 'periods'");
    } else {
      r.CheckKeys(reconcile, "reconcile", {"every", "first_after", "periods"});
      Config::ReconcileSchedule rs;
      if (!reconcile["every"].IsDefined()) problems.Add(reconcile, "reconcile.every", "is required (a duration such as 24h)");
      rs.every_us = r.DurationIn(reconcile, "every", "reconcile", 86400 * kSecond, kSecond, kYear, "1s to 366d");
      if (reconcile["first_after"].IsDefined())
        rs.first_after_us = r.DurationIn(reconcile, "first_after", "reconcile", 0, 0, kYear, "0s to 366d");
      YAML::Node periods = reconcile["periods"];
      static const std::regex month(R"(^\d{4}-(0[1-9]|1[0-2])$)");
      if (!periods.IsDefined()) {
        rs.periods = {"previous", "current"};
      } else if (!periods.IsSequence() || periods.size() == 0) {
        problems.Add(periods, "reconcile.periods", "must be a non-empty list of current, previous or YYYY-MM");
      } else {
        for (size_t i = 0; i < periods.size(); ++i) {
          const std::string p = periods[i].IsScalar() ? periods[i].Scalar() : "";
          if (p != "current" && p != "previous" && !std::regex_match(p, month))
            problems.Add(periods[i], "reconcile.periods[" + std::to_string(i) + "]",
                         "must be current, previous or a month YYYY-MM, not '" + p + "'");
          else
            rs.periods.push_back(p);
        }
      }
      cfg.reconcile_schedule = std::move(rs);
    }
  }
  if (cfg.reconcile_schedule && !canonical.IsDefined())
    problems.Add(reconcile, "reconcile", "needs canonical mode (a `canonical:` section with flows)");

  for (SourceConfig& sc : cfg.sources) {
    PostgresSourceSettings* pg = sc.postgres();
    if (pg == nullptr) continue;
    bool covered = false;
    for (const auto& p : pg->skip_origins) covered = covered || (!cfg.apply_origin.empty() && cfg.apply_origin.rfind(p, 0) == 0);
    if (!cfg.apply_origin.empty() && !covered) pg->skip_origins.push_back(cfg.apply_origin);
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
