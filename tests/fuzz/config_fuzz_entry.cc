// Config fuzz entry: handoff.yaml text through ParseConfig, which must return
// a Config or kInvalidArgument and never let an exception out. A Config that
// is returned must hold what validation promises (routes name configured
// sources and targets, names are unique, every PostgreSQL DSN is a connection
// split into keyword/value pairs, sizes and counts in range). The input is
// also a DSN for ConnParams: what parses has keywords, and a redacted text no
// longer holds the password.
#include <cctype>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_entries.h"
#include "handoff/engine/config.h"
#include "handoff/engine/conn_params.h"
#include "handoff/engine/log.h"

namespace handoff::fuzz {
namespace {

constexpr const char* kTarget = "config_fuzz";
// A directory that does not exist: relative password files and canonical
// paths resolve under it, so the fuzzer cannot make the parser read a file
// of the working directory.
constexpr const char* kFile = "/nonexistent-handoff-fuzz/handoff.yaml";

// A DSN the config returns: split into pairs with keywords, and its
// redacted form never holds the password. (Checked for passwords of letters
// and digits found in no other pair: only those cannot appear in the
// redacted text by coincidence, inside another value or across separators.)
void CheckDsn(const ConnParams& dsn, const char* what) {
  for (const ConninfoPair& p : dsn.pairs)
    if (p.key.empty()) Broken(kTarget, std::string(what) + " DSN has a pair without a keyword");
  const std::string password = dsn.Get("password");
  if (password.empty()) return;
  for (char ch : password)
    if (!std::isalnum(static_cast<unsigned char>(ch))) return;
  for (const ConninfoPair& p : dsn.pairs)
    if (p.key != "password" && (p.key.find(password) != std::string::npos || p.value.find(password) != std::string::npos))
      return;
  if (std::string("password").find(password) != std::string::npos) return;
  if (dsn.Redacted().find(password) != std::string::npos)
    Broken(kTarget, std::string(what) + " DSN shows its password when redacted");
}

void CheckConfig(const Config& c) {
  if (c.journal_path.empty()) Broken(kTarget, "a config without journal.path");
  if (c.journal_max_map_size < c.journal_map_size) Broken(kTarget, "max_map_size below map_size");
  if (c.intake_max_message_bytes < (64u << 10) || c.intake_max_message_bytes > (1ull << 31))
    Broken(kTarget, "intake_max_message out of range");
  if (c.slot_check_interval_us <= 0) Broken(kTarget, "slot_check_interval not positive");
  if (c.canonical_tombstone_days < 0 || c.canonical_tombstone_days > 36500) Broken(kTarget, "tombstone_days out of range");
  std::set<std::string> names;
  for (const SourceConfig& s : c.sources) {
    if (s.name.empty() || !names.insert(s.name).second) Broken(kTarget, "source name empty or used twice");
    if (s.kind != "postgres" && s.kind != "debezium" && s.kind != "webhook") Broken(kTarget, "unknown source kind");
    if (s.kind == "postgres") {
      if (s.tables.empty()) Broken(kTarget, "postgres source without tables");
      if (s.postgres() == nullptr) Broken(kTarget, "postgres source without postgres settings");
      else CheckDsn(s.postgres()->dsn, "source");
    }
    if (SourceKindName(s.source_kind()) != s.kind) Broken(kTarget, "settings of another kind than " + s.kind);
    for (const std::string& t : s.tables)
      if (t.find('.') == std::string::npos) Broken(kTarget, "table not schema.table: " + t);
    if (s.external && c.intake_endpoint.empty()) Broken(kTarget, "external source without engine.intake");
  }
  names.clear();
  for (const TargetConfig& t : c.targets) {
    if (t.name.empty() || !names.insert(t.name).second) Broken(kTarget, "target name empty or used twice");
    if (t.kind != "postgres" && t.kind != "http") Broken(kTarget, "unknown target kind");
    if (TargetKindName(t.target_kind()) != t.kind) Broken(kTarget, "settings of another kind than " + t.kind);
    if (const PostgresTargetSettings* pg = t.postgres()) {
      CheckDsn(pg->dsn, "target");
      if (pg->batch_rows < 1 || pg->batch_rows > 100000000) Broken(kTarget, "batch_rows out of range");
    }
  }
  for (const RouteConfig& r : c.routes) {
    if (c.FindSource(r.from_source) == nullptr) Broken(kTarget, "route from an unknown source");
    const TargetConfig* t = c.FindTarget(r.to_target);
    if (t == nullptr) Broken(kTarget, "route to an unknown target");
    if (r.to_table.empty() || (t->kind != "http" && r.to_schema.empty())) Broken(kTarget, "route without a target table");
  }
}

void Conninfo(const std::string& text) {
  auto params = ConnParams::Parse(text);
  if (!params.ok()) {
    if (params.status().code() != StatusCode::kInvalidArgument) Broken(kTarget, "conninfo error code");
    return;
  }
  CheckDsn(*params, "fuzzed");
  const std::string password = params->Get("password");
  if (password.empty() || password.find('*') != std::string::npos) return;
  const std::string redacted = params->Redact("connection to " + text + " failed: " + password);
  if (redacted.find(password) != std::string::npos) Broken(kTarget, "redacted text still holds the password");
}

}  // namespace

int ConfigFuzzOne(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    SetLogLevel(LogLevel::kError);  // ParseConfig warns about unsigned webhooks
    return true;
  }();
  (void)quiet;
  const std::string text(reinterpret_cast<const char*>(data), size);
  Result<Config> cfg = ParseConfig(text, kFile);
  if (cfg.ok()) {
    CheckConfig(*cfg);
  } else {
    if (cfg.status().code() != StatusCode::kInvalidArgument) Broken(kTarget, "config error code: " + cfg.status().ToString());
    if (cfg.status().message().rfind(kFile, 0) != 0) Broken(kTarget, "config error does not start with the file name");
  }
  if (size <= 4096) Conninfo(text);
  return 0;
}

}  // namespace handoff::fuzz
