// Snapshot benchmark. On two throwaway PostgreSQL servers of this machine (a
// source and a target), one run of the real `handoff run` binary measures:
//
//   a. the plain initial snapshot: a fresh journal starts the source, which
//      COPYs time_entries (--rows, default 1,000,000 rows of eight columns)
//      into the target; rows/s from engine start until the target holds
//      every row;
//   b. the chunked snapshot of the same table on the running engine
//      (`handoff snapshot --table public.time_entries`, into the emptied
//      target table, in chunks of --chunk-rows, paced at --snapshot-rate
//      rows/s when given: the source's snapshot_rate) while a producer writes
//      --stream-rate changes/s (inserts and updates) into stream_events of
//      the same source; rows/s from the command until `handoff status`
//      says the read is done and the target holds every row, and the
//      capture-to-apply latency (p50, p99, max) of the stream meanwhile;
//   c. the same latency over --baseline-seconds of the stream with no
//      snapshot running just before, and the throughput ratio b / a.
//
// Stream rows carry entered_at = clock_timestamp() of their last change; a
// trigger on the target stamps applied_at when handoff writes them (both
// servers read the same machine clock). Both tables are checked against the
// source (md5 of the ordered rows) at the end, so a fast wrong answer fails.
//
//   snapshot_bench [--rows N] [--chunk-rows N] [--snapshot-rate N] [--stream-rate R] [--update-percent P]
//                  [--baseline-seconds S] [--tick-ms MS] [--timeout S] [--json FILE]
//                  [--wrap "perf record -g -o perf.data --"]
#include <fmt/format.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "pg_server.h"
#include "process.h"
#include "snapshot_report.h"
#include "snapshot_workload.h"
#include "spike_probe.h"

using handoff::testing::ChildProcess;
using handoff::testing::PgServer;
using namespace handoff::bench;
using Clock = std::chrono::steady_clock;

namespace {

[[noreturn]] void Die(const std::string& why) { throw SpikeError(why); }

void Note(const std::string& what) { std::fprintf(stderr, "snapshot_bench: %s\n", what.c_str()); }

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int64_t UnixMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void Pause(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

struct Options {
  int64_t rows = 1000000;
  int64_t chunk_rows = 1024;
  int64_t snapshot_rate = 0;  // 0: unpaced
  double stream_rate = 5000;
  int update_percent = 20;
  double baseline_seconds = 20;
  int tick_ms = 10;
  double timeout_s = 1800;
  std::string json_path;
  std::vector<std::string> wrapper;  // around the engine, e.g. perf record
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) Die("option " + a + " needs a value");
    const char* v = argv[++i];
    if (a == "--rows")
      o.rows = std::atoll(v);
    else if (a == "--chunk-rows")
      o.chunk_rows = std::atoll(v);
    else if (a == "--snapshot-rate")
      o.snapshot_rate = std::atoll(v);
    else if (a == "--stream-rate")
      o.stream_rate = std::atof(v);
    else if (a == "--update-percent")
      o.update_percent = std::atoi(v);
    else if (a == "--baseline-seconds")
      o.baseline_seconds = std::atof(v);
    else if (a == "--tick-ms")
      o.tick_ms = std::atoi(v);
    else if (a == "--timeout")
      o.timeout_s = std::atof(v);
    else if (a == "--json")
      o.json_path = v;
    else if (a == "--wrap") {
      std::istringstream words(v);
      for (std::string w; words >> w;) o.wrapper.push_back(w);
    } else {
      Die("unknown option " + a);
    }
  }
  if (o.rows < 1000) Die("--rows must be at least 1000");
  if (o.chunk_rows < 1) Die("--chunk-rows must be positive");
  if (o.snapshot_rate < 0) Die("--snapshot-rate must be 0 (unpaced) or positive");
  if (o.stream_rate <= 0) Die("--stream-rate must be positive");
  if (o.update_percent < 0 || o.update_percent > 90) Die("--update-percent must be 0..90");
  if (o.baseline_seconds < 1) Die("--baseline-seconds must be at least 1");
  if (o.tick_ms < 1) Die("--tick-ms must be positive");
  if (o.timeout_s < 10) Die("--timeout must be at least 10 seconds");
  return o;
}

