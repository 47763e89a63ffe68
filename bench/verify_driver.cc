// Verification benchmark: `handoff verify` of a large table while the stream
// runs. On two throwaway PostgreSQL servers (source and target, this
// machine), handoff with a plain route copies a table of --rows time entries
// (the spike's table) and then streams a steady producer's inserts
// (--rate rows/s). Two windows follow, measured the same way in the same run:
//
//   1. baseline: the producer alone for --baseline-seconds;
//   2. verify: the producer while `handoff verify --route psa` compares the
//      whole table with its target.
//
// For each window: the capture-to-apply latency of the producer's rows (p50,
// p99, max: the source row records clock_timestamp() at insert, the target
// row at apply), and the source server's CPU per second (the postmaster and
// every backend, exited ones included). For verify: rows compared per second
// (rows_checked / seconds of its own report), its watermarks, its own CPU, and
// whether it found the tables equal (it must: nothing was changed behind
// handoff's back). Results: a table on stdout and JSON (--json).
//
//   verify_driver [--rows N] [--rate R] [--baseline-seconds S] [--chunk-rows N]
//                 [--verify-rate R] [--tick-ms MS] [--json FILE]
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "pg_server.h"
#include "process.h"
#include "spike_probe.h"
#include "spike_workload.h"

using handoff::testing::ChildProcess;
using handoff::testing::PgServer;
using namespace handoff::bench;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& why) { throw SpikeError(why); }
void Note(const std::string& what) { std::fprintf(stderr, "verify_driver: %s\n", what.c_str()); }
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Options {
  int64_t rows = 1000000;
  double rate = 2000;  // producer rows/s during both windows
  double baseline_s = 15;
  uint64_t chunk_rows = 1000;
  uint64_t verify_rate = 0;
  int tick_ms = 10;
  std::string json_path = "verify_result.json";
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Die("option " + a + " needs a value");
    const char* v = argv[++i];
    if (a == "--rows") o.rows = std::atoll(v);
    else if (a == "--rate") o.rate = std::atof(v);
    else if (a == "--baseline-seconds") o.baseline_s = std::atof(v);
    else if (a == "--chunk-rows") o.chunk_rows = std::strtoull(v, nullptr, 10);
    else if (a == "--verify-rate") o.verify_rate = std::strtoull(v, nullptr, 10);
    else if (a == "--tick-ms") o.tick_ms = std::atoi(v);
    else if (a == "--json") o.json_path = v;
    else Die("unknown option " + a);
  }
  if (o.rows < 1000) Die("--rows must be at least 1000");
  if (o.rate <= 0 || o.baseline_s <= 0) Die("--rate and --baseline-seconds must be positive");
  return o;
}

// CPU seconds of a PostgreSQL server: the postmaster, the backends it has
// reaped (cutime, cstime) and those still running.
double ServerCpuSeconds(const PgServer& server) {
  std::ifstream pidfile(server.dir() + "/data/postmaster.pid");
  long postmaster = 0;
  pidfile >> postmaster;
  if (postmaster <= 0) return -1;
  auto fields = [](long pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::vector<std::string> out;
    auto close = stat.rfind(')');
    if (close == std::string::npos) return out;
    std::istringstream words(stat.substr(close + 2));
    for (std::string w; words >> w;) out.push_back(w);
    return out;  // out[0] is field 3 (state)
  };
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  auto pm = fields(postmaster);
  if (pm.size() < 15) return -1;
  // utime 14, stime 15, cutime 16, cstime 17 (fields from 1).
  double total = (std::atof(pm[11].c_str()) + std::atof(pm[12].c_str()) + std::atof(pm[13].c_str()) +
                  std::atof(pm[14].c_str())) / tick;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto f = fields(std::atol(name.c_str()));
    if (f.size() < 13 || std::atol(f[1].c_str()) != postmaster) continue;  // f[1]: ppid (field 4)
    total += (std::atof(f[11].c_str()) + std::atof(f[12].c_str())) / tick;
  }
  return total;
}

double ChildrenCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_CHILDREN, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Inserts at `rate` in one-second slices until `stop`; ids from `first`.
struct Producer {
  std::atomic<bool> stop{false};
  int64_t next = 0, rows = 0;
  double seconds = 0;
  std::thread thread;
  void Start(PgSession* db, int64_t first, double rate, int tick_ms) {
    next = first;
    thread = std::thread([this, db, rate, tick_ms] {
      auto start = Clock::now();
      while (!stop.load()) {
        ProducerResult p = RunSteadyProducer(*db, next, rate, 1.0, tick_ms);
        next += p.rows;
        rows += p.rows;
      }
      seconds = Since(start);
    });
  }
  void Stop() {
    stop.store(true);
    if (thread.joinable()) thread.join();
  }
  ~Producer() { Stop(); }
};

