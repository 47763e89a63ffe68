#include "source_writer.h"

#include <random>
#include <string>

namespace handoff::testing {

void SourceWriter::Start() {
  stop_.store(false);
  thread_ = std::thread([this] { Loop(); });
}

void SourceWriter::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool SourceWriter::WaitDone(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done_.load() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return done_.load();
}

void SourceWriter::Loop() {
  long next = 1000;
  long refused = kRefusedIdBase;
  std::mt19937 rng(o_.seed);
  while (!stop_.load()) {
    if (o_.max_rows > 0 && rows_.load() >= o_.max_rows) {
      done_.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    std::string sql = "BEGIN;";
    int n = 1 + static_cast<int>(rng() % o_.max_rows_per_txn);
    sql += "INSERT INTO time_entries (id, consultant_id, hours, notes) SELECT g, g % 17, (g % 9) + 0.25, "
           "'entry ' || g FROM generate_series(" +
           std::to_string(next) + ", " + std::to_string(next + n - 1) + ") g;";
    next += n;
    sql += "UPDATE time_entries SET version = version + 1, hours = coalesce(hours, 0) + 1 WHERE id = " +
           std::to_string(1 + rng() % o_.seed_rows) + ";";
    if (next % 5 == 0) sql += "DELETE FROM time_entries WHERE id = " + std::to_string(next - 3) + ";";
    const int txn = txns_.load() + failures_.load() + 1;
    if (o_.refused_every > 0 && txn % o_.refused_every == 0)
      sql += "INSERT INTO time_entries (id, consultant_id, hours) VALUES (" + std::to_string(refused++) + ", 1, 5000);";
    sql += "COMMIT;";
    if (o_.server->Exec(o_.db, sql).ok()) {
      ++txns_;
      rows_ += n;
    } else {
      ++failures_;  // the outcome may be unknown: the test compares contents, not counts
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (o_.pause.count() > 0) std::this_thread::sleep_for(o_.pause);
  }
}

}  // namespace handoff::testing
