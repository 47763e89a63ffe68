#include "snapshot_workload.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace handoff::bench {
namespace {

constexpr int64_t kSeedBatch = 200000;
// Updates touch ids among the most recently inserted ones.
constexpr int64_t kUpdateWindow = 20000;

const char* const kSnapshotColumns =
    "id, consultant_id, project_id, hours, description, work_date, logged_at, billable";
const char* const kStreamColumns = "id, account_id, amount, note, revision, entered_at";

}  // namespace

std::string SnapshotTableSql() {
  return "CREATE TABLE time_entries (\n"
         "  id bigint PRIMARY KEY, consultant_id int NOT NULL, project_id int NOT NULL,\n"
         "  hours numeric(10,2) NOT NULL, description text, work_date date NOT NULL,\n"
         "  logged_at timestamptz NOT NULL, billable boolean NOT NULL);\n";
}

void SeedSnapshotTable(PgSession& db, int64_t rows) {
  for (int64_t first = 1; first <= rows; first += kSeedBatch) {
    const int64_t last = std::min(rows, first + kSeedBatch - 1);
    db.Exec(fmt::format(
        "INSERT INTO time_entries ({}) SELECT g, 1 + g % 400, 1 + g % 1500, ((1 + g % 40) * 0.25)::numeric(10,2), "
        "CASE WHEN g % 7 = 0 THEN NULL ELSE 'Worked on item ' || g || ' for project ' || (1 + g % 1500) END, "
        "date '2026-01-01' + (g % 365)::int, timestamptz '2026-01-01 08:00+00' + g * interval '17 seconds', "
        "g % 5 <> 0 FROM generate_series({}, {}) g",
        kSnapshotColumns, first, last));
  }
  db.Exec("VACUUM (FREEZE, ANALYZE) time_entries");
}

std::string StreamTableSql(bool target) {
  std::string sql =
      "CREATE TABLE stream_events (\n"
      "  id bigint PRIMARY KEY, account_id int NOT NULL, amount numeric(10,2) NOT NULL, note text,\n"
      "  revision int NOT NULL, entered_at timestamptz NOT NULL";
  if (!target) return sql + ");\n";
  return sql +
         ",\n  applied_at timestamptz);\n"
         "CREATE FUNCTION stamp_applied() RETURNS trigger LANGUAGE plpgsql AS\n"
         "  $$BEGIN NEW.applied_at := clock_timestamp(); RETURN NEW; END$$;\n"
         "CREATE TRIGGER stamp_applied BEFORE INSERT OR UPDATE ON stream_events\n"
         "  FOR EACH ROW EXECUTE FUNCTION stamp_applied();\n";
}

std::string ChecksumSql(const std::string& table) {
  const char* cols = table == "time_entries" ? kSnapshotColumns : kStreamColumns;
  return fmt::format("SELECT md5(string_agg(row({})::text, ',' ORDER BY id)) FROM {}", cols, table);
}

StreamProducer::StreamProducer(std::string dsn, double rows_per_s, int tick_ms, int update_percent)
    : dsn_(std::move(dsn)), rate_(rows_per_s), tick_ms_(tick_ms), update_percent_(update_percent) {}

StreamProducer::~StreamProducer() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

void StreamProducer::Start() {
  thread_ = std::thread([this] { Run(); });
}

StreamStats StreamProducer::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (failed_.load()) throw SpikeError("stream producer: " + error_);
  return stats_;
}

std::string StreamProducer::error() const { return failed_.load() ? error_ : std::string(); }

void StreamProducer::Run() {
  using Clock = std::chrono::steady_clock;
  try {
    PgSession db(dsn_);
    db.Exec("SET synchronous_commit = on");
    std::mt19937_64 rng(42);
    const auto start = Clock::now();
    const auto tick = std::chrono::milliseconds(tick_ms_);
    const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(rate_ * tick_ms_ / 1000.0 * 4));
    int64_t next_id = 1, written = 0;
    for (auto at = start; !stop_.load(); at += tick) {
      std::this_thread::sleep_until(at);
      const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
      const int64_t owed = std::min(static_cast<int64_t>(rate_ * elapsed) - written, cap);
      if (owed <= 0) continue;
      // Updates need rows to update: none until some are there.
      int64_t updates = next_id > 1 ? owed * update_percent_ / 100 : 0;
      const int64_t inserts = owed - updates;
      std::string sql = "BEGIN;";
      if (inserts > 0)
        sql += fmt::format(
            "INSERT INTO stream_events (id, account_id, amount, note, revision, entered_at) SELECT g, g % 997, "
            "(g % 100000) / 100.0, 'event ' || g, 1, clock_timestamp() FROM generate_series({}, {}) g;",
            next_id, next_id + inserts - 1);
      if (updates > 0) {
        const int64_t low = std::max<int64_t>(1, next_id - kUpdateWindow);
        std::uniform_int_distribution<int64_t> pick(low, next_id - 1);
        std::string ids;
        for (int64_t i = 0; i < updates; ++i) ids += (ids.empty() ? "" : ",") + std::to_string(pick(rng));
        sql +=
            "UPDATE stream_events SET amount = amount + 1, revision = revision + 1, entered_at = clock_timestamp() "
            "WHERE id IN (" +
            ids + ");";
      }
      db.Exec(sql + "COMMIT");
      next_id += inserts;
      written += owed;
      stats_.inserts += inserts;
      stats_.updates += updates;
      ++stats_.txns;
      changes_.store(written, std::memory_order_relaxed);
    }
    stats_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    stats_.last_id = next_id - 1;
  } catch (const SpikeError& e) {
    error_ = e.what();
    failed_.store(true);
  }
}

LatencyFigures StreamLatency(PgSession& target, int64_t from_us, int64_t to_us) {
  auto rows = target.Rows(fmt::format(
      "SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY ms), percentile_disc(0.99) WITHIN GROUP "
      "(ORDER BY ms), max(ms) FROM (SELECT extract(epoch FROM applied_at - entered_at) * 1000 AS ms "
      "FROM stream_events WHERE entered_at >= to_timestamp({} / 1e6) AND entered_at < to_timestamp({} / 1e6)) x",
      from_us, to_us));
  LatencyFigures f;
  if (rows.empty()) return f;
  f.changes = std::atoll(rows[0][0].c_str());
  f.p50_ms = std::atof(rows[0][1].c_str());
  f.p99_ms = std::atof(rows[0][2].c_str());
  f.max_ms = std::atof(rows[0][3].c_str());
  return f;
}

}  // namespace handoff::bench
