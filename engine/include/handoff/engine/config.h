// handoff.yaml: the configuration of one engine.
//
// Thread-safety: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "handoff/engine/change_event.h"
#include "handoff/engine/conn_params.h"
#include "handoff/engine/status.h"

namespace handoff {

// Limits of an embedded HTTP server (a webhook source, the admin endpoints).
// A request head (request line and headers) is read whole by one gate thread
// before any worker sees it; see handoff/capture/guarded_http_server.h.
struct HttpServerLimits {
  uint64_t max_header_bytes = 16u << 10;      // request line + headers; more gets 431
  uint64_t max_headers = 100;                 // header lines; more gets 431
  int64_t head_timeout_us = 10ll * 1000000;   // head (and a small body) complete, or 408; also keep-alive idle
  int64_t request_timeout_us = 30ll * 1000000;      // whole request incl. body and reply, then cut
  int64_t connection_timeout_us = 300ll * 1000000;  // no new request on a connection older than this
  uint64_t max_connections = 256;             // open connections; more get 503
  uint64_t threads = 16;                      // workers serving complete requests
};

// The settings of each source kind. A source holds the common fields and the
// settings of its kind (SourceConfig::settings); a key of another kind in its
// `sources:` entry is a configuration error naming the kind it belongs to.

// `kind: postgres`: logical replication from a PostgreSQL database.
struct PostgresSourceSettings {
  static constexpr SourceKind kKind = SourceKind::kPostgres;
  // `${NAME}` is substituted inside one value only: the configured text
  // (keywords or a URI) is split into keyword/value pairs first, and the pairs
  // go to libpq as they are (see conn_params.h), so an environment value
  // cannot add keywords. `password_file:` adds the password from a file.
  ConnParams dsn;
  // Per-table key columns (a `{table: s.t, key: [...]}` entry of `tables`), for a table
  // whose REPLICA IDENTITY FULL sends whole rows; "schema.table" -> column names.
  std::vector<std::pair<std::string, std::vector<std::string>>> table_keys;
  // How a partitioned table is captured. "root": published through its root, its
  // changes carry the configured name. "each": every leaf partition is its own table.
  std::string partitions = "root";
  std::string slot;         // default: handoff_<name>
  std::string publication;  // default: handoff_<name>
  bool snapshot = true;     // copy existing rows on first start
  // Rows per chunk when a table's rows are read while streaming (a table added
  // to `tables`, `handoff snapshot`); one chunk is held in memory.
  uint64_t chunk_rows = 1024;
  // At most this many rows per second for those chunked reads (0: unpaced), so
  // a backfill leaves the applier room for the stream. The initial snapshot
  // (COPY, before streaming) is not paced.
  uint64_t snapshot_rate = 0;
  // Transactions whose replication origin starts with one of these are not
  // captured (the writes of handoff engines: echo suppression).
  // `engine.origin` of this configuration is always added.
  std::vector<std::string> skip_origins = {"handoff"};
  // Large transactions streamed while they run (pgoutput protocol 2,
  // `streaming 'on'`, PostgreSQL 14 and later; older servers get protocol 1):
  // staged in the journal, visible at their commit (docs/streaming.md).
  bool streaming = true;
};

// `kind: debezium`: Debezium JSON from exactly one of a file or a PULL socket.
struct DebeziumSourceSettings {
  static constexpr SourceKind kKind = SourceKind::kDebezium;
  std::string file;  // NDJSON file, followed like `tail -f`
  std::string pull;  // ZeroMQ PULL endpoint to bind
};

// `kind: webhook`: an embedded HTTP server taking signed deliveries.
struct WebhookSourceSettings {
  static constexpr SourceKind kKind = SourceKind::kWebhook;
  std::string listen;                 // host:port
  std::string path = "/";             // request path deliveries are POSTed to
  std::string format;                 // debezium | salesforce | toggl
  std::string signature;              // standard | stripe | hmac-sha256 | none
  std::string signature_header;       // hmac-sha256: header carrying the hex digest
  std::vector<std::string> secrets;   // active secrets (several during rotation)
  bool allow_unsigned = false;        // signature none on a non-loopback listen address
  int64_t tolerance_us = 300000000;   // standard/stripe: max age of a signed timestamp
  uint64_t max_body = 1u << 20;       // bytes; larger bodies get 413
  HttpServerLimits http;              // connection and request-head limits
};

using SourceSettings = std::variant<PostgresSourceSettings, DebeziumSourceSettings, WebhookSourceSettings>;

struct SourceConfig {
  std::string name;
  std::string kind;  // as configured: "postgres", "debezium" or "webhook" (settings holds that kind's)
  std::vector<std::string> tables;  // "schema.table"; for debezium and webhook optional (empty = every table)
  bool external = false;  // runs as a separate `handoff agent` process, not as a thread of `handoff run`
  SourceSettings settings;

