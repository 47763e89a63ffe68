// HttpApplier against a real local HTTP server (FakeApi) and a real LMDB
// journal in a temp directory.
#include "handoff/apply/http_applier.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "fake_api.h"
#include "handoff/apply/target_pause.h"

namespace handoff {
namespace {

using handoff::testing::FakeApi;
using handoff::testing::Received;
using handoff::testing::Reply;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr char kTarget[] = "crm_api";

Column Text(const std::string& name, const std::string& value) { return {name, 25, Column::Kind::kText, value}; }
Column Null(const std::string& name) { return {name, 25, Column::Kind::kNull, ""}; }

ChangeEvent Change(const std::string& source, uint64_t lsn, uint64_t ord, Op op, const std::string& table) {
  ChangeEvent e;
  e.source = source;
  e.position = {lsn, ord};
  e.xid = lsn;
  e.commit_time_us = 1700000000000000;
  e.schema = "public";
  e.table = table;
  e.op = op;
  if (op != Op::kCommit && op != Op::kTruncate) e.key_columns = {"id"};
  return e;
}

ChangeEvent Insert(const std::string& source, uint64_t lsn, uint64_t ord, const std::string& id,
                   const std::string& hours, const std::string& table = "time_entries") {
  ChangeEvent e = Change(source, lsn, ord, Op::kInsert, table);
  e.after = {Text("id", id), Text("hours", hours)};
  return e;
}

ChangeEvent Commit(const std::string& source, uint64_t lsn, uint64_t ord) {
  ChangeEvent e = Change(source, lsn, ord, Op::kCommit, "");
  e.schema.clear();
  return e;
}

class HttpApplierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/handoff-http-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    journal_ = OpenJournal();
  }
  void TearDown() override {
    journal_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<Journal> OpenJournal() {
    JournalOptions o;
    o.path = dir_;
    o.map_size = 8 << 20;
    auto j = Journal::Open(o);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? std::move(j).value() : nullptr;
  }

  // Journals `events` of one source; returns the last seq.
  uint64_t Append(std::vector<ChangeEvent> events) {
    const std::string source = events.front().source;
    const SourcePosition upto = events.back().position;
    std::vector<AppendBatch> batches{{source, upto, std::move(events)}};
    AppendResult r;
    EXPECT_TRUE(journal_->Append(batches, &r).ok());
    return r.last_seq;
  }

  HttpApplierOptions Options(int64_t timeout_ms = 2000) {
    HttpApplierOptions o;
    o.target.name = kTarget;
    o.target.kind = "http";
    o.target.url = api_.base_url() + "/";  // a trailing '/' is dropped
    o.target.headers = {{"Authorization", "Bearer t0ken"}};
    o.target.timeout_us = timeout_ms * 1000;
    o.routes = {{"psa", "public", "time_entries", kTarget, "", "time_entries"},
                {"crm", "public", "accounts", kTarget, "", "accounts"}};
    o.journal = journal_.get();
    o.min_backoff = milliseconds(20);
    o.max_backoff = milliseconds(200);
    return o;
  }

  std::unique_ptr<HttpApplier> Make(HttpApplierOptions o) {
    auto a = HttpApplier::Create(std::move(o));
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    return a.ok() ? std::move(a).value() : nullptr;
  }

  // Runs `a` on a thread until the journal's applied seq of the target
  // reaches `seq`, then stops it.
  void RunUntilApplied(HttpApplier* a, uint64_t seq, milliseconds timeout = milliseconds(10000)) {
    Status result;
    std::thread t([&] { result = a->Run(); });
    const auto deadline = Clock::now() + timeout;
    while (a->counters().applied_seq.load() < seq && Clock::now() < deadline)
      std::this_thread::sleep_for(milliseconds(5));
    a->Stop();
    t.join();
    EXPECT_TRUE(result.ok()) << result.ToString();
    EXPECT_EQ(a->counters().applied_seq.load(), seq);
    EXPECT_EQ(*journal_->TargetApplied(kTarget), seq);
  }

  std::string dir_;
  std::unique_ptr<Journal> journal_;
  FakeApi api_;
};

TEST_F(HttpApplierTest, SendsChangesInOrderWithMethodPathBodyAndHeaders) {
  ChangeEvent ins = Insert("psa", 0x10, 1, "1", "7.50");
  ins.after.push_back(Text("note", "caf\xc3\xa9 \"x\""));
  ins.after.push_back(Null("approved_at"));
  ChangeEvent upd = Change("psa", 0x20, 1, Op::kUpdate, "time_entries");
  upd.has_before = true;
  upd.before = {Text("id", "1"), Text("hours", "7.50")};
  upd.after = {Text("id", "1"), Text("hours", "8.00")};
  ChangeEvent del = Change("psa", 0x30, 1, Op::kDelete, "time_entries");
  del.has_before = true;
  del.before = {Text("id", "1")};
  Append({ins, Insert("psa", 0x10, 2, "9", "1", "consultants") /* not routed */, Commit("psa", 0x10, 3), upd,
          Commit("psa", 0x20, 2), del, Commit("psa", 0x30, 2)});
  const uint64_t last = Append({Insert("crm", 0x5, 1, "acc-7", "0", "accounts"), Commit("crm", 0x5, 2)});

  auto a = Make(Options());
  RunUntilApplied(a.get(), last);

  const std::vector<Received> got = api_.requests();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].method, "PUT");
  EXPECT_EQ(got[0].path, "/api/time_entries");
  EXPECT_EQ(got[0].body,
            "{\"id\":\"psa:0/10#1:public.time_entries:insert\",\"op\":\"insert\",\"source\":\"psa\","
            "\"position\":\"0/10#1\",\"schema\":\"public\",\"table\":\"time_entries\","
            "\"commit_time_us\":1700000000000000,\"key\":{\"id\":\"1\"},"
            "\"after\":{\"id\":\"1\",\"hours\":\"7.50\",\"note\":\"caf\xc3\xa9 \\\"x\\\"\",\"approved_at\":null}}");
  // SHA-256 of "psa:0/10#1:public.time_entries:insert".
  EXPECT_EQ(got[0].idempotency_key, "94aa1dfaf725f0db8e19105d282e20193dd9a4c06ddfc827421af2e9b313147e");
  EXPECT_EQ(got[1].method, "PUT");
  EXPECT_EQ(got[1].path, "/api/time_entries");
  EXPECT_EQ(got[1].body,
            "{\"id\":\"psa:0/20#1:public.time_entries:update\",\"op\":\"update\",\"source\":\"psa\","
            "\"position\":\"0/20#1\",\"schema\":\"public\",\"table\":\"time_entries\","
            "\"commit_time_us\":1700000000000000,\"key\":{\"id\":\"1\"},"
            "\"before\":{\"id\":\"1\",\"hours\":\"7.50\"},\"after\":{\"id\":\"1\",\"hours\":\"8.00\"}}");
  EXPECT_EQ(got[2].method, "DELETE");
  EXPECT_EQ(got[2].path, "/api/time_entries");
  EXPECT_EQ(got[2].body,
            "{\"id\":\"psa:0/30#1:public.time_entries:delete\",\"op\":\"delete\",\"source\":\"psa\","
            "\"position\":\"0/30#1\",\"schema\":\"public\",\"table\":\"time_entries\","
            "\"commit_time_us\":1700000000000000,\"key\":{\"id\":\"1\"},\"before\":{\"id\":\"1\"}}");
  EXPECT_EQ(got[3].method, "PUT");
  EXPECT_EQ(got[3].path, "/api/accounts");
  std::set<std::string> keys;
  for (const Received& r : got) {
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(r.origin, "handoff");
    EXPECT_EQ(r.authorization, "Bearer t0ken");
    EXPECT_EQ(r.idempotency_key.size(), 64u);
    EXPECT_EQ(r.remote_port, got[0].remote_port);  // one kept-alive connection
    keys.insert(r.idempotency_key);
  }
  EXPECT_EQ(keys.size(), 4u);
  EXPECT_EQ(a->counters().rows.load(), 4u);
  EXPECT_EQ(a->counters().retries.load(), 0u);
  EXPECT_EQ(api_.duplicates(), 0);
}

