// The settings of each source and target kind, each read by its own function,
// and the rule that a key of one kind is refused on another: the error names
// the key, the source or target and the kind the key belongs to.
#include <map>

#include "config_reader.h"
#include "handoff/engine/log.h"

namespace handoff::config_read {
namespace {

const std::set<std::string> kCommonSourceKeys = {"name", "kind", "tables", "external"};
const std::set<std::string> kCommonTargetKeys = {"name", "kind"};

// Which kind each kind-specific key belongs to.
const std::map<std::string, std::string>& SourceKeyKinds() {
  static const std::map<std::string, std::string> keys = [] {
    std::map<std::string, std::string> m;
    for (const char* k : {"dsn", "password_file", "slot", "publication", "snapshot", "skip_origins", "partitions",
                          "chunk_rows", "snapshot_rate", "streaming"})
      m[k] = "postgres";
    for (const char* k : {"file", "pull"}) m[k] = "debezium";
    for (const char* k : {"listen", "path", "format", "signature", "signature_header", "secrets", "tolerance",
                          "max_body", "allow_unsigned", "max_header_bytes", "max_headers", "head_timeout",
                          "request_timeout", "connection_timeout", "max_connections", "http_threads"})
      m[k] = "webhook";
    return m;
  }();
  return keys;
}

const std::map<std::string, std::string>& TargetKeyKinds() {
  static const std::map<std::string, std::string> keys = {
      {"dsn", "postgres"}, {"password_file", "postgres"}, {"batch_rows", "postgres"},
      {"url", "http"},     {"headers", "http"},           {"timeout", "http"},
      {"max_in_flight", "http"}};
  return keys;
}

// Refuses each key of `entry` that belongs to a kind other than `kind`.
void CheckKindKeys(Reader& r, const YAML::Node& entry, const std::string& path, const char* what,
                   const std::string& name, const std::string& kind,
                   const std::map<std::string, std::string>& key_kinds) {
  if (!entry.IsMap()) return;
  for (const auto& kv : entry) {
    if (!kv.first.IsScalar()) continue;  // CheckKeys reported it
    auto it = key_kinds.find(kv.first.Scalar());
    if (it == key_kinds.end() || it->second == kind) continue;
    const std::string who = name.empty() ? std::string("this ") + what : std::string(what) + " '" + name + "'";
    r.problems->Add(kv.first, path + "." + it->first,
                    std::string("is only for ") + what + "s of kind " + it->second + " (" + who + " is of kind " +
                        kind + ")");
  }
}

// `kind: postgres`.
void ReadPostgres(Reader& r, YAML::Node s, const std::string& path, const std::string& config_file,
                  const std::string& name, PostgresSourceSettings* pg) {
  pg->dsn = r.Dsn(s, path, true, config_file);
  pg->slot = r.Str(s, "slot", path, false, "handoff_" + name);
  pg->publication = r.Str(s, "publication", path, false, "handoff_" + name);
  if (YAML::Node so = s["skip_origins"]; so.IsDefined()) {
    pg->skip_origins.clear();
    bool ok = so.IsSequence();
    for (size_t k = 0; ok && k < so.size(); ++k) {
      ok = so[k].IsScalar() && !so[k].Scalar().empty();
      if (ok) pg->skip_origins.push_back(so[k].Scalar());
    }
    if (!ok) r.problems->Add(so, path + ".skip_origins", "must be a list of replication origin name prefixes");
  }
  pg->snapshot = r.Bool(s, "snapshot", path, pg->snapshot);
  pg->streaming = r.Bool(s, "streaming", path, pg->streaming);
  pg->chunk_rows = r.Count(s, "chunk_rows", path, pg->chunk_rows, 1, 1000000);
  pg->snapshot_rate = r.Count(s, "snapshot_rate", path, pg->snapshot_rate, 0, 100000000);
  pg->partitions = r.Str(s, "partitions", path, false, "root");
  if (pg->partitions != "root" && pg->partitions != "each")
    r.problems->Add(s["partitions"], path + ".partitions", "must be root or each, not '" + pg->partitions + "'");
}

// `kind: debezium`.
void ReadDebezium(Reader& r, YAML::Node s, const std::string& path, DebeziumSourceSettings* d) {
  d->file = r.Str(s, "file", path, false);
  d->pull = r.Str(s, "pull", path, false);
  if (d->file.empty() == d->pull.empty())
    r.problems->Add(s, path, "a debezium source needs exactly one of 'file' or 'pull'");
  if (!d->pull.empty() && d->pull.rfind("tcp://", 0) != 0 && d->pull.rfind("ipc://", 0) != 0)
    r.problems->Add(s["pull"], path + ".pull", "must be a tcp:// or ipc:// endpoint");
}

// `kind: webhook`.
void ReadWebhook(Reader& r, YAML::Node s, const std::string& path, const std::string& name,
                 WebhookSourceSettings* sc) {
  sc->listen = r.Str(s, "listen", path, true);
  if (!sc->listen.empty()) r.HostPort(s["listen"], path + ".listen", sc->listen);
  sc->path = r.Str(s, "path", path, false, "/");
  if (sc->path.empty() || sc->path[0] != '/') r.problems->Add(s["path"], path + ".path", "must start with /");
  sc->format = r.Str(s, "format", path, true);
  if (!sc->format.empty() && sc->format != "debezium" && sc->format != "salesforce" && sc->format != "toggl")
    r.problems->Add(s["format"], path + ".format",
                 "unknown webhook format '" + sc->format + "' (known: debezium, salesforce, toggl)");
  sc->signature = r.Str(s, "signature", path, true);
  const std::string& sig = sc->signature;
  if (!sig.empty() && sig != "standard" && sig != "stripe" && sig != "hmac-sha256" && sig != "none")
    r.problems->Add(s["signature"], path + ".signature",
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
    r.problems->Add(secrets, path + ".secrets", "must be a list of secrets");
  }
  if (sig != "none" && !sig.empty() && sc->secrets.empty())
    r.problems->Add(secrets.IsDefined() ? secrets : s, path + ".secrets",
                 "needs at least one secret for signature scheme '" + sig + "'");
  // Unsigned deliveries are only taken from this host unless the operator says
  // otherwise: anyone who can reach the port could write into the journal.
  sc->allow_unsigned = r.Bool(s, "allow_unsigned", path, false);
  if (sig == "none" && !sc->listen.empty() && !IsLoopbackListen(sc->listen)) {
    if (!sc->allow_unsigned)
      r.problems->Add(s["signature"], path + ".signature",
                   "none on " + sc->listen + " (not a loopback address) lets anyone who reaches the port write "
                   "changes; use a signature scheme, listen on 127.0.0.1, or set allow_unsigned: true");
    else
      LogWarn("config", "{}: source {} takes UNSIGNED webhook deliveries on {} (allow_unsigned: true): anyone "
              "who reaches this port can write changes", path, name, sc->listen);
  }
  if (s["allow_unsigned"].IsDefined() && sig != "none")
    r.problems->Add(s["allow_unsigned"], path + ".allow_unsigned", "is only for signature: none");
  sc->tolerance_us = r.Duration(s, "tolerance", path, sc->tolerance_us);
  sc->max_body = r.Size(s, "max_body", path, sc->max_body);
  r.HttpLimits(s, path, &sc->http);
}


// `kind: postgres` target.
void ReadPostgresTarget(Reader& r, YAML::Node t, const std::string& path, const std::string& config_file,
                        PostgresTargetSettings* pg) {
  pg->dsn = r.Dsn(t, path, true, config_file);
  pg->batch_rows = r.Count(t, "batch_rows", path, pg->batch_rows, 1, 100000000);
}

// `kind: http` target.
void ReadHttpTarget(Reader& r, YAML::Node t, const std::string& path, HttpTargetSettings* h) {
  h->url = r.Str(t, "url", path, true);
  if (!h->url.empty() && h->url.rfind("http://", 0) != 0 && h->url.rfind("https://", 0) != 0)
    r.problems->Add(t["url"], path + ".url", "must start with http:// or https://");
  while (!h->url.empty() && h->url.back() == '/') h->url.pop_back();
  YAML::Node hs = t["headers"];
  if (hs.IsDefined() && !hs.IsMap()) r.problems->Add(hs, path + ".headers", "must be a mapping of header: value");
  if (hs.IsMap())
    for (const auto& kv : hs) {
      if (!kv.first.IsScalar()) {
        r.problems->Add(kv.first, path + ".headers.(key)", "a header name must be a plain name");
        continue;
      }
      const std::string k = kv.first.Scalar();
      h->headers.emplace_back(k, r.Str(hs, k, path + ".headers", true));
    }
  h->timeout_us = r.Duration(t, "timeout", path, h->timeout_us);
  h->max_in_flight = r.Count(t, "max_in_flight", path, h->max_in_flight, 1, 256);
}

}  // namespace

const std::set<std::string>& SourceKeys() {
  static const std::set<std::string> keys = [] {
    std::set<std::string> k = kCommonSourceKeys;
    for (const auto& [key, kind] : SourceKeyKinds()) k.insert(key);
    return k;
  }();
  return keys;
}

const std::set<std::string>& TargetKeys() {
  static const std::set<std::string> keys = [] {
    std::set<std::string> k = kCommonTargetKeys;
    for (const auto& [key, kind] : TargetKeyKinds()) k.insert(key);
    return k;
  }();
  return keys;
}

void ReadSourceSettings(Reader& r, YAML::Node s, const std::string& path, const std::string& config_file,
                        SourceConfig* sc) {
  if (sc->kind == "postgres") {
    ReadPostgres(r, s, path, config_file, sc->name, &sc->settings.emplace<PostgresSourceSettings>());
  } else if (sc->kind == "debezium") {
    ReadDebezium(r, s, path, &sc->settings.emplace<DebeziumSourceSettings>());
  } else if (sc->kind == "webhook") {
    ReadWebhook(r, s, path, sc->name, &sc->settings.emplace<WebhookSourceSettings>());
  } else {
    if (!sc->kind.empty())
      r.problems->Add(s["kind"], path + ".kind",
                      "unknown source kind '" + sc->kind + "' (known: postgres, debezium, webhook)");
    return;
  }
  CheckKindKeys(r, s, path, "source", sc->name, sc->kind, SourceKeyKinds());
}

void ReadTargetSettings(Reader& r, YAML::Node t, const std::string& path, const std::string& config_file,
                        TargetConfig* tc) {
  if (tc->kind == "postgres") {
    ReadPostgresTarget(r, t, path, config_file, &tc->settings.emplace<PostgresTargetSettings>());
  } else if (tc->kind == "http") {
    ReadHttpTarget(r, t, path, &tc->settings.emplace<HttpTargetSettings>());
  } else {
    if (!tc->kind.empty())
      r.problems->Add(t["kind"], path + ".kind", "unknown target kind '" + tc->kind + "' (known: postgres, http)");
    return;
  }
  CheckKindKeys(r, t, path, "target", tc->name, tc->kind, TargetKeyKinds());
}

}  // namespace handoff::config_read
