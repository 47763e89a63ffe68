// PostgreSQL connection settings as separate keyword/value pairs.
//
// The configured DSN (keyword=value text, a postgresql:// URI, or a bare
// database name) is split into pairs once, before `${NAME}` substitution, and
// stays split all the way to PQconnectdbParams (with expand_dbname off). No
// value is ever spliced back into a connection string, so a password or an
// environment value is data to libpq, never syntax: it cannot add a keyword.
//
// Thread-safety: plain values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "handoff/engine/status.h"

namespace handoff {

// One keyword=value pair of a libpq connection.
struct ConninfoPair {
  std::string key, value;
};

struct ConnParams {
  std::vector<ConninfoPair> pairs;  // in configured order; a later key overrides an earlier one

  // Splits `text`: keyword=value pairs (bare, or single-quoted with backslash
  // escapes), a postgresql:// or postgres:// URI (percent-decoded), or a bare
  // word, which is a database name as libpq takes it. Errors say where, never
  // echo a value (it may be a secret).
  static Result<ConnParams> Parse(const std::string& text);

  bool empty() const { return pairs.empty(); }
  // The last value of `key`, or "" when unset.
  std::string Get(std::string_view key) const;
  // Replaces every `key` with one pair at the end.
  void Set(const std::string& key, const std::string& value);

  // For logs, errors and status output: keyword=value pairs with the
  // password shown as "***". Never passed to libpq.
  std::string Redacted() const;
  // `text` with every occurrence of the password replaced by "***": for
  // libpq's messages, which may echo parts of the settings.
  std::string Redact(std::string text) const;

  // Null-terminated arrays for PQconnectdbParams(keys, values, 0): `defaults`
  // first, the configured pairs over them, `forced` last (e.g. replication).
  // The pointers refer to the strings of this object and of the arguments:
  // REQUIRES: all three outlive the arrays (no temporaries).
  struct Arrays {
    std::vector<const char*> keys, values;
  };
  Arrays ForLibpq(const std::vector<ConninfoPair>& defaults, const std::vector<ConninfoPair>& forced) const;
};

}  // namespace handoff