TEST_F(HttpApplierTest, TransientFailuresAreRetriedWithTheSameKeyInOrder) {
  // Change 1: 503 twice. Change 2: 429 with Retry-After: 1. Change 3: answered
  // after the client's timeout (the API applied it; the retry is a duplicate).
  api_.SetScript([](const Received& r) {
    Reply reply;
    if (r.body.find("\"id\":\"1\"") != std::string::npos && r.attempt < 2) reply.status = 503;
    if (r.body.find("\"id\":\"2\"") != std::string::npos && r.attempt < 1) {
      reply.status = 429;
      reply.headers = {{"Retry-After", "1"}};
    }
    if (r.body.find("\"id\":\"3\"") != std::string::npos && r.attempt < 1) reply.delay = milliseconds(1200);
    return reply;
  });
  const uint64_t last = Append({Insert("psa", 0x10, 1, "1", "1"), Insert("psa", 0x10, 2, "2", "2"),
                                Insert("psa", 0x10, 3, "3", "3"), Commit("psa", 0x10, 4)});
  auto a = Make(Options(/*timeout_ms=*/400));
  RunUntilApplied(a.get(), last, milliseconds(15000));

  const std::vector<Received> got = api_.requests();
  ASSERT_EQ(got.size(), 7u);  // 3 + 2 + 2
  // Order kept: every attempt of change k comes before any request of change k+1.
  const int expected_change[] = {1, 1, 1, 2, 2, 3, 3};
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_NE(got[i].body.find("\"key\":{\"id\":\"" + std::to_string(expected_change[i]) + "\"}"), std::string::npos)
        << i;
    if (i > 0 && expected_change[i] == expected_change[i - 1]) {
      EXPECT_EQ(got[i].idempotency_key, got[i - 1].idempotency_key) << i;
      EXPECT_EQ(got[i].body, got[i - 1].body) << i;
    }
  }
  EXPECT_GE(got[4].at - got[3].at, milliseconds(950));  // Retry-After: 1 honoured
  // Every change applied exactly once, in order; the timed-out one's retry was
  // recognised by its key.
  const std::vector<std::string> applied = api_.applied_keys();
  ASSERT_EQ(applied.size(), 3u);
  EXPECT_EQ(applied[0], got[0].idempotency_key);
  EXPECT_EQ(applied[1], got[3].idempotency_key);
  EXPECT_EQ(applied[2], got[5].idempotency_key);
  EXPECT_EQ(api_.duplicates(), 1);
  EXPECT_EQ(a->counters().retries.load(), 4u);
  EXPECT_EQ(a->counters().rows.load(), 3u);
  EXPECT_EQ(a->counters().exceptions.load(), 0u);
}

