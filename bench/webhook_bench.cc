// webhook_bench: signed Standard Webhooks deliveries (Debezium JSON, one row
// each) from several keep-alive HTTP client threads into the webhook agent,
// a real intake and a durable (fsynced) LMDB journal on loopback, for a
// bounded time. Prints deliveries/s, MB/s and p50/p99/max latency, then checks
// its own result: the journal holds exactly one audit record and one change
// for every 2xx reply, each delivery id once.
//
//   webhook_bench [--seconds 10] [--clients 64] [--http-threads 96] [--dir /tmp/x]
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <thread>

#include "handoff/capture/webhook_source.h"
#include "handoff/engine/journal.h"
#include "handoff/engine/transport.h"
#include "signature_verifier.h"

using namespace handoff;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  double seconds = 10;
  int clients = 64, http_threads = 96;
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--seconds") seconds = std::atof(argv[i + 1]);
    else if (a == "--clients") clients = std::atoi(argv[i + 1]);
    else if (a == "--http-threads") http_threads = std::atoi(argv[i + 1]);
    else if (a == "--dir") dir = argv[i + 1];
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/handoff-webhook-bench-XXXXXX";
    if (!mkdtemp(tmpl)) return 1;
    dir = tmpl;
  }
  JournalOptions jo;
  jo.path = dir;
  auto journal = std::move(Journal::Open(jo)).value();
  auto ctx = TransportContext::Create();
  IntakeOptions io;
  io.endpoints = {"inproc://webhook-bench"};
  auto intake = std::move(IntakeServer::Create(ctx, journal.get(), io)).value();
  std::thread intake_thread([&] { (void)intake->Run(); });

  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  WebhookSourceOptions wo;
  wo.source.name = "bench";
  wo.source.kind = "webhook";
  wo.source.listen = "127.0.0.1:0";
  wo.source.path = "/hooks";
  wo.source.format = "debezium";
  wo.source.signature = "standard";
  wo.source.secrets = {secret};
  wo.context = ctx;
  wo.intake_endpoint = "inproc://webhook-bench";
  wo.source.http.threads = static_cast<uint64_t>(http_threads);
  wo.source.http.max_connections = static_cast<uint64_t>(clients) * 2 + 16;
  wo.ack_timeout = std::chrono::milliseconds(10000);
  auto agent_r = WebhookSourceAgent::Create(wo);
  if (!agent_r.ok()) {
    std::cerr << agent_r.status().ToString() << "\n";
    return 1;
  }
  auto agent = std::move(agent_r).value();
  std::thread agent_thread([&] { (void)agent->Run(); });
  const int port = agent->port();
  std::string key;
  Base64Decode(secret.substr(6), &key);

  // Wait for the agent's engine session.
  {
    httplib::Client c("127.0.0.1", port);
    for (int i = 0; i < 200; ++i) {
      auto r = c.Post("/hooks", httplib::Headers{}, "[]", "application/json");
      if (r && r->status == 401) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  std::atomic<bool> go{true};
  std::atomic<uint64_t> bytes{0};
  std::vector<std::vector<double>> lat(clients);
  std::vector<uint64_t> ok(clients), failed(clients);
  std::vector<std::thread> threads;
  auto t0 = Clock::now();
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_read_timeout(std::chrono::seconds(30));
      for (uint64_t n = 0; go.load(std::memory_order_relaxed); ++n) {
        std::string id = "msg_" + std::to_string(c) + "_" + std::to_string(n);
        std::string body = R"({"before":null,"after":{"id":)" + std::to_string(c * 100000000ull + n) +
                           R"(,"hours":"7.50","note":"bench"},"source":{"version":"2.7.0.Final","connector":"postgresql","name":"psa","ts_ms":1700000000000,"db":"psa","schema":"public","table":"time_entries","txId":)" +
                           std::to_string(n + 1) + R"(,"lsn":)" + std::to_string(n + 100) +
                           R"(},"op":"c","ts_ms":1700000000001})";
        std::string ts = std::to_string(std::time(nullptr));
        std::string sig = "v1," + Base64Encode(webhook::HmacSha256(key, id + "." + ts + ".", body));
        httplib::Headers h{{"webhook-id", id}, {"webhook-timestamp", ts}, {"webhook-signature", sig}};
        auto s = Clock::now();
        auto r = cli.Post("/hooks", h, body, "application/json");
        double us = std::chrono::duration<double, std::micro>(Clock::now() - s).count();
        if (r && r->status / 100 == 2) {
          ++ok[c];
          lat[c].push_back(us);
          bytes.fetch_add(body.size(), std::memory_order_relaxed);
        } else {
          ++failed[c];
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  go = false;
  for (auto& t : threads) t.join();
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  agent->Stop();
  agent_thread.join();
  intake->Stop();
  intake_thread.join();

  std::vector<double> all;
  uint64_t n_ok = 0, n_failed = 0;
  for (int c = 0; c < clients; ++c) {
    all.insert(all.end(), lat[c].begin(), lat[c].end());
    n_ok += ok[c];
    n_failed += failed[c];
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all.empty() ? 0.0 : all[std::min(all.size() - 1, size_t(p * all.size()))]; };
  std::printf("webhook_bench: %d clients, %d http threads, %.1f s, durable LMDB journal at %s\n", clients, http_threads,
              elapsed, dir.c_str());
  std::printf("  deliveries 2xx: %llu (%.0f/s, %.2f MB/s of bodies), non-2xx: %llu\n", (unsigned long long)n_ok,
              n_ok / elapsed, bytes.load() / elapsed / 1e6, (unsigned long long)n_failed);
  std::printf("  latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", pct(0.50) / 1000, pct(0.99) / 1000,
              all.empty() ? 0.0 : all.back() / 1000);

  // Self-check: the journal holds exactly the 2xx deliveries, once each.
  std::set<std::string> ids;
  uint64_t audits = 0, changes = 0;
  std::vector<JournalEntry> batch;
  for (uint64_t from = 1;; from = batch.back().seq + 1) {
    if (!journal->Read(from, 50000, &batch).ok()) return 1;
    if (batch.empty()) break;
    for (const auto& e : batch) {
      (e.event.op == Op::kMessage ? audits : changes)++;
      ids.insert(e.event.delivery_id);
    }
  }
  bool pass = audits == n_ok && changes == n_ok && ids.size() == n_ok;
  if (n_failed > 0) pass = audits >= n_ok && changes == audits && ids.size() == audits;  // a 503 may still land
  std::printf("  journal: %llu audit records, %llu changes, %zu delivery ids -> %s\n", (unsigned long long)audits,
              (unsigned long long)changes, ids.size(), pass ? "OK" : "MISMATCH");
  journal.reset();
  if (own_dir) std::filesystem::remove_all(dir);
  return pass ? 0 : 1;
}
