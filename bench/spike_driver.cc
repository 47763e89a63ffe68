// Month-end spike driver: a backlog of time-entry rows (12 columns, mixed
// types) is written to a PSA database while both consumers are paused, then
// caught up first by PostgreSQL's own logical replication (publication +
// subscription) and then by handoff (capture -> durable LMDB journal ->
// apply), one after the other on the same server so they do not share the
// two cores. Reports rows/s of each, their ratio, handoff's peak resident
// memory and journal bytes per change, as a table and as JSON.
//
//   spike_driver [--rows N] [--txn-rows N] [--json FILE]
#include <libpq-fe.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>

#include "pg_server.h"
#include "process.h"

using handoff::testing::ChildProcess;
using handoff::testing::PgServer;
using Clock = std::chrono::steady_clock;

namespace {

const char* kTable = R"sql(
CREATE TABLE time_entries (
  id bigint PRIMARY KEY, consultant_id int NOT NULL, project_code text NOT NULL, task_code text,
  work_date date NOT NULL, hours numeric(6,2) NOT NULL, billable boolean NOT NULL, status text NOT NULL,
  notes text, approved_at timestamptz, updated_at timestamptz NOT NULL, rate numeric(10,2));
)sql";

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "spike_driver: %s\n", why.c_str());
  std::exit(1);
}

void Must(const PgServer& pg, const std::string& db, const std::string& sql) {
  auto st = pg.Exec(db, sql);
  if (!st.ok()) Die(db + ": " + st.ToString());
}

long Count(const PgServer& pg, const std::string& db) {
  auto rows = pg.Query(db, "SELECT count(*) FROM time_entries");
  if (!rows.ok() || rows->empty()) return -1;
  return std::atol((*rows)[0][0].c_str());
}

long RssAnonKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("RssAnon:", 0) == 0) return std::atol(line.c_str() + 8);
  return -1;
}

// The pid of the `handoff run` process using `config`, or -1.
pid_t FindEngine(const std::string& config) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    std::ifstream cmd(e.path().string() + "/cmdline");
    std::string s((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    if (s.find(config) != std::string::npos && s.find("run") != std::string::npos &&
        s.find("spike_driver") == std::string::npos)
      return std::atoi(e.path().filename().c_str());
  }
  return -1;
}