struct Window {
  std::string name;
  int64_t first_id = 0, last_id = 0;
  double seconds = 0, rows_per_s = 0, source_cpu_s = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
  double source_cpu_per_s() const { return seconds > 0 ? source_cpu_s / seconds : 0; }
};

void Latency(PgSession& target, Window* w) {
  auto rows = target.Rows(fmt::format(
      "SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY ms), percentile_disc(0.99) WITHIN GROUP "
      "(ORDER BY ms), max(ms) FROM (SELECT extract(epoch FROM applied_at - entered_at) * 1000 AS ms "
      "FROM time_entries WHERE id BETWEEN {} AND {}) x",
      w->first_id, w->last_id));
  if (rows.empty() || std::atoll(rows[0][0].c_str()) != w->last_id - w->first_id + 1)
    Die(w->name + ": producer rows missing from the target");
  w->p50_ms = std::atof(rows[0][1].c_str());
  w->p99_ms = std::atof(rows[0][2].c_str());
  w->max_ms = std::atof(rows[0][3].c_str());
}

bool WaitForCount(PgSession& db, const std::string& sql, const std::string& want, double limit_s) {
  auto start = Clock::now();
  while (db.Scalar(sql) != want) {
    if (Since(start) > limit_s) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return true;
}

// A number after "\"key\":" in JSON text (0 when absent).
double JsonNumber(const std::string& json, const std::string& key) {
  auto at = json.find("\"" + key + "\":");
  return at == std::string::npos ? 0 : std::atof(json.c_str() + at + key.size() + 3);
}

int Run(const Options& o) {
  auto source = PgServer::Start();
  auto target = PgServer::Start();
  Note(fmt::format("source on port {}, target on port {}; {} rows", source->port(), target->port(), o.rows));
  if (!source->CreateDatabase("psa").ok() || !target->CreateDatabase("erp").ok()) Die("cannot create databases");
  PgSession psa(source->Dsn("psa")), erp(target->Dsn("erp"));
  psa.Exec(SpikeTableSql(false));
  erp.Exec(SpikeTableSql(true));
  psa.Exec(fmt::format(
      "INSERT INTO time_entries (id, consultant_id, project_code, task_code, work_date, hours, billable, status, "
      "notes, approved_at, updated_at, rate) SELECT g, g % 400, 'PRJ-' || (g % 900), 'T' || (g % 7), "
      "date '2026-10-01' + (g % 31), (g % 16) * 0.5, g % 9 <> 0, 'approved', CASE WHEN g % 5 = 0 THEN 'note ' || g END, "
      "timestamptz '2026-10-31 18:00+00', now(), 150 + g % 80 FROM generate_series(1, {}) g; ANALYZE time_entries",
      o.rows));

  const std::string dir = source->dir() + "/handoff";
  std::filesystem::create_directories(dir);
  const std::string config = dir + "/handoff.yaml";
  {
    std::ofstream cfg(config);
    cfg << "journal: { path: " << dir << "/journal }\n"
        << "sources:\n  - { name: psa, kind: postgres, dsn: \"" << source->Dsn("psa")
        << "\", tables: [public.time_entries] }\n"
        << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << target->Dsn("erp") << "\" }\n"
        << "routes:\n  - { from: psa.public.time_entries, to: erp.public.time_entries }\n";
  }
  ChildProcess engine;
  engine.Start({handoff::testing::HandoffBinary(), "run", "--config", config}, dir + "/engine.log");
  auto copy_start = Clock::now();
  if (!WaitForCount(erp, "SELECT count(*) FROM time_entries", std::to_string(o.rows), 1800))
    Die("the initial copy did not finish in 30 min");
  Note(fmt::format("initial copy of {} rows in {:.1f} s", o.rows, Since(copy_start)));
  std::this_thread::sleep_for(std::chrono::seconds(1));

  Window base{"baseline"}, during{"verify"};
  PgSession producer_db(source->Dsn("psa"));  // the producer's own connection
  Producer producer;
  producer.Start(&producer_db, o.rows + 1, o.rate, o.tick_ms);
  // Baseline window: the stream alone.
  base.first_id = o.rows + 1;
  double cpu0 = ServerCpuSeconds(*source);
  auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.baseline_s));
  base.seconds = Since(t0);
  base.source_cpu_s = ServerCpuSeconds(*source) - cpu0;
  // Verify window: the stream and the verification.
  const int64_t boundary = psa.Scalar("SELECT max(id) FROM time_entries").empty()
                               ? o.rows
                               : std::atoll(psa.Scalar("SELECT max(id) FROM time_entries").c_str());
  base.last_id = boundary;
  during.first_id = boundary + 1;
  std::vector<std::string> argv = {handoff::testing::HandoffBinary(), "verify", "--config", config, "--route", "psa",
                                   "--json", "--chunk-rows", std::to_string(o.chunk_rows)};
  if (o.verify_rate > 0) {
    argv.push_back("--rate");
    argv.push_back(std::to_string(o.verify_rate));
  }
  std::string out, err;
  const double child0 = ChildrenCpuSeconds();
  cpu0 = ServerCpuSeconds(*source);
  t0 = Clock::now();
  const int rc = handoff::testing::RunCommand(argv, &out, &err);
  during.seconds = Since(t0);
  during.source_cpu_s = ServerCpuSeconds(*source) - cpu0;
  const double verify_cpu = ChildrenCpuSeconds() - child0;
  producer.Stop();
  during.last_id = producer.next - 1;
  if (during.last_id < during.first_id) Die("the producer wrote nothing while verify ran");
  if (!WaitForCount(erp, fmt::format("SELECT count(*) FROM time_entries WHERE id = {}", during.last_id), "1", 300))
    Die("the producer's rows did not arrive");
  if (engine.Stop(SIGTERM) != 0) Die("handoff did not stop cleanly");
  Latency(erp, &base);
  Latency(erp, &during);
  base.rows_per_s = (base.last_id - base.first_id + 1) / base.seconds;
  during.rows_per_s = (during.last_id - during.first_id + 1) / during.seconds;

  const double rows_checked = JsonNumber(out, "rows_checked"), verify_s = JsonNumber(out, "seconds");
  const double watermarks = JsonNumber(out, "watermarks");
  const bool equal = rc == 0 && out.find("\"equal\":true") != std::string::npos;
  const double rate = verify_s > 0 ? rows_checked / verify_s : 0;
  const double added_p99 = during.p99_ms - base.p99_ms;

  std::printf("\n| verify of %lld rows while the stream runs | value |\n|---|---|\n", static_cast<long long>(o.rows));
  std::printf("| rows compared | %.0f in %.2f s = %.0f rows/s (%.0f watermarks) |\n", rows_checked, verify_s, rate,
              watermarks);
  std::printf("| tables equal (nothing changed behind handoff's back) | %s |\n", equal ? "yes" : "NO");
  std::printf("| `handoff verify` process CPU | %.2f s |\n", verify_cpu);
  std::printf("| source server CPU per second: baseline / during verify | %.2f / %.2f (added %.2f cores) |\n",
              base.source_cpu_per_s(), during.source_cpu_per_s(), during.source_cpu_per_s() - base.source_cpu_per_s());
  for (const Window* w : {&base, &during})
    std::printf("| stream latency, %s (%.0f rows/s over %.1f s) p50 / p99 / max | %.1f / %.1f / %.1f ms |\n",
                w->name.c_str(), w->rows_per_s, w->seconds, w->p50_ms, w->p99_ms, w->max_ms);
  std::printf("| goal: >= 200,000 rows/s | %s |\n", rate >= 200000 ? "met" : "not met");
  std::printf("| goal: stream p99 < 250 ms during verify | %s (p99 %.1f ms, %+.1f ms against the baseline) |\n",
              during.p99_ms < 250 ? "met" : "not met", during.p99_ms, added_p99);
  std::ofstream json(o.json_path);
  json << fmt::format(
      "{{\"rows\":{},\"rows_checked\":{:.0f},\"verify_seconds\":{:.3f},\"rows_per_s\":{:.0f},\"watermarks\":{:.0f},"
      "\"equal\":{},\"verify_cpu_s\":{:.3f},\"source_cpu_per_s\":{{\"baseline\":{:.3f},\"verify\":{:.3f}}},"
      "\"latency_ms\":{{\"baseline\":{{\"p50\":{:.1f},\"p99\":{:.1f},\"max\":{:.1f}}},\"verify\":{{\"p50\":{:.1f},"
      "\"p99\":{:.1f},\"max\":{:.1f}}}}},\"stream_rows_per_s\":{:.0f}}}\n",
      o.rows, rows_checked, verify_s, rate, watermarks, equal, verify_cpu, base.source_cpu_per_s(),
      during.source_cpu_per_s(), base.p50_ms, base.p99_ms, base.max_ms, during.p50_ms, during.p99_ms, during.max_ms,
      during.rows_per_s);
  if (!equal) Die("verify did not find the tables equal:\n" + out + err);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(ParseOptions(argc, argv));
  } catch (const SpikeError& e) {
    Note(e.what());
    return 1;
  }
}
