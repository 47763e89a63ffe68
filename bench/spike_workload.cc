#include "spike_workload.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

namespace handoff::bench {
namespace {

[[noreturn]] void Fail(const std::string& why) { throw SpikeError(why); }

// The row written for id `g` (a SQL expression over g): a spread of
// consultants, projects, dates, hours, rates and optional notes.
const char* kRowSelect =
    "g, 1 + g % 60, 'PRJ-' || (1000 + g % 250), 'T' || (g % 8), date '2026-11-01' + (g % 30)::int, "
    "((1 + g % 32) * 0.25)::numeric(6,2), g % 5 <> 0, 'approved', "
    "CASE WHEN g % 4 = 0 THEN NULL ELSE 'Month-end work item ' || g END, "
    "timestamptz '2026-11-30 17:00+00' + (g % 3600) * interval '1 second', now(), 95 + (g % 9) * 12.5";

const char* kInsertColumns =
    "id, consultant_id, project_code, task_code, work_date, hours, billable, status, notes, approved_at, "
    "updated_at, rate";

std::string InsertSql(int64_t first, int64_t last) {
  return "INSERT INTO time_entries (" + std::string(kInsertColumns) + ") SELECT " + kRowSelect +
         " FROM generate_series(" + std::to_string(first) + ", " + std::to_string(last) + ") g";
}

// Sizes of the small transactions, cycled: mostly a few rows, some dozens.
constexpr int64_t kSmallSizes[] = {1, 7, 25, 3, 60, 12, 100, 40, 2, 80};
constexpr int64_t kUpdateSizes[] = {1000, 10, 100, 1, 2500, 40};
constexpr int64_t kDeleteSizes[] = {100, 1, 500, 10, 250};

// Splits `total` into transactions of the cycled `sizes`.
template <size_t N>
std::vector<int64_t> Split(int64_t total, const int64_t (&sizes)[N]) {
  std::vector<int64_t> out;
  for (size_t i = 0; total > 0; ++i) {
    int64_t n = std::min(total, sizes[i % N]);
    out.push_back(n);
    total -= n;
  }
  return out;
}

}  // namespace

const char* const kSpikeColumns =
    "id, consultant_id, project_code, task_code, work_date, hours, billable, status, notes, approved_at, "
    "updated_at, rate, entered_at";

std::string SpikeTableSql(bool target) {
  return std::string(
             "CREATE TABLE time_entries (\n"
             "  id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text NOT NULL, task_code text,\n"
             "  work_date date NOT NULL, hours numeric(6,2) NOT NULL, billable boolean NOT NULL, status text NOT "
             "NULL,\n"
             "  notes text, approved_at timestamptz, updated_at timestamptz NOT NULL, rate numeric(10,2),\n"
             "  entered_at timestamptz NOT NULL DEFAULT clock_timestamp()") +
         (target ? ",\n  applied_at timestamptz DEFAULT clock_timestamp()" : "") + ");\n";
}

std::string SpikeChecksumSql() {
  return std::string("SELECT md5(string_agg(row(") + kSpikeColumns + ")::text, ',' ORDER BY id)) FROM time_entries";
}

PgSession::PgSession(const std::string& dsn) : dsn_(dsn) {
  auto params = ConnParams::Parse(dsn);
  if (!params.ok()) Fail("cannot connect to " + dsn + ": " + params.status().message());
  auto conn = PgConnection::Open(*params);
  if (!conn.ok()) Fail("cannot connect to " + dsn + ": " + conn.status().message());
  conn_ = std::move(conn).value();
}

void PgSession::Exec(const std::string& sql) {
  auto r = conn_.Fetch(sql);
  if (!r.ok()) Fail(dsn_ + ": " + r.status().message() + " in: " + sql.substr(0, 200));
}

std::vector<std::vector<std::string>> PgSession::Rows(const std::string& sql) {
  auto r = conn_.Fetch(sql);
  if (!r.ok()) Fail(dsn_ + ": " + r.status().message() + " in: " + sql);
  if (r->columns() == 0) Fail(dsn_ + ": returned no rows: " + sql);
  std::vector<std::vector<std::string>> rows(static_cast<size_t>(r->rows()));
  for (int i = 0; i < r->rows(); ++i)
    for (int c = 0; c < r->columns(); ++c) rows[static_cast<size_t>(i)].emplace_back(r->value(i, c));
  return rows;
}

std::string PgSession::Scalar(const std::string& sql) {
  auto rows = Rows(sql);
  return rows.empty() || rows[0].empty() ? std::string() : rows[0][0];
}

int64_t SpikePlan::Count(SpikeTxn::Kind kind) const {
  return std::count_if(txns.begin(), txns.end(), [kind](const SpikeTxn& t) { return t.kind == kind; });
}

// Inserts: a fifth of the rows in one transaction (200,000 of a million), half
// in medium transactions of rows/200 (5,000), the rest in small ones of 1 to
// 100 rows, interleaved; the big one lands halfway. Then corrections (updates)
// and deletions of earlier rows alternate, in transactions of 1 to 2,500
// rows. The very last transaction inserts the last id alone: a consumer has
// caught up once that row is in its target.
SpikePlan MakeSpikePlan(int64_t inserts, int64_t updates, int64_t deletes) {
  SpikePlan plan;
  plan.inserts = inserts;
  plan.updates = updates;
  plan.deletes = deletes;
  const int64_t body = inserts - 1;  // the last id is the sentinel
  const int64_t big = inserts / 5, medium_size = std::max<int64_t>(1, inserts / 200);
  const int64_t medium_total = (inserts / 2) / medium_size * medium_size;
  std::vector<int64_t> small = Split(body - big - medium_total, kSmallSizes);
  const int64_t n_medium = medium_total / medium_size;
  const size_t small_per_medium = n_medium > 0 ? std::max<size_t>(1, small.size() / static_cast<size_t>(n_medium)) : 0;

  int64_t next_id = 1, medium_left = n_medium;
  bool big_done = big == 0;
  auto add_insert = [&](int64_t n) {
    plan.txns.push_back({SpikeTxn::Kind::kInsert, next_id, n});
    plan.largest_txn = std::max(plan.largest_txn, n);
    next_id += n;
  };
  for (size_t i = 0; i < small.size(); ++i) {
    add_insert(small[i]);
    if (small_per_medium > 0 && (i + 1) % small_per_medium == 0 && medium_left > 0) {
      add_insert(medium_size);
      --medium_left;
    }
    if (!big_done && next_id > body / 2) {
      add_insert(big);
      big_done = true;
    }
  }
  for (; medium_left > 0; --medium_left) add_insert(medium_size);
  if (!big_done) add_insert(big);

  // Updates touch ids 1 + i * stride, deletes 2 + i * stride: distinct rows
  // below the sentinel, spread over the whole table.
  plan.update_stride = updates > 0 ? std::max<int64_t>(1, (body - 1) / updates) : 1;
  plan.delete_stride = deletes > 0 ? std::max<int64_t>(2, (body - 2) / deletes) : 2;
  std::vector<int64_t> up = Split(updates, kUpdateSizes), del = Split(deletes, kDeleteSizes);
  int64_t up_at = 0, del_at = 0;
  for (size_t i = 0; i < std::max(up.size(), del.size()); ++i) {
    if (i < up.size()) {
      plan.txns.push_back({SpikeTxn::Kind::kUpdate, up_at, up[i]});
      up_at += up[i];
    }
    if (i < del.size()) {
      plan.txns.push_back({SpikeTxn::Kind::kDelete, del_at, del[i]});
      del_at += del[i];
    }
  }
  plan.txns.push_back({SpikeTxn::Kind::kInsert, inserts, 1});
  return plan;
}

void WriteSpike(PgSession& db, const SpikePlan& plan) {
  for (const SpikeTxn& t : plan.txns) {
    const std::string range = "generate_series(" + std::to_string(t.first) + ", " + std::to_string(t.first + t.count - 1) + ") i";
    switch (t.kind) {
      case SpikeTxn::Kind::kInsert:
        db.Exec(InsertSql(t.first, t.first + t.count - 1));
        break;
      case SpikeTxn::Kind::kUpdate:
        db.Exec("UPDATE time_entries SET hours = hours + 0.25, notes = 'Corrected at month end', "
                "updated_at = clock_timestamp() FROM " + range + " WHERE id = 1 + i * " +
                std::to_string(plan.update_stride));
        break;
      case SpikeTxn::Kind::kDelete:
        db.Exec("DELETE FROM time_entries USING " + range + " WHERE id = 2 + i * " +
                std::to_string(plan.delete_stride));
        break;
    }
  }
}

// Each tick inserts what the schedule owes so far (capped at four ticks'
// worth), so a late tick is made up without bursts that would distort the
// latency; what the machine cannot sustain shows as a lower achieved rate.
ProducerResult RunSteadyProducer(PgSession& db, int64_t first_id, double rows_per_s, double seconds, int tick_ms) {
  using Clock = std::chrono::steady_clock;
  ProducerResult r;
  // The throwaway server runs with synchronous_commit off, where WAL reaches
  // the walsenders only at the WAL writer's next round (wal_writer_delay,
  // 200 ms): that would be measured as capture latency. A PSA database
  // commits synchronously, and so does the producer.
  db.Exec("SET synchronous_commit = on");
  const auto start = Clock::now();
  const auto tick = std::chrono::milliseconds(tick_ms);
  const int64_t cap = std::max<int64_t>(1, static_cast<int64_t>(rows_per_s * tick_ms / 1000.0 * 4));
  int64_t next_id = first_id;
  const auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (auto at = start; at < end; at += tick) {
    std::this_thread::sleep_until(at);
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    int64_t owed = static_cast<int64_t>(rows_per_s * std::min(elapsed, seconds)) - r.rows;
    owed = std::min(owed, cap);
    if (owed <= 0) continue;
    db.Exec(InsertSql(next_id, next_id + owed - 1));
    next_id += owed;
    r.rows += owed;
    ++r.txns;
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.last_id = next_id - 1;
  return r;
}

}  // namespace handoff::bench