// The engine under test: its configuration, process and log.
class Engine {
 public:
  Engine(const PgServer& source, const PgServer& target, const std::string& dir, int64_t chunk_rows,
         int64_t snapshot_rate)
      : dir_(dir), config_(dir + "/handoff.yaml"), log_(dir + "/engine.log") {
    std::filesystem::create_directories(dir);
    std::ofstream cfg(config_);
    cfg << "journal: { path: " << dir << "/journal }\n"
        << "admin: { listen: \"127.0.0.1:" << handoff::testing::FreeTcpPort() << "\" }\n"
        << "sources:\n  - { name: psa, kind: postgres, dsn: \"" << source.Dsn("psa") << "\", chunk_rows: " << chunk_rows
        << ", snapshot_rate: " << snapshot_rate
        << ", slot: snapbench, publication: snapbench,\n      tables: [public.time_entries, public.stream_events] }\n"
        << "targets:\n  - { name: erp, kind: postgres, dsn: \"" << target.Dsn("erp") << "\" }\n"
        << "routes:\n  - { from: psa.public.time_entries, to: erp.public.time_entries }\n"
        << "  - { from: psa.public.stream_events, to: erp.public.stream_events }\n";
    if (!cfg) Die("cannot write " + config_);
  }

  const std::string& config() const { return config_; }
  pid_t pid() const { return process_.pid(); }

  void Start(const std::vector<std::string>& wrapper) {
    std::vector<std::string> argv = wrapper;
    for (const std::string& a :
         {handoff::testing::HandoffBinary(), std::string("run"), std::string("--config"), config_})
      argv.push_back(a);
    process_.Start(argv, log_);
  }
  // Fails the run, with the log's tail, when the engine has exited.
  void CheckAlive() {
    if (!process_.running()) Die("the engine is not running");
    int rc = process_.Wait(std::chrono::milliseconds(1));
    if (rc != -1) Die(fmt::format("the engine exited with {}; the end of {}:\n{}", rc, log_, LogTail()));
  }
  void Stop() {
    if (process_.Stop(SIGTERM) != 0) Die("the engine did not stop cleanly (see " + log_ + ")");
  }
  // `handoff status --json`; empty when the engine does not answer.
  std::string StatusJson() const {
    std::string out;
    int rc = handoff::testing::RunCommand({handoff::testing::HandoffBinary(), "status", "--config", config_, "--json"},
                                          &out);
    return rc == 0 ? out : std::string();
  }
  std::string LogTail(size_t bytes = 3000) const {
    std::ifstream in(log_);
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all.size() > bytes ? all.substr(all.size() - bytes) : all;
  }

 private:
  std::string dir_, config_, log_;
  ChildProcess process_;
};

// A table read as `handoff status --json` reports it (sources[].reads).
struct ReadStatus {
  bool found = false;
  std::string state;
  int64_t rows = 0, chunks = 0, started_us = 0, finished_us = 0;
};

int64_t NumberField(const std::string& obj, const std::string& name) {
  auto at = obj.find("\"" + name + "\":");
  return at == std::string::npos ? 0 : std::atoll(obj.c_str() + at + name.size() + 3);
}

ReadStatus FindRead(const std::string& json, const std::string& table, const std::string& kind) {
  ReadStatus r;
  auto at = json.find("\"table\":\"" + table + "\",\"kind\":\"" + kind + "\"");
  if (at == std::string::npos) return r;
  const std::string obj = json.substr(at, json.find('}', at) - at);
  r.found = true;
  auto s = obj.find("\"state\":\"");
  if (s != std::string::npos) r.state = obj.substr(s + 9, obj.find('"', s + 9) - (s + 9));
  r.rows = NumberField(obj, "rows");
  r.chunks = NumberField(obj, "chunks");
  r.started_us = NumberField(obj, "started_us");
  r.finished_us = NumberField(obj, "finished_us");
  return r;
}