  SourceKind source_kind() const;
  // The settings of the source's kind, or nullptr when it is of another kind.
  const PostgresSourceSettings* postgres() const { return std::get_if<PostgresSourceSettings>(&settings); }
  const DebeziumSourceSettings* debezium() const { return std::get_if<DebeziumSourceSettings>(&settings); }
  const WebhookSourceSettings* webhook() const { return std::get_if<WebhookSourceSettings>(&settings); }
  PostgresSourceSettings* postgres() { return std::get_if<PostgresSourceSettings>(&settings); }
  DebeziumSourceSettings* debezium() { return std::get_if<DebeziumSourceSettings>(&settings); }
  WebhookSourceSettings* webhook() { return std::get_if<WebhookSourceSettings>(&settings); }
};

// A source of one kind as that kind's capture agent takes it: the common
// fields with the kind's settings beside them (`source.dsn`, `source.listen`).
template <typename Settings>
struct SourceOfKind : Settings {
  std::string name;
  std::string kind = SourceKindName(Settings::kKind);
  std::vector<std::string> tables;
  bool external = false;

  SourceOfKind() = default;
  // The common fields of `s` and its settings; REQUIRES: `s` is of this kind
  // (otherwise the settings are the defaults).
  explicit SourceOfKind(const SourceConfig& s)
      : Settings(std::holds_alternative<Settings>(s.settings) ? std::get<Settings>(s.settings) : Settings()),
        name(s.name),
        kind(s.kind),
        tables(s.tables),
        external(s.external) {}
};
using PostgresSourceConfig = SourceOfKind<PostgresSourceSettings>;
using DebeziumSourceConfig = SourceOfKind<DebeziumSourceSettings>;
using WebhookSourceConfig = SourceOfKind<WebhookSourceSettings>;

// The configured key of `table` ("schema.table") of `source`, or nullptr.
const std::vector<std::string>* ConfiguredKey(const PostgresSourceSettings& source, const std::string& table);

enum class TargetKind : uint8_t { kPostgres = 1, kHttp = 2 };
const char* TargetKindName(TargetKind kind);

// `kind: postgres`: a PostgreSQL database written with set-based statements.
struct PostgresTargetSettings {
  static constexpr TargetKind kKind = TargetKind::kPostgres;
  ConnParams dsn;             // built like PostgresSourceSettings::dsn
  size_t batch_rows = 20000;  // rows per target transaction (whole source transactions)
};

// `kind: http`: a REST endpoint taking one request per change.
struct HttpTargetSettings {
  static constexpr TargetKind kKind = TargetKind::kHttp;
  std::string url;                                           // base URL; a route adds "/<resource>"
  std::vector<std::pair<std::string, std::string>> headers;  // extra request headers (e.g. Authorization)
  int64_t timeout_us = 10000000;                             // per request
  // Requests in flight at once (1..256). Above 1, changes are spread over that
  // many connections by key: the changes of one row keep their order, rows
  // may reach the API in another order than the journal's.
  uint64_t max_in_flight = 1;
};

using TargetSettings = std::variant<PostgresTargetSettings, HttpTargetSettings>;

struct TargetConfig {
  std::string name;
  std::string kind;  // as configured: "postgres" or "http" (settings holds that kind's)
  TargetSettings settings;

  TargetKind target_kind() const;
  const PostgresTargetSettings* postgres() const { return std::get_if<PostgresTargetSettings>(&settings); }
  const HttpTargetSettings* http() const { return std::get_if<HttpTargetSettings>(&settings); }
  PostgresTargetSettings* postgres() { return std::get_if<PostgresTargetSettings>(&settings); }
  HttpTargetSettings* http() { return std::get_if<HttpTargetSettings>(&settings); }
};

// A target of one kind as that kind's apply worker takes it (see SourceOfKind).
template <typename Settings>
struct TargetOfKind : Settings {
  std::string name;
  std::string kind = TargetKindName(Settings::kKind);

