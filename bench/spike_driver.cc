// Month-end spike driver. On throwaway PostgreSQL servers (one for the PSA
// source, one for the targets, on this machine), the PSA database receives a spike of approved time entries (1,000,000 inserts, 50,000
// corrections and 10,000 deletions by default, in transactions of 1 to
// 200,000 rows) while every consumer is paused. Then, one after the other so
// that they do not share the two cores:
//
//   1. PostgreSQL's own logical replication (publication + subscription)
//      catches up into erp_native;
//   2. handoff with plain table routes (capture -> durable LMDB journal ->
//      apply) catches up into erp_handoff, followed by a replay of its
//      journal into the emptied target (apply alone);
//   3. handoff with canonical mapping (capture -> journal -> canonical
//      router: mapping, ownership, state -> journal -> apply) into
//      erp_canonical;
//   4. latency: handoff (plain routes) runs while a producer inserts at a
//      steady rate; each target row records clock_timestamp() at apply, the
//      source row at insert (two servers, one machine clock).
//
// Every target is checked against the source (md5 of the ordered rows), so a
// fast wrong answer fails. Results: a table on stdout and JSON (--json).
//
//   spike_driver [--rows N] [--updates N] [--deletes N] [--latency-seconds S]
//                [--latency-rate R] [--tick-ms MS] [--skip-native] [--skip-canonical]
//                [--timeout S] [--pack DIR] [--json FILE] [--wrap "perf record -g --"]
//                [--memory-limit MIB]
//
// --memory-limit (default 512, 0 = off) runs the canonical phase a second
// time with the engine inside a memory cgroup of that size (a container's
// limit): it must finish without being killed, at close to the rate of the
// unconstrained run.
#include <signal.h>

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

#include "memory_cgroup.h"
#include "pg_server.h"
#include "process.h"
#include "spike_probe.h"
#include "spike_report.h"
#include "spike_workload.h"

using handoff::testing::ChildProcess;
using handoff::testing::PgServer;
using namespace handoff::bench;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& why) { throw SpikeError(why); }

void Note(const std::string& what) { std::fprintf(stderr, "spike_driver: %s\n", what.c_str()); }

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Options {
  int64_t rows = 1000000, updates = -1, deletes = -1;
  double latency_seconds = 20, latency_rate = 20000;
  int tick_ms = 10;
  bool native = true, canonical = true;
  double timeout_s = 3600;
  std::string json_path = "spike_result.json";
  std::string pack = std::string(HANDOFF_SOURCE_DIR) + "/bench/spike_pack";
  std::vector<std::string> wrapper;  // e.g. valgrind --tool=callgrind, around the measured engine runs
  int64_t memory_limit_mib = 512;    // the canonical phase again inside a memory cgroup (0: not run)
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--skip-native") { o.native = false; continue; }
    if (a == "--skip-canonical") { o.canonical = false; continue; }
    if (i + 1 >= argc) Die("option " + a + " needs a value");
    const char* v = argv[++i];
    if (a == "--rows") o.rows = std::atoll(v);
    else if (a == "--updates") o.updates = std::atoll(v);
    else if (a == "--deletes") o.deletes = std::atoll(v);
    else if (a == "--latency-seconds") o.latency_seconds = std::atof(v);
    else if (a == "--latency-rate") o.latency_rate = std::atof(v);
    else if (a == "--tick-ms") o.tick_ms = std::atoi(v);
    else if (a == "--timeout") o.timeout_s = std::atof(v);
    else if (a == "--json") o.json_path = v;
    else if (a == "--pack") o.pack = v;
    else if (a == "--memory-limit") o.memory_limit_mib = std::atoll(v);
    else if (a == "--wrap") {
      std::istringstream words(v);
      for (std::string w; words >> w;) o.wrapper.push_back(w);
    } else {
      Die("unknown option " + a);
    }
  }
  if (o.rows < 100) Die("--rows must be at least 100");
  if (o.updates < 0) o.updates = o.rows / 20;  // 50,000 per million
  if (o.deletes < 0) o.deletes = o.rows / 100;  // 10,000 per million
  if (o.updates >= o.rows / 2 || o.deletes >= o.rows / 2) Die("--updates and --deletes must be below rows / 2");
  if (o.tick_ms < 1) Die("--tick-ms must be positive");
  if (o.memory_limit_mib < 0) Die("--memory-limit must be 0 (off) or a size in MiB");
  return o;
}

