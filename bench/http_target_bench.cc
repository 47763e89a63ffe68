// http_target_bench: the HTTP target writer against a local API that answers
// at once. One journal of routed changes is sent in full once per
// `max_in_flight` value, each as its own target (own position), in the same
// run, so the rates compare as a ratio on one machine at one moment.
//
//   build/bench/http_target_bench [--changes N] [--rows R] [--in-flight 1,8]
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "handoff/apply/http_applier.h"
#include "handoff/engine/journal.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "http_target_bench: %s\n", what.c_str());
  std::exit(2);
}

handoff::ChangeEvent Change(uint64_t n, uint64_t rows) {
  handoff::ChangeEvent e;
  e.source = "psa";
  e.position = {1000 + n / 1000, n % 1000 + 1};
  e.commit_time_us = 1764000000000000;
  e.schema = "public";
  e.table = "time_entries";
  e.op = handoff::Op::kUpdate;
  e.key_columns = {"id"};
  e.after = {{"id", 20, handoff::Column::Kind::kText, std::to_string(n % rows)},
             {"hours", 1700, handoff::Column::Kind::kText, std::to_string(n % 9) + ".50"},
             {"notes", 25, handoff::Column::Kind::kText, "Month-end close workshop with the client"}};
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t changes = 20000, rows = 2000;
  std::vector<uint64_t> in_flight{1, 8};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--changes") changes = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--rows") rows = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--in-flight") {
      in_flight.clear();
      std::stringstream ss(v);
      for (std::string x; std::getline(ss, x, ',');) in_flight.push_back(std::strtoull(x.c_str(), nullptr, 10));
    } else {
      Die("unknown option " + a);
    }
  }
  if (changes == 0 || rows == 0 || in_flight.empty()) Die("--changes, --rows and --in-flight must be positive");

  // The API: 200 at once for every request.
  httplib::Server api;
  api.new_task_queue = [] { return new httplib::ThreadPool(64); };
  // As API servers do: without it the response's second write waits for the
  // client's delayed ACK (40 ms a request).
  api.set_tcp_nodelay(true);
  std::atomic<uint64_t> requests{0};
  auto ok = [&](const httplib::Request&, httplib::Response& res) {
    requests.fetch_add(1, std::memory_order_relaxed);
    res.set_content("{}", "application/json");
  };
  api.Put(R"(/.*)", ok);
  api.Delete(R"(/.*)", ok);
  const int port = api.bind_to_any_port("127.0.0.1");
  if (port <= 0) Die("cannot bind a loopback port");
  std::thread serving([&] { api.listen_after_bind(); });

  char tmpl[] = "/tmp/handoff-http-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) Die("mkdtemp failed");
  const std::string dir = tmpl;
  handoff::JournalOptions jo;
  jo.path = dir + "/journal";
  jo.map_size = 256ull << 20;
  auto journal = handoff::Journal::Open(jo);
  if (!journal.ok()) Die(journal.status().ToString());
  for (uint64_t from = 0; from < changes; from += 1000) {
    std::vector<handoff::AppendBatch> b{{"psa", {}, {}}};
    for (uint64_t n = from; n < std::min(changes, from + 1000); ++n) b[0].events.push_back(Change(n, rows));
    b[0].upto = b[0].events.back().position;
    if (auto st = (*journal)->Append(b, nullptr); !st.ok()) Die(st.ToString());
  }
  const uint64_t last = (*journal)->LastSeq();

  std::printf("HTTP target, %llu changes of %llu rows, to a local API that answers at once\n\n",
              static_cast<unsigned long long>(changes), static_cast<unsigned long long>(rows));
  std::printf("| max_in_flight | seconds | changes/s | vs max_in_flight %llu |\n|---|---|---|---|\n",
              static_cast<unsigned long long>(in_flight.front()));
  double base = 0;
  for (uint64_t n : in_flight) {
    handoff::HttpApplierOptions o;
    o.target.name = "api_" + std::to_string(n);
    o.target.kind = "http";
    o.target.url = "http://127.0.0.1:" + std::to_string(port);
    o.target.max_in_flight = n;
    o.routes = {{"psa", "public", "time_entries", o.target.name, "", "time_entries"}};
    o.journal = journal->get();
    auto applier = handoff::HttpApplier::Create(o);
    if (!applier.ok()) Die(applier.status().ToString());
    const uint64_t before = requests.load();
    const auto start = Clock::now();
    handoff::Status result;
    std::thread run([&] { result = (*applier)->Run(); });
    while ((*applier)->counters().applied_seq.load() < last && run.joinable()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (Clock::now() - start > std::chrono::minutes(10)) Die("no progress in 10 minutes");
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    (*applier)->Stop();
    run.join();
    if (!result.ok()) Die(result.ToString());
    if (requests.load() - before != changes) Die("the API got " + std::to_string(requests.load() - before) +
                                                 " requests for " + std::to_string(changes) + " changes");
    const double rate = changes / seconds;
    if (base == 0) base = rate;
    std::printf("| %llu | %.2f | %.0f | %.2fx |\n", static_cast<unsigned long long>(n), seconds, rate, rate / base);
  }
  api.stop();
  serving.join();
  journal->reset();
  std::filesystem::remove_all(dir);
  return 0;
}
