#include <fmt/format.h>

#include <random>

#include "handoff/capture/backfill.h"
#include "handoff/engine/clock.h"
#include "source_connection.h"
#include "source_state.h"
#include "table_snapshot_reader.h"

namespace handoff {

Result<BackfillReceipt> RequestBackfill(const PostgresSourceConfig& source, const BackfillRequest& request) {
  if (source.kind != SourceKindName(SourceKind::kPostgres))  // a view of a source of another kind
    return Status::InvalidArgument("source " + source.name + " is of kind " + source.kind +
                                   ": only postgres sources can read a table again");
  auto name = ParseTableName(request.table);
  if (!name.ok()) return name.status();
  BackfillReceipt receipt;
  receipt.table = name->schema + "." + name->table;
  bool configured = false;
  for (const auto& t : source.tables) {
    auto c = ParseTableName(t);
    configured = configured || (c.ok() && c->schema == name->schema && c->table == name->table);
  }
  if (!configured)
    return Status::InvalidArgument("table " + receipt.table + " is not one of source " + source.name +
                                   "'s tables (add it to `tables` and run `handoff reload`: an added table is read "
                                   "by itself)");
  if (const auto* key = ConfiguredKey(source, receipt.table)) name->key = *key;
  auto conn = OpenSource(source.dsn, /*replication=*/false);
  if (!conn.ok()) return conn.status();
  TableSnapshotReader reader(&*conn);
  auto shape = reader.Describe(*name);
  if (!shape.ok()) return shape.status();
  if (shape->columns.empty()) return Status::NotFound("table " + receipt.table + " does not exist in the source database");
  receipt.key_columns = shape->key_columns;
  for (const auto* range : {&request.from_key, &request.to_key}) {
    if (!range->empty() && range->size() != shape->key_columns.size())
      return Status::InvalidArgument(fmt::format("the key of {} has {} column(s) ({}), the range value {}",
                                                 receipt.table, shape->key_columns.size(),
                                                 fmt::join(shape->key_columns, ", "), range->size()));
  }
  for (const auto& k : request.prune_keys)
    if (k.size() != shape->key_columns.size())
      return Status::InvalidArgument(fmt::format("the key of {} has {} column(s), a key to prune {}", receipt.table,
                                                 shape->key_columns.size(), k.size()));
  BackfillSignal signal;
  signal.prune_keys = request.prune_keys;
  if (!request.prune_keys.empty()) signal.prune_columns = shape->key_columns;
  signal.source = source.name;
  signal.table = receipt.table;
  signal.cancel = request.cancel;
  signal.from_key = request.from_key;
  signal.to_key = request.to_key;
  signal.id = fmt::format("bf-{:x}-{:04x}", NowMicros() / 1000000, std::random_device{}() & 0xffff);
  auto res = conn->Fetch("SELECT pg_logical_emit_message(true, '" + std::string(kSignalPrefix) + "', $1)::text",
                        {signal.Encode()});
  if (!res.ok()) return res.status();
  receipt.id = signal.id;
  receipt.lsn = res->value(0, 0);
  return receipt;
}

}  // namespace handoff