double CaptureSeconds(const ReadStatus& r) {
  return r.found && r.finished_us > r.started_us ? (r.finished_us - r.started_us) / 1e6 : -1;
}

// Waits until the target's time_entries holds ids 1..rows (the highest id
// arrives last: both reads go in key or heap order, and that is the order
// of the table's rows here). Checks the engine and `also` on the way.
template <typename Check>
void WaitForAllRows(PgSession& target, Engine& engine, int64_t rows, Clock::time_point start, double limit,
                    Check also) {
  const std::string last = "SELECT count(*) FROM time_entries WHERE id = " + std::to_string(rows);
  bool last_seen = false;
  for (int i = 0;; ++i) {
    if (!last_seen) last_seen = target.Scalar(last) == "1";
    if (last_seen && target.Scalar("SELECT count(*) FROM time_entries") == std::to_string(rows)) return;
    if (Since(start) > limit)
      Die(fmt::format("the target holds {} of {} rows after {:.0f} s",
                      target.Scalar("SELECT count(*) FROM time_entries"), rows, limit));
    if (i % 10 == 0) engine.CheckAlive();
    also();
    Pause(last_seen ? 250 : 100);
  }
}

void Verify(PgSession& source, PgSession& target, const std::string& table) {
  if (source.Scalar(ChecksumSql(table)) != target.Scalar(ChecksumSql(table)))
    Die("the target's " + table + " differs from the source's");
}

SnapshotRun PlainSnapshot(Engine& engine, PgSession& target, const Options& o) {
  SnapshotRun r;
  r.rows = o.rows;
  auto start = Clock::now();
  engine.Start(o.wrapper);
  WaitForAllRows(target, engine, o.rows, start, o.timeout_s, [] {});
  r.seconds = Since(start);
  r.cpu_s = CpuSeconds(engine.pid());
  r.capture_seconds = CaptureSeconds(FindRead(engine.StatusJson(), "public.time_entries", "snapshot"));
  Note(fmt::format("plain snapshot: {} rows in {:.2f} s", o.rows, r.seconds));
  return r;
}

// Runs the stream alone for the baseline, then the chunked snapshot beside
// it; fills the chunked run and both latency windows.
void ChunkedSnapshot(Engine& engine, PgSession& source, PgSession& target, StreamProducer& producer, const Options& o,
                     SnapshotReport* report) {
  target.Exec("TRUNCATE time_entries");
  producer.Start();
  auto flowing = Clock::now();
  while (target.Scalar("SELECT count(*) FROM (SELECT 1 FROM stream_events LIMIT 1) x") != "1") {
    if (Since(flowing) > 60) Die("no stream row reached the target within 60 s");
    if (!producer.error().empty()) producer.Stop();
    Pause(100);
  }
  Pause(2000);  // past the first rows' warm-up
  report->baseline.from_us = UnixMicros();
  for (auto until = Clock::now() + std::chrono::duration<double>(o.baseline_seconds); Clock::now() < until;) {
    if (!producer.error().empty()) producer.Stop();
    engine.CheckAlive();
    Pause(200);
  }
  report->baseline.to_us = report->chunked_stream.from_us = UnixMicros();

  SnapshotRun& r = report->chunked;
  r.rows = o.rows;
  const double cpu_before = CpuSeconds(engine.pid());
  auto start = Clock::now();
  std::string out, err;
  if (handoff::testing::RunCommand({handoff::testing::HandoffBinary(), "snapshot", "--config", engine.config(),
                                    "--source", "psa", "--table", "public.time_entries"},
                                   &out, &err) != 0)
    Die("handoff snapshot failed: " + out + err);
  ReadStatus read;
  auto last_status = Clock::now() - std::chrono::seconds(1);
  int64_t last_progress = -1;
  auto look = [&] {
    if (read.state == "done" || Clock::now() - last_status < std::chrono::milliseconds(500)) return;
    last_status = Clock::now();
    read = FindRead(engine.StatusJson(), "public.time_entries", "requested");
    if (read.state == "cancelled") Die("the chunked snapshot was cancelled (see the engine log)");
    if (read.state == "done") r.capture_seconds = CaptureSeconds(read);
    if (read.rows / 100000 != last_progress) {
      last_progress = read.rows / 100000;
      Note(fmt::format("chunked snapshot: {} rows read in {} chunks after {:.0f} s", read.rows, read.chunks,
                       Since(start)));
    }
    if (!producer.error().empty()) producer.Stop();
  };
  WaitForAllRows(target, engine, o.rows, start, o.timeout_s, look);
  while (read.state != "done") {
    if (Since(start) > o.timeout_s) Die("the target is complete but status does not say the read is done");
    last_status = Clock::now() - std::chrono::seconds(1);
    look();
    Pause(100);
  }
  r.seconds = Since(start);
  r.cpu_s = CpuSeconds(engine.pid()) - cpu_before;
  r.chunks = read.chunks;
  report->chunked_stream.to_us = UnixMicros();
  Note(fmt::format("chunked snapshot: {} rows in {:.2f} s ({} chunks)", o.rows, r.seconds, r.chunks));

  report->stream = producer.Stop();
  const std::string last = "SELECT count(*) FROM stream_events WHERE id = " + std::to_string(report->stream.last_id);
  auto tail = Clock::now();
  while (target.Scalar(last) != "1" ||
         source.Scalar(ChecksumSql("stream_events")) != target.Scalar(ChecksumSql("stream_events"))) {
    if (Since(tail) > 120) Die("the stream did not catch up within 120 s of the producer's end");
    engine.CheckAlive();
    Pause(250);
  }
}