// Samples a process's memory every 50 ms on a thread of its own.
class MemoryWatch {
 public:
  explicit MemoryWatch(pid_t pid) : sampler_(pid), thread_([this] {
    while (!stop_.load()) {
      sampler_.Sample();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }) {}
  // Takes a last sample (the kernel's high-water mark covers the time between
  // samples) and stops; call while the process is still alive.
  MemorySampler Finish() {
    stop_.store(true);
    thread_.join();
    sampler_.Sample();
    return sampler_;
  }
  ~MemoryWatch() {
    if (thread_.joinable()) Finish();
  }

 private:
  MemorySampler sampler_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// One handoff configuration: its folder, config file and journal.
struct HandoffSetup {
  std::string dir, config, journal, slot;
};

HandoffSetup WriteConfig(const PgServer& source, const PgServer& target, const std::string& dir,
                         const std::string& target_db,
                         const std::string& slot, const std::string& pack) {
  HandoffSetup h{dir, dir + "/handoff.yaml", dir + "/journal", slot};
  std::filesystem::create_directories(dir);
  std::ofstream cfg(h.config);
  cfg << "journal: { path: " << h.journal << " }\n";
  if (!pack.empty()) cfg << "canonical: { schemas: " << pack << "/schemas, ownership: " << pack << "/ownership.yaml }\n";
  cfg << "sources:\n  - { name: psa, kind: postgres, dsn: \"" << source.Dsn("psa")
      << "\", tables: [public.time_entries], slot: " << slot << ", publication: " << slot << " }\n"
      << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << target.Dsn(target_db) << "\" }\n";
  if (pack.empty()) cfg << "routes:\n  - { from: psa.public.time_entries, to: erp.public.time_entries }\n";
  return h;
}

void WaitForSlotActive(PgSession& psa, const std::string& slot) {
  auto start = Clock::now();
  while (psa.Scalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '" + slot + "' AND active") != "1") {
    if (Since(start) > 60) Die("handoff did not open its slot " + slot);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void StartEngine(ChildProcess* engine, const HandoffSetup& h, const std::vector<std::string>& wrapper) {
  std::vector<std::string> argv = wrapper;
  for (const std::string& a : {handoff::testing::HandoffBinary(), std::string("run"), std::string("--config"), h.config})
    argv.push_back(a);
  engine->Start(argv, h.dir + "/engine.log");
}

void StopEngine(ChildProcess* engine) {
  if (engine->Stop(SIGTERM) != 0) Die("handoff did not stop cleanly");
}

// Waits until row `id` is in the target; false after `limit` seconds.
// Stops waiting early when `engine` (if given) has exited.
bool WaitForRow(PgSession& target, int64_t id, Clock::time_point start, double limit,
                ChildProcess* engine = nullptr) {
  const std::string sql = "SELECT count(*) FROM time_entries WHERE id = " + std::to_string(id);
  while (target.Scalar(sql) != "1") {
    if (Since(start) > limit) return false;
    if (engine != nullptr && engine->Wait(std::chrono::milliseconds(0)) != -1) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool SameAsSource(PgSession& psa, PgSession& target) {
  return psa.Scalar(SpikeChecksumSql()) == target.Scalar(SpikeChecksumSql());
}

// Runs one handoff engine until the target holds the sentinel row.
CatchUpResult HandoffCatchUp(const std::string& name, const HandoffSetup& h, PgSession& psa, PgSession& target,
                             const SpikePlan& plan, const Options& o, const std::vector<std::string>& wrapper) {
  CatchUpResult r;
  r.name = name;
  r.changes = plan.changes();
  ChildProcess engine;
  auto start = Clock::now();
  r.start_unix_us = UnixMicros();
  StartEngine(&engine, h, wrapper);
  {
    MemoryWatch watch(engine.pid());
    r.finished = WaitForRow(target, plan.inserts, start, o.timeout_s, &engine);
    r.seconds = Since(start);
    if (!r.finished && !engine.running()) {
      r.note = fmt::format("the engine ended after {:.1f} s before catching up", r.seconds);
      Note(name + ": " + r.note);
      return r;
    }
    MemorySampler mem = watch.Finish();
    r.peak_rss_kb = mem.peak_rss_kb();
    r.peak_anon_kb = mem.peak_anon_kb();
  }
  r.cpu_s = CpuSeconds(engine.pid());
  StopEngine(&engine);
  r.journal_bytes = DirBytes(h.journal);
  if (!r.finished) {
    r.note = fmt::format("did not finish within {:.0f} s; {} of {} rows in the target", o.timeout_s,
                         target.Scalar("SELECT count(*) FROM time_entries"), plan.final_rows());
    Note(name + " " + r.note);
    return r;
  }
  r.verified = SameAsSource(psa, target);
  Note(fmt::format("{} caught up in {:.2f} s ({})", name, r.seconds, r.verified ? "verified" : "DIFFERS"));
  return r;
}

// When the journal received its last change, in seconds after the run began
// (the capture + journal stage on its own), from the journal's own timestamps.
double CaptureSeconds(const HandoffSetup& h, int64_t start_unix_us) {
  const std::string bin = handoff::testing::HandoffBinary();
  std::string out;
  handoff::testing::RunCommand({bin, "status", "--config", h.config, "--json"}, &out);
  auto p = out.find("\"last_seq\":");
  long last_seq = p == std::string::npos ? 0 : std::atol(out.c_str() + p + 11);
  handoff::testing::RunCommand(
      {bin, "journal", "dump", "--config", h.config, "--from-seq", std::to_string(last_seq), "--limit", "1"}, &out);
  auto q = out.find("\"journaled_at_us\":");
  long long at_us = q == std::string::npos ? 0 : std::atoll(out.c_str() + q + 18);
  return at_us > 0 ? (at_us - start_unix_us) / 1e6 : -1;
}

// Replays the whole journal into the emptied target: the apply stage alone.
double ReplaySeconds(const HandoffSetup& h, PgSession& psa, PgSession& target) {
  target.Exec("TRUNCATE time_entries");
  auto start = Clock::now();
  std::string out, err;
  if (handoff::testing::RunCommand({handoff::testing::HandoffBinary(), "replay", "--config", h.config, "--target",
                                    "erp", "--from-seq", "1"},
                                   &out, &err) != 0)
    Die("replay failed: " + err);
  double s = Since(start);
  if (!SameAsSource(psa, target)) Die("the replay did not rebuild the target exactly");
  return s;
}

LatencyResult MeasureLatency(const HandoffSetup& h, PgSession& psa, PgSession& target, const SpikePlan& plan,
                             const Options& o) {
  LatencyResult r;
  r.measured = true;
  r.target_rate = o.latency_rate;
  ChildProcess engine;
  StartEngine(&engine, h, o.wrapper);
  WaitForSlotActive(psa, h.slot);
  std::this_thread::sleep_for(std::chrono::seconds(1));  // connected and idle before the clock starts
  {
    MemoryWatch watch(engine.pid());
    ProducerResult p = RunSteadyProducer(psa, plan.inserts + 1, o.latency_rate, o.latency_seconds, o.tick_ms);
    r.rows = p.rows;
    r.txns = p.txns;
    r.seconds = p.seconds;
    r.achieved_rate = p.rows / p.seconds;
    if (p.rows > 0 && !WaitForRow(target, p.last_id, Clock::now(), 300)) Die("latency rows did not arrive in 300 s");
    MemorySampler mem = watch.Finish();
    r.peak_rss_kb = mem.peak_rss_kb();
    r.peak_anon_kb = mem.peak_anon_kb();
  }
  StopEngine(&engine);
  auto rows = target.Rows(
      "SELECT count(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY ms), percentile_disc(0.99) WITHIN GROUP "
      "(ORDER BY ms), max(ms) FROM (SELECT extract(epoch FROM applied_at - entered_at) * 1000 AS ms "
      "FROM time_entries WHERE id > " + std::to_string(plan.inserts) + ") x");
  if (rows.empty() || std::atoll(rows[0][0].c_str()) != r.rows) Die("latency rows missing from the target");
  r.p50_ms = std::atof(rows[0][1].c_str());
  r.p99_ms = std::atof(rows[0][2].c_str());
  r.max_ms = std::atof(rows[0][3].c_str());
  r.verified = SameAsSource(psa, target);
  Note(fmt::format("latency at {:.0f} rows/s: p50 {:.1f} ms, p99 {:.1f} ms", r.achieved_rate, r.p50_ms, r.p99_ms));
  return r;
}

int Run(const Options& o) {
  SpikeReport report;
  report.machine = DescribeMachine();
  report.plan = MakeSpikePlan(o.rows, o.updates, o.deletes);
  const SpikePlan& plan = report.plan;

  // The PSA database and the targets live on two servers (on this machine,
  // so one clock): a consumer's slot then decodes the spike's WAL only, not
  // what the other consumers wrote into their targets before it ran.
  auto source = PgServer::Start();
  auto target = PgServer::Start();
  Note(fmt::format("PostgreSQL source on port {}, targets on port {}; {} changes in {} transactions", source->port(),
                   target->port(), plan.changes(), plan.txns.size()));
  if (!source->CreateDatabase("psa").ok()) Die("cannot create psa");
  PgSession psa(source->Dsn("psa"));
  psa.Exec(SpikeTableSql(false));
  for (const char* db : {"erp_native", "erp_handoff", "erp_canonical", "erp_limited"}) {
    if (!target->CreateDatabase(db).ok()) Die(std::string("cannot create ") + db);
    PgSession(target->Dsn(db)).Exec(SpikeTableSql(true));
  }
  PgSession native_db(target->Dsn("erp_native")), plain_db(target->Dsn("erp_handoff")),
      canonical_db(target->Dsn("erp_canonical")), limited_db(target->Dsn("erp_limited"));
  const bool limited_run = o.canonical && o.memory_limit_mib > 0;

  // Every consumer holds its slot before the spike, so all see the same changes.
  if (o.native) {
    psa.Exec("CREATE PUBLICATION native_pub FOR TABLE time_entries");
    psa.Exec("SELECT pg_create_logical_replication_slot('native_slot', 'pgoutput')");
    native_db.Exec("CREATE SUBSCRIPTION native_sub CONNECTION '" + source->Dsn("psa") +
                   "' PUBLICATION native_pub WITH (create_slot = false, slot_name = 'native_slot', "
                   "copy_data = false, enabled = false)");
  }
  const std::string work = source->dir() + "/handoff";
  HandoffSetup plain = WriteConfig(*source, *target, work + "/plain", "erp_handoff", "handoff_psa", "");
  HandoffSetup canonical =
      WriteConfig(*source, *target, work + "/canonical", "erp_canonical", "handoff_psa_canonical", o.pack);
  HandoffSetup limited =
      WriteConfig(*source, *target, work + "/limited", "erp_limited", "handoff_psa_limited", o.pack);
  for (const HandoffSetup* h : {&plain, &canonical, &limited}) {
    if (h == &canonical && !o.canonical) continue;
    if (h == &limited && !limited_run) continue;
    ChildProcess engine;
    StartEngine(&engine, *h, {});
    WaitForSlotActive(psa, h->slot);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    StopEngine(&engine);
  }

  auto gen_start = Clock::now();
  WriteSpike(psa, plan);
  report.generate_seconds = Since(gen_start);
  if (psa.Scalar("SELECT count(*) FROM time_entries") != std::to_string(plan.final_rows()))
    Die("the source does not hold the rows the plan expects");
  Note(fmt::format("spike written in {:.1f} s", report.generate_seconds));

  if (o.native) {
    CatchUpResult& r = report.native;
    r.name = "native";
    r.changes = plan.changes();
    auto start = Clock::now();
    native_db.Exec("ALTER SUBSCRIPTION native_sub ENABLE");
    r.finished = WaitForRow(native_db, plan.inserts, start, o.timeout_s);
    r.seconds = Since(start);
    native_db.Exec("ALTER SUBSCRIPTION native_sub DISABLE");
    if (!r.finished) Die("native replication did not catch up in time");
    r.verified = SameAsSource(psa, native_db);
    Note(fmt::format("native caught up in {:.2f} s ({})", r.seconds, r.verified ? "verified" : "DIFFERS"));
  }

  report.plain = HandoffCatchUp("plain", plain, psa, plain_db, plan, o, o.wrapper);
  if (report.plain.finished) {
    report.capture_seconds = CaptureSeconds(plain, report.plain.start_unix_us);
    report.replay_seconds = ReplaySeconds(plain, psa, plain_db);
  }
  if (o.canonical) report.canonical = HandoffCatchUp("canonical", canonical, psa, canonical_db, plan, o, o.wrapper);
  if (limited_run) {
    report.limit_mib = o.memory_limit_mib;
    std::string why;
    auto group = MemoryCgroup::Create("handoff-spike", static_cast<uint64_t>(o.memory_limit_mib) << 20, &why);
    if (group == nullptr) {
      report.limited.name = "limited";
      report.limited.note = "not measured: " + why;
      Note("memory-limited run " + report.limited.note);
    } else {
      std::vector<std::string> wrapper = group->Wrapper();
      wrapper.insert(wrapper.end(), o.wrapper.begin(), o.wrapper.end());
      report.limited = HandoffCatchUp("canonical, memory-limited", limited, psa, limited_db, plan, o, wrapper);
      report.limited_oom_kills = group->OomKills();
      report.limited_peak_bytes = group->PeakBytes();
    }
  }
  if (o.latency_seconds > 0) report.latency = MeasureLatency(plain, psa, plain_db, plan, o);

  PrintReport(report, stdout);
  std::ofstream json(o.json_path);
  json << ReportJson(report) << "\n";
  if (!json) Die("cannot write " + o.json_path);
  bool ok = (!o.native || report.native.verified) && report.plain.verified &&
            (!o.canonical || !report.canonical.finished || report.canonical.verified) &&
            (!report.limited.finished || report.limited.verified) &&
            (o.latency_seconds <= 0 || report.latency.verified);
  if (!ok) Die("a target differs from the source (see the table)");
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