// Waits until the target holds `rows` rows; returns seconds taken. While
// waiting, tracks the peak anonymous (heap) memory of process `watch`.
double WaitForRows(const PgServer& pg, const std::string& db, long rows, Clock::time_point start,
                   std::chrono::seconds limit, const std::string& watch_config = "", long* peak_anon_kb = nullptr) {
  pid_t watch = -1;
  while (Count(pg, db) != rows) {
    if (peak_anon_kb != nullptr) {
      if (watch <= 0) watch = FindEngine(watch_config);
      if (watch > 0) *peak_anon_kb = std::max(*peak_anon_kb, RssAnonKb(watch));
    }
    if (Clock::now() - start > limit) Die(db + " did not catch up within " + std::to_string(limit.count()) + " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return std::chrono::duration<double>(Clock::now() - start).count();
}

long PeakRssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  return -1;
}

// User + system CPU seconds a process has used (from /proc/PID/stat).
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string f;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i == 14) utime = std::atoll(f.c_str());
    if (i == 15) stime = std::atoll(f.c_str());
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec))
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  long rows = 1000000, txn_rows = 10000;
  std::string json_path = "spike_result.json";
  std::vector<std::string> wrapper;  // e.g. valgrind --tool=callgrind, for profiling the measured run
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rows")) rows = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--txn-rows")) txn_rows = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--json")) json_path = argv[i + 1];
    else if (!std::strcmp(argv[i], "--wrap")) {
      std::istringstream words(argv[i + 1]);
      for (std::string w; words >> w;) wrapper.push_back(w);
    }
    else Die(std::string("unknown option ") + argv[i]);
  }
  auto pg = PgServer::Start();
  std::fprintf(stderr, "spike_driver: PostgreSQL on port %d, %ld rows in transactions of %ld\n", pg->port(), rows,
               txn_rows);
  for (const char* db : {"psa", "erp_native", "erp_handoff"}) {
    if (!pg->CreateDatabase(db).ok()) Die(std::string("cannot create ") + db);
    Must(*pg, db, kTable);
  }
  // Native logical replication, paused.
  Must(*pg, "psa", "CREATE PUBLICATION native_pub FOR TABLE time_entries");
  Must(*pg, "psa", "SELECT pg_create_logical_replication_slot('native_slot', 'pgoutput')");
  Must(*pg, "erp_native",
       "CREATE SUBSCRIPTION native_sub CONNECTION '" + pg->Dsn("psa") +
           "' PUBLICATION native_pub WITH (create_slot = false, slot_name = 'native_slot', copy_data = false, "
           "enabled = false)");

  // handoff: first start creates its slot and publication, then it stops.
  std::string work = pg->dir() + "/handoff";
  std::filesystem::create_directories(work);
  std::string config = work + "/handoff.yaml";
  std::ofstream(config) << "journal: { path: " << work << "/journal }\n"
                        << "sources:\n  - { name: psa, kind: postgres, dsn: \"" << pg->Dsn("psa")
                        << "\", tables: [public.time_entries] }\n"
                        << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << pg->Dsn("erp_handoff") << "\" }\n"
                        << "routes:\n  - { from: psa.public.time_entries, to: erp.public.time_entries }\n";
  std::string bin = handoff::testing::HandoffBinary();
  {
    ChildProcess engine;
    engine.Start({bin, "run", "--config", config}, work + "/engine.log");
    auto start = Clock::now();
    while (true) {
      auto r = pg->Query("psa", "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'handoff_psa' AND active");
      if (r.ok() && (*r)[0][0] == "1") break;
      if (Clock::now() - start > std::chrono::seconds(60)) Die("handoff did not create its slot");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    if (engine.Stop(SIGTERM) != 0) Die("handoff did not stop cleanly");
  }

  // The backlog.
  auto gen_start = Clock::now();
  for (long first = 1; first <= rows; first += txn_rows) {
    long last = std::min(rows, first + txn_rows - 1);
    Must(*pg, "psa",
         "INSERT INTO time_entries SELECT g, 1 + g % 60, 'PRJ-' || (1000 + g % 250), 'T' || (g % 8), "
         "date '2026-11-01' + (g % 30)::int, ((1 + g % 32) * 0.25)::numeric(6,2), g % 5 <> 0, 'approved', "
         "CASE WHEN g % 4 = 0 THEN NULL ELSE 'Month-end work item ' || g END, "
         "timestamptz '2026-11-30 17:00+00' + (g % 3600) * interval '1 second', now(), 95 + (g % 9) * 12.5 "
         "FROM generate_series(" + std::to_string(first) + ", " + std::to_string(last) + ") g");
  }
  double gen_s = std::chrono::duration<double>(Clock::now() - gen_start).count();
  std::fprintf(stderr, "spike_driver: backlog written in %.1f s\n", gen_s);

  // Native catch-up.
  auto native_start = Clock::now();
  Must(*pg, "erp_native", "ALTER SUBSCRIPTION native_sub ENABLE");
  double native_s = WaitForRows(*pg, "erp_native", rows, native_start, std::chrono::seconds(1800));
  Must(*pg, "erp_native", "ALTER SUBSCRIPTION native_sub DISABLE");
  std::fprintf(stderr, "spike_driver: native caught up in %.2f s\n", native_s);

  // handoff catch-up.
  ChildProcess engine;
  auto handoff_start = Clock::now();
  std::vector<std::string> run_argv = wrapper;
  for (const char* a : {"run", "--config"}) run_argv.push_back(a);
  run_argv.insert(run_argv.begin() + static_cast<long>(wrapper.size()), bin);
  run_argv.push_back(config);
  engine.Start(run_argv, work + "/engine.log");
  long peak_anon_kb = -1;
  double handoff_s =
      WaitForRows(*pg, "erp_handoff", rows, handoff_start, std::chrono::seconds(3600), config, &peak_anon_kb);
  long rss_kb = -1;
  double cpu_s = -1;
  if (pid_t pid = FindEngine(config); pid > 0) {
    rss_kb = PeakRssKb(pid);
    cpu_s = CpuSeconds(pid);
  }
  if (engine.Stop(SIGTERM) != 0) Die("handoff did not stop cleanly");
  std::fprintf(stderr, "spike_driver: handoff caught up in %.2f s\n", handoff_s);

  // Stage figures: when the last change was journaled (capture + journal
  // alone), and a replay of the journal into an emptied target (apply alone).
  double capture_s = -1;
  {
    std::string out;
    handoff::testing::RunCommand({bin, "status", "--config", config, "--json"}, &out);
    auto p = out.find("\"last_seq\":");
    long last_seq = p == std::string::npos ? 0 : std::atol(out.c_str() + p + 11);
    handoff::testing::RunCommand(
        {bin, "journal", "dump", "--config", config, "--from-seq", std::to_string(last_seq), "--limit", "1"}, &out);
    auto q = out.find("\"journaled_at_us\":");
    long long at_us = q == std::string::npos ? 0 : std::atoll(out.c_str() + q + 18);
    auto start_us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::system_clock::now().time_since_epoch() - (Clock::now() - handoff_start))
                        .count();
    if (at_us > 0) capture_s = (at_us - start_us) / 1e6;
  }
  Must(*pg, "erp_handoff", "TRUNCATE time_entries");
  auto replay_start = Clock::now();
  std::string replay_out, replay_err;
  if (handoff::testing::RunCommand({bin, "replay", "--config", config, "--target", "erp", "--from-seq", "1"},
                                   &replay_out, &replay_err) != 0)
    Die("replay failed: " + replay_err);
  double replay_s = std::chrono::duration<double>(Clock::now() - replay_start).count();
  if (Count(*pg, "erp_handoff") != rows) Die("replay did not rebuild the target");

  // Both targets must equal the source: a fast wrong answer is a failure.
  const char* checksum = "SELECT md5(string_agg(x::text, ',' ORDER BY id)) FROM time_entries x";
  auto src = pg->Query("psa", checksum), a = pg->Query("erp_native", checksum), b = pg->Query("erp_handoff", checksum);
  if (!src.ok() || !a.ok() || !b.ok() || (*src)[0][0] != (*a)[0][0] || (*src)[0][0] != (*b)[0][0])
    Die("target contents differ from the source");

  uint64_t journal_bytes = DirBytes(work + "/journal");
  double native_rps = rows / native_s, handoff_rps = rows / handoff_s;
  std::printf("| metric | value |\n|---|---|\n");
  std::printf("| rows in backlog | %ld (transactions of %ld) |\n", rows, txn_rows);
  std::printf("| native logical replication | %.2f s, %.0f rows/s |\n", native_s, native_rps);
  std::printf("| handoff (durable journal) | %.2f s, %.0f rows/s |\n", handoff_s, handoff_rps);
  std::printf("| handoff / native | %.2fx |\n", handoff_rps / native_rps);
  std::printf("| stage: capture + journal (last change journaled) | %.2f s, %.0f rows/s |\n", capture_s,
              rows / capture_s);
  std::printf("| stage: apply alone (`handoff replay` into an emptied target) | %.2f s, %.0f rows/s |\n", replay_s,
              rows / replay_s);
  std::printf("| handoff process CPU | %.2f s (%.1f us per row) |\n", cpu_s, cpu_s * 1e6 / rows);
  std::printf("| handoff peak RSS | %.1f MiB (of which heap, sampled: %.1f MiB; the rest is the journal's mapped file) |\n",
              rss_kb / 1024.0, peak_anon_kb / 1024.0);
  std::printf("| journal bytes per change | %.0f (LMDB file size / rows) |\n",
              static_cast<double>(journal_bytes) / rows);
  std::ofstream(json_path) << "{\"rows\":" << rows << ",\"txn_rows\":" << txn_rows << ",\"native_seconds\":" << native_s
                           << ",\"native_rows_per_s\":" << native_rps << ",\"handoff_seconds\":" << handoff_s
                           << ",\"handoff_rows_per_s\":" << handoff_rps << ",\"ratio\":" << handoff_rps / native_rps
                           << ",\"capture_seconds\":" << capture_s << ",\"replay_seconds\":" << replay_s
                           << ",\"handoff_peak_rss_kb\":" << rss_kb << ",\"handoff_peak_anon_kb\":" << peak_anon_kb
                           << ",\"handoff_cpu_seconds\":" << cpu_s << ",\"journal_bytes\":" << journal_bytes << "}\n";
  return 0;
}