TEST_F(HttpApplierTest, PermanentRefusalIsParkedAndTheRestFlows) {
  api_.SetScript([](const Received& r) {
    Reply reply;
    if (r.body.find("\"key\":{\"id\":\"2\"}") != std::string::npos) {
      reply.status = 422;
      reply.body = "{\"error\":\"hours must be positive\"}";
    }
    if (r.body.find("\"key\":{\"id\":\"4\"}") != std::string::npos) {
      reply.status = 400;
      reply.body = "bad request";
    }
    return reply;
  });
  ChangeEvent trunc = Change("psa", 0x20, 1, Op::kTruncate, "time_entries");
  const uint64_t last = Append({Insert("psa", 0x10, 1, "1", "1"), Insert("psa", 0x10, 2, "2", "-3"),
                                Insert("psa", 0x10, 3, "3", "3"), Commit("psa", 0x10, 4), trunc, Commit("psa", 0x20, 2),
                                Insert("psa", 0x30, 1, "4", "4"), Commit("psa", 0x30, 2)});
  const uint64_t seq_422 = last - 6, seq_truncate = last - 3, seq_400 = last - 1;
  auto a = Make(Options());
  RunUntilApplied(a.get(), last);

  const std::vector<Received> got = api_.requests();
  ASSERT_EQ(got.size(), 4u);  // the truncate is not sent; nothing is retried
  EXPECT_EQ(api_.applied_keys().size(), 2u);
  EXPECT_EQ(a->counters().exceptions.load(), 3u);
  EXPECT_EQ(a->counters().retries.load(), 0u);

  auto ex = journal_->GetException(kTarget, seq_422);
  ASSERT_TRUE(ex.ok() && ex->has_value());
  const ExceptionRecord& r = **ex;
  EXPECT_EQ(r.code, "http_422");
  EXPECT_EQ(r.state, ExceptionState::kOpen);
  EXPECT_NE(r.reason.find("HTTP 422"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("hours must be positive"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("PUT " + api_.base_url() + "/time_entries"), std::string::npos) << r.reason;
  EXPECT_EQ(r.new_image, got[1].body);

  auto ex400 = journal_->GetException(kTarget, seq_400);
  ASSERT_TRUE(ex400.ok() && ex400->has_value());
  EXPECT_EQ((*ex400)->code, "http_400");
  EXPECT_NE((*ex400)->reason.find("bad request"), std::string::npos);

  auto ext = journal_->GetException(kTarget, seq_truncate);
  ASSERT_TRUE(ext.ok() && ext->has_value());
  EXPECT_EQ((*ext)->code, "unsupported");
  EXPECT_NE((*ext)->reason.find("truncate"), std::string::npos);
}

// max_in_flight: the changes of a read go out over several connections at
// once, each row's changes on one connection in journal order; every change
// is sent once and the position reaches the last entry.
TEST_F(HttpApplierTest, SeveralRequestsInFlightKeepEachRowsOrder) {
  constexpr int kRows = 8, kVersions = 6;
  std::vector<ChangeEvent> events;
  uint64_t ord = 0;
  for (int v = 1; v <= kVersions; ++v)
    for (int r = 1; r <= kRows; ++r) events.push_back(Insert("psa", 0x30, ++ord, std::to_string(r), std::to_string(v)));
  events.push_back(Commit("psa", 0x30, ++ord));
  const uint64_t last = Append(std::move(events));
  constexpr milliseconds kDelay{30};
  api_.SetScript([&](const Received&) {
    Reply reply;
    reply.delay = kDelay;  // a slow API: sequential requests arrive at least this far apart
    return reply;
  });
  HttpApplierOptions o = Options();
  o.target.max_in_flight = 4;
  auto a = Make(std::move(o));
  RunUntilApplied(a.get(), last, milliseconds(30000));

  const std::vector<Received> got = api_.requests();
  ASSERT_EQ(got.size(), static_cast<size_t>(kRows * kVersions));
  std::set<std::string> keys;
  std::set<int> ports;
  std::map<std::string, std::vector<std::string>> bodies;  // per row, in arrival order
  for (const Received& r : got) {
    keys.insert(r.idempotency_key);
    ports.insert(r.remote_port);
    const size_t at = r.body.find("\"key\":{\"id\":\"");
    bodies[at == std::string::npos ? r.body : r.body.substr(at, r.body.find('}', at) - at)].push_back(r.body);
  }
  EXPECT_EQ(keys.size(), got.size()) << "a change was sent twice";
  EXPECT_GE(ports.size(), 2u) << "one connection only";
  ASSERT_EQ(bodies.size(), static_cast<size_t>(kRows));
  for (const auto& [path, list] : bodies) {
    ASSERT_EQ(list.size(), static_cast<size_t>(kVersions)) << path;
    for (int v = 1; v <= kVersions; ++v)
      EXPECT_NE(list[v - 1].find("\"hours\":\"" + std::to_string(v) + "\""), std::string::npos)
          << path << " version " << v << " arrived out of order: " << list[v - 1];
  }
  // In flight at once: two requests from different connections arrived
  // closer together than the API's delay, which one connection cannot do.
  bool overlapped = false;
  for (size_t i = 0; i < got.size() && !overlapped; ++i)
    for (size_t j = i + 1; j < got.size() && !overlapped; ++j)
      overlapped = got[i].remote_port != got[j].remote_port &&
                   (got[j].at > got[i].at ? got[j].at - got[i].at : got[i].at - got[j].at) < kDelay / 2;
  EXPECT_TRUE(overlapped) << "no two requests were in flight at once";
}

TEST_F(HttpApplierTest, RestartContinuesFromTheAppliedSeqWithoutResending) {
  uint64_t last = Append({Insert("psa", 0x10, 1, "1", "1"), Insert("psa", 0x10, 2, "2", "2"), Commit("psa", 0x10, 3)});
  {
    auto a = Make(Options());
    RunUntilApplied(a.get(), last);
  }
  // Change 3 fails transiently until the API recovers; the applier is stopped
  // in between, so its outcome is not final and it must be sent again.
  bool down = true;
  std::mutex mu;
  api_.SetScript([&](const Received&) {
    std::lock_guard<std::mutex> lock(mu);
    Reply reply;
    if (down) reply.status = 503;
    return reply;
  });
  const uint64_t before = last;
  last = Append({Insert("psa", 0x20, 1, "3", "3"), Insert("psa", 0x20, 2, "4", "4"), Commit("psa", 0x20, 3)});
  {
    auto a = Make(Options());
    Status result;
    std::thread t([&] { result = a->Run(); });
    ASSERT_TRUE(api_.WaitForRequests(4, milliseconds(5000)));
    a->Stop();
    t.join();
    EXPECT_TRUE(result.ok());
    EXPECT_EQ(*journal_->TargetApplied(kTarget), before);  // change 3 not final: not past it
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    down = false;
  }
  journal_.reset();  // a real restart: the journal is reopened
  journal_ = OpenJournal();
  auto a = Make(Options());
  RunUntilApplied(a.get(), last);

  const std::vector<Received> got = api_.requests();
  std::set<std::string> distinct;
  for (const Received& r : got) distinct.insert(r.idempotency_key);
  EXPECT_EQ(distinct.size(), 4u);
  EXPECT_EQ(api_.applied_keys().size(), 4u);
  EXPECT_EQ(api_.duplicates(), 0);
  // Changes 1 and 2 were sent once; change 3 after the restart with its key.
  EXPECT_EQ(got[0].attempt, 0);
  EXPECT_EQ(got[1].attempt, 0);
  EXPECT_EQ(api_.applied_keys()[2], got[2].idempotency_key);
  EXPECT_EQ(a->counters().rows.load(), 2u);  // this run: changes 3 and 4 only
}

// Waits until `cond` holds or 10 s pass; returns whether it held.
bool WaitFor(const std::function<bool()>& cond) {
  const auto deadline = Clock::now() + milliseconds(10000);
  while (!cond() && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  return cond();
}

TEST_F(HttpApplierTest, OperatorHoldsStopTheSenderAndResumeSendsEachChangeOnceInOrder) {
  uint64_t last = Append({Insert("crm", 0x5, 1, "acc-1", "0", "accounts"), Commit("crm", 0x5, 2)});
  const uint64_t before_route = last;
  Append({Insert("psa", 0x10, 1, "1", "1"), Commit("psa", 0x10, 2)});
  Append({Insert("crm", 0x6, 1, "acc-2", "0", "accounts"), Commit("crm", 0x6, 2)});
  OperatorHold route_hold;
  route_hold.route = "psa.public.time_entries";
  route_hold.actor = "ana";
  route_hold.note = "reindex";
  ASSERT_TRUE(PutTargetHold(journal_.get(), kTarget, route_hold).ok());

  auto a = Make(Options());
  Status result;
  std::thread t([&] { result = a->Run(); });
  // The route's first change stops the sender: what came before is sent.
  ASSERT_TRUE(WaitFor([&] { return a->counters().health.Get().state == HealthState::kPaused; }));
  EXPECT_EQ(a->counters().health.Get().reason,
            "paused by ana (reindex): route psa.public.time_entries (the target waits at its first change)");
  EXPECT_EQ(*journal_->TargetApplied(kTarget), before_route);
  last = Append({Insert("crm", 0x7, 1, "acc-3", "0", "accounts"), Commit("crm", 0x7, 2)});
  // A whole-target hold on top; lifting the route's keeps the sender held.
  OperatorHold whole;
  whole.actor = "bo";
  ASSERT_TRUE(PutTargetHold(journal_.get(), kTarget, whole).ok());
  bool existed = false;
  ASSERT_TRUE(ClearTargetHold(journal_.get(), kTarget, route_hold.route, &existed).ok());
  EXPECT_TRUE(existed);
  ASSERT_TRUE(WaitFor([&] { return a->counters().health.Get().reason == "paused by bo: the whole target"; }))
      << a->counters().health.Get().reason;
  EXPECT_EQ(api_.requests().size(), 1u) << "nothing from the held change on is sent";
  ASSERT_TRUE(ClearTargetHold(journal_.get(), kTarget, "", &existed).ok());
  ASSERT_TRUE(WaitFor([&] { return a->counters().applied_seq.load() >= last; }));
  a->Stop();
  t.join();
  EXPECT_TRUE(result.ok()) << result.ToString();

  const std::vector<Received> got = api_.requests();
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].path, "/api/accounts");
  EXPECT_EQ(got[1].path, "/api/time_entries");
  EXPECT_EQ(got[2].path, "/api/accounts");
  EXPECT_EQ(got[3].path, "/api/accounts");
  EXPECT_EQ(api_.duplicates(), 0);
  EXPECT_EQ(*journal_->TargetApplied(kTarget), last);
}

TEST_F(HttpApplierTest, ReplayResendsWithTheSameKeysAndKeepsThePosition) {
  const uint64_t last = Append({Insert("psa", 0x10, 1, "1", "1"), Insert("psa", 0x10, 2, "2", "2"),
                                Commit("psa", 0x10, 3), Insert("psa", 0x20, 1, "3", "3"), Commit("psa", 0x20, 2)});
  {
    auto a = Make(Options());
    RunUntilApplied(a.get(), last);
  }
  const std::vector<Received> first = api_.requests();
  ASSERT_EQ(first.size(), 3u);

  HttpApplierOptions o = Options();
  o.replay_from_seq = 2;
  auto replay = Make(o);
  ASSERT_TRUE(replay->Run().ok());  // returns by itself once caught up

  const std::vector<Received> all = api_.requests();
  ASSERT_EQ(all.size(), 5u);  // seq 2 and seq 4 again
  EXPECT_EQ(all[3].idempotency_key, first[1].idempotency_key);
  EXPECT_EQ(all[3].body, first[1].body);
  EXPECT_EQ(all[4].idempotency_key, first[2].idempotency_key);
  EXPECT_EQ(all[4].body, first[2].body);
  EXPECT_EQ(api_.applied_keys().size(), 3u);
  EXPECT_EQ(api_.duplicates(), 2);
  EXPECT_EQ(*journal_->TargetApplied(kTarget), last);  // never moved back
}

TEST_F(HttpApplierTest, StopDuringBackoffReturnsPromptly) {
  api_.SetScript([](const Received&) { return Reply{503, "down", {}, milliseconds(0)}; });
  Append({Insert("psa", 0x10, 1, "1", "1"), Commit("psa", 0x10, 2)});
  HttpApplierOptions o = Options();
  o.min_backoff = o.max_backoff = milliseconds(30000);
  auto a = Make(o);
  Status result;
  std::thread t([&] { result = a->Run(); });
  ASSERT_TRUE(api_.WaitForRequests(1, milliseconds(5000)));
  while (a->counters().retries.load() == 0) std::this_thread::sleep_for(milliseconds(5));
  std::this_thread::sleep_for(milliseconds(50));  // inside the 30 s backoff
  const auto t0 = Clock::now();
  a->Stop();
  t.join();
  EXPECT_LT(Clock::now() - t0, milliseconds(500));
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(api_.requests().size(), 1u);
  EXPECT_EQ(*journal_->TargetApplied(kTarget), 0u);
}

TEST_F(HttpApplierTest, StopDuringASlowRequestReturnsPromptly) {
  api_.SetScript([](const Received&) { return Reply{200, "{}", {}, milliseconds(20000)}; });
  Append({Insert("psa", 0x10, 1, "1", "1"), Commit("psa", 0x10, 2)});
  auto a = Make(Options(/*timeout_ms=*/30000));
  Status result;
  std::thread t([&] { result = a->Run(); });
  ASSERT_TRUE(api_.WaitForRequests(1, milliseconds(5000)));
  const auto t0 = Clock::now();
  a->Stop();
  t.join();
  EXPECT_LT(Clock::now() - t0, milliseconds(500));
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(*journal_->TargetApplied(kTarget), 0u);  // outcome unknown: resent next time
  api_.Release();
}

TEST_F(HttpApplierTest, ConnectionRefusedIsTransient) {
  Append({Insert("psa", 0x10, 1, "1", "1"), Commit("psa", 0x10, 2)});
  HttpApplierOptions o = Options();
  o.target.url = "http://127.0.0.1:1/api";  // nothing listens on port 1
  auto a = Make(o);
  Status result;
  std::thread t([&] { result = a->Run(); });
  const auto deadline = Clock::now() + milliseconds(5000);
  while (a->counters().retries.load() < 3 && Clock::now() < deadline) std::this_thread::sleep_for(milliseconds(5));
  a->Stop();
  t.join();
  EXPECT_TRUE(result.ok());
  EXPECT_GE(a->counters().retries.load(), 3u);
  EXPECT_EQ(a->counters().exceptions.load(), 0u);  // never parked for a transport failure
  EXPECT_EQ(*journal_->TargetApplied(kTarget), 0u);
}

TEST_F(HttpApplierTest, CreateRejectsBadConfiguration) {
  HttpApplierOptions o = Options();
  o.target.url = "ftp://example.com/api";
  EXPECT_EQ(HttpApplier::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.target.headers = {{"X-Evil", "a\r\nInjected: yes"}};
  EXPECT_EQ(HttpApplier::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.target.headers = {{"Idempotency-Key", "fixed"}};
  EXPECT_EQ(HttpApplier::Create(o).status().code(), StatusCode::kInvalidArgument);
  o = Options();
  o.journal = nullptr;
  EXPECT_EQ(HttpApplier::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace handoff