  TargetOfKind() = default;
  // REQUIRES: `t` is of this kind (otherwise the settings are the defaults).
  explicit TargetOfKind(const TargetConfig& t)
      : Settings(std::holds_alternative<Settings>(t.settings) ? std::get<Settings>(t.settings) : Settings()),
        name(t.name),
        kind(t.kind) {}
};
using PostgresTargetConfig = TargetOfKind<PostgresTargetSettings>;
using HttpTargetConfig = TargetOfKind<HttpTargetSettings>;

// For an http target, `to` is target.resource: to_schema is empty and
// to_table holds the resource path segment.
// What a PostgreSQL target does when a source table routed to it gains a
// column the target table lacks (`on_new_column`; see README "Schema changes").
enum class NewColumnPolicy : uint8_t {
  kPark,    // hold the target at the change until the operator acts (the default)
  kAdd,     // ALTER TABLE ... ADD COLUMN with the source's type
  kIgnore,  // apply the rows without the column's values; counted and logged once
};
const char* NewColumnPolicyName(NewColumnPolicy p);

struct RouteConfig {
  std::string from_source, from_schema, from_table;
  std::string to_target, to_schema, to_table;
  NewColumnPolicy on_new_column = NewColumnPolicy::kPark;
};

struct Config {
  std::string file;  // where it was loaded from
  std::string journal_path;
  uint64_t journal_map_size = 1ull << 30;
  uint64_t journal_max_map_size = 64ull << 30;
  int64_t journal_retention_us = 7ll * 24 * 3600 * 1000000;
  std::vector<SourceConfig> sources;
  std::vector<TargetConfig> targets;
  std::vector<RouteConfig> routes;
  std::string admin_listen;     // host:port; empty disables
  HttpServerLimits admin_http{.max_connections = 64, .threads = 4};  // `admin:` limit keys
  std::string intake_endpoint;  // extra tcp:// or ipc:// endpoint for separate agents
  // `engine.intake_max_message`: the largest intake message accepted; a peer
  // sending a bigger one is disconnected before it is read.
  uint64_t intake_max_message_bytes = 64ull << 20;
  // `engine.intake_curve`: the engine's CURVE key (public_key, and the
  // secret_key_file only the engine reads); set, non-inproc intake requires
  // CURVE. `engine.intake_clients`: the client keys and the sources each may
  // speak as. `engine.intake_client_key`: the key `handoff agent` presents.
  struct CurveKeyConfig {
    std::string public_key;
    std::string secret_key_file;
  };
  struct IntakeClientConfig {
    std::string public_key;
    std::vector<std::string> sources;
  };
  CurveKeyConfig intake_curve;
  std::vector<IntakeClientConfig> intake_clients;
  CurveKeyConfig intake_client_key;
  // `engine.origin`: the prefix of the replication origins this engine applies
  // under (one per target: <origin>_<target>). Empty: handoff_<journal id>.
  std::string apply_origin;
  // Replication slot watch (`engine.slot_check_interval`, `engine.slot_wal_warn`):
  // how often the engine reads each PostgreSQL source slot's retained WAL, and
  // the size past which a still growing slot is logged as a warning.
  int64_t slot_check_interval_us = 15ll * 1000000;
  uint64_t slot_wal_warn_bytes = 1ull << 30;
  std::string log_format;  // `log.format`: "text", "json" or empty (environment decides)
  std::string log_level;   // `log.level`: debug | info | warn | error, or empty
  std::string feed_publish;     // ZeroMQ PUB endpoint of the change feed; empty disables
  // Canonical mode (`canonical: { schemas: DIR, ownership: FILE }`): source
  // changes go through the canonical model and the ownership rules; derived
  // changes reach the targets named after the systems. Relative paths are
  // resolved against the config file's directory. Empty = off.
  std::string canonical_schemas;    // schema pack directory (LoadModel)
  std::string canonical_ownership;  // YAML file with an `ownership:` section
  std::string canonical_flows;      // optional YAML file with a `flows:` section
  int64_t canonical_tombstone_days = 30;  // how long deleted entities are remembered
  bool canonical() const { return !canonical_schemas.empty(); }

  // Checks the engine runs on a schedule (`verify:` and `reconcile:`): the
  // same as `handoff verify` and `handoff reconcile`, their results kept in
  // the journal's meta store and exported as metrics.
  struct VerifySchedule {
    std::string source;  // `route`: the PostgreSQL source whose routes are verified
    std::string table;   // "" = all of its routes
    int64_t every_us = 0;
    int64_t first_after_us = -1;  // delay of the first run; -1 = one `every`
    uint64_t rate = 0, chunk_rows = 1000;
    int64_t timeout_us = 120ll * 1000000;
    bool repair = false;
  };
  struct ReconcileSchedule {
    int64_t every_us = 0;
    int64_t first_after_us = -1;
    std::vector<std::string> periods;  // "current", "previous" or YYYY-MM
  };
  std::vector<VerifySchedule> verify_schedule;
  std::optional<ReconcileSchedule> reconcile_schedule;

  const SourceConfig* FindSource(const std::string& name) const;
  const TargetConfig* FindTarget(const std::string& name) const;
};

// Loads and validates a config file. `${NAME}` in values is replaced from the
// environment. On failure the Status names the file, the key path and why;
// every problem found is listed, one per line.
Result<Config> LoadConfig(const std::string& path);
Result<Config> ParseConfig(const std::string& yaml_text, const std::string& file_name);

}  // namespace handoff