int Run(const Options& o) {
  SnapshotReport report;
  report.machine = DescribeMachine();
  report.rows = o.rows;
  report.chunk_rows = o.chunk_rows;
  report.snapshot_rate = o.snapshot_rate;
  report.stream_rate = o.stream_rate;
  report.update_percent = o.update_percent;

  auto source_server = PgServer::Start();
  auto target_server = PgServer::Start();
  Note(fmt::format("PostgreSQL source on port {}, target on port {}", source_server->port(), target_server->port()));
  if (!source_server->CreateDatabase("psa").ok() || !target_server->CreateDatabase("erp").ok())
    Die("cannot create the databases");
  PgSession source(source_server->Dsn("psa"));
  PgSession target(target_server->Dsn("erp"));
  source.Exec(SnapshotTableSql() + StreamTableSql(false));
  target.Exec(SnapshotTableSql() + StreamTableSql(true));
  auto seed = Clock::now();
  SeedSnapshotTable(source, o.rows);
  // The throwaway server commits asynchronously; a production source (and
  // so the engine's watermark commits there) does not.
  source.Exec("ALTER DATABASE psa SET synchronous_commit = on");
  Note(fmt::format("{} rows written to psa.time_entries in {:.1f} s", o.rows, Since(seed)));

  Engine engine(*source_server, *target_server, source_server->dir() + "/handoff", o.chunk_rows,
                o.snapshot_rate);
  StreamProducer producer(source_server->Dsn("psa"), o.stream_rate, o.tick_ms, o.update_percent);
  report.plain = PlainSnapshot(engine, target, o);
  Verify(source, target, "time_entries");
  ChunkedSnapshot(engine, source, target, producer, o, &report);
  engine.Stop();
  Verify(source, target, "time_entries");
  Verify(source, target, "stream_events");
  report.verified = true;
  report.baseline.figures = StreamLatency(target, report.baseline.from_us, report.baseline.to_us);
  report.chunked_stream.figures = StreamLatency(target, report.chunked_stream.from_us, report.chunked_stream.to_us);

  PrintSnapshotReport(report, stdout);
  const std::string json = SnapshotReportJson(report);
  std::printf("%s\n", json.c_str());
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << json << "\n";
    if (!out) Die("cannot write " + o.json_path);
  }
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
