// HttpApplier: the apply loop of one HTTP target.
//
// Order and position. Changes are sent in journal order, one at a time per
// connection; with `max_in_flight` above 1 the routed changes of one journal
// read are spread over that many connections by row key (the changes of a
// row always on the same one, in order), and the next read waits until every
// change of this one is final: a 2xx, or parked in the exception queue after
// a permanent refusal. Then the journal's applied position of the target
// (SetTargetApplied) moves past the read's final prefix, once per read, not
// per change. A transient failure retries the very same request (same body,
// same Idempotency-Key) with backoff and never moves past it. A crash or
// Stop() before the position is recorded therefore re-sends the changes of
// that read on restart, with the same keys: the API's idempotency handling
// turns each repeat into a no-op. An API holds no transactions, so a source
// transaction is applied change by change; a restart may continue in the
// middle of one, which is harmless for the same reason.
//
// Entries not routed to this target (other tables, commit markers, messages)
// only advance the position.
//
// Operator holds (`handoff pause`, HoldWatch). Before each entry the running
// sender checks its holds: a whole-target hold, or a hold of the route of the
// entry, ends the read there: what came before is sent and recorded, and it
// waits until the hold is gone. Every entry before was final, so order across
// routes and the single delivery per change are as without the hold.
#include "handoff/apply/http_applier.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>

#include "applier_loop.h"
#include "change_request.h"
#include "hold_watch.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/event_json.h"
#include "handoff/engine/log.h"
#include "handoff/engine/retry_loop.h"
#include "http_client.h"
#include "http_status.h"
#include "row_op.h"

namespace handoff {
namespace {

using apply::ChangeRequest;
using apply::HttpClient;
using apply::HttpOutcome;
using apply::HttpRequest;
using apply::HttpResponse;

constexpr size_t kReadBatch = 500;                   // journal entries per read
constexpr std::chrono::milliseconds kPoll{100};      // WaitFor timeout: bounds Stop() latency
constexpr std::chrono::seconds kMaxRetryAfter{300};  // cap on a server's Retry-After
constexpr size_t kMaxReasonBody = 4096;              // response bytes kept in an exception

bool IEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// At most `max` bytes of `s`, not cutting a UTF-8 sequence.
std::string Truncated(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  return s.substr(0, cut) + "... (" + std::to_string(s.size()) + " bytes)";
}

// One connection and its retries; with max_in_flight > 1 each runs on a thread of its own.
struct Sender {
  std::unique_ptr<HttpClient> client;
  // The retries of one change: backoff from min_backoff for each change; the
  // log summarises repeated delivery failures across changes (RetryLog).
  std::unique_ptr<RetryLoop> loop;
};

// A routed entry of one read and, once sent, its outcome.
struct Item {
  const JournalEntry* entry;
  const RouteConfig* route;
  Status outcome = Status::Cancelled("not sent");  // until sent
  bool final = false;
};

class HttpApplierImpl final : public HttpApplier {
 public:
  HttpApplierImpl(HttpApplierOptions o, std::vector<std::unique_ptr<HttpClient>> clients, std::string base_url,
                  std::vector<std::string> headers)
      : opts_(std::move(o)),
        base_url_(std::move(base_url)),
        headers_(std::move(headers)),
        holds_(opts_.journal, opts_.target.name) {
    for (auto& c : clients) {
      Sender s;
      s.client = std::move(c);
      s.loop = std::make_unique<RetryLoop>(
          apply::ApplierLoopOptions(opts_.target.name, opts_.min_backoff, opts_.max_backoff, &counters_.health),
          &stop_);
      senders_.push_back(std::move(s));
    }
    for (const RouteConfig& r : opts_.routes)
      if (r.to_target == opts_.target.name) routes_[{r.from_source, r.from_schema, r.from_table}] = r;
  }

  Status Run() override;
  void Stop() override {
    stop_.RequestStop();
    for (Sender& s : senders_) s.client->Interrupt();
  }
  const ApplyCounters& counters() const override { return counters_; }

 private:
  // Sends one routed change until its outcome is final. OK when delivered or
  // parked; kCancelled when stopped first; another error ends Run().
  Status Deliver(Sender& sender, const JournalEntry& entry, const RouteConfig& route);
  // Sends the items of one read, over every sender by row key; each item's
  // outcome is set. Returns when every sender is done with its share.
  void Send(std::vector<Item>& items);
  // Parks the change; retries the journal write until it holds or Stop().
  Status Park(const JournalEntry& entry, const std::string& code, const std::string& reason,
              const std::string& request_body);
  // Moves the journal's applied position of the target to `seq` (never back).
  void RecordApplied(uint64_t seq);
  // The operator hold that stops the sender before `entry`, if any.
  const OperatorHold* HoldBefore(const JournalEntry& entry);
  // Waits until `hold` (and any whole-target hold) is gone, or Stop().
  void WaitHeld(OperatorHold hold, uint64_t seq);
  // Waits `d` unless stopped first; returns false when stopped.
  bool Sleep(std::chrono::milliseconds d) { return !stop_.WaitFor(d); }
  bool stopping() const { return stop_.stop_requested(); }
  Backoff NewBackoff() const { return Backoff(opts_.min_backoff, opts_.max_backoff); }

  HttpApplierOptions opts_;
  std::vector<Sender> senders_;             // max_in_flight of them
  const std::string base_url_;              // without a trailing '/'
  const std::vector<std::string> headers_;  // configured + Content-Type + X-Handoff-Origin
  ApplyCounters counters_;
  std::map<std::tuple<std::string, std::string, std::string>, RouteConfig> routes_;

  StopToken stop_;
  std::mutex park_mu_;     // on_parked is called from one sender at a time
  uint64_t recorded_ = 0;  // applied seq as last written to the journal
  apply::HoldWatch holds_;
};

Status HttpApplierImpl::Run() {
  const std::string& name = opts_.target.name;
  for (Backoff backoff = NewBackoff();;) {
    auto applied = opts_.journal->TargetApplied(name);
    if (applied.ok()) {
      recorded_ = *applied;
      break;
    }
    if (!applied.status().IsUnavailable()) return applied.status();
    if (!Sleep(backoff.Next())) return Status::OK();
  }
  const bool replay = opts_.replay_from_seq.has_value();
  std::set<uint64_t> only = opts_.only_seqs;  // empty: every entry
  if (opts_.only_seq) only.insert(*opts_.only_seq);
  const uint64_t replay_end = !replay ? 0 : !only.empty() ? *only.rbegin() : opts_.journal->LastSeq();
  uint64_t next = replay ? std::max<uint64_t>(1, *opts_.replay_from_seq) : recorded_ + 1;
  counters_.applied_seq.store(recorded_);
  counters_.health.Set(HealthState::kApplying);
  LogInfo("apply", "target {}: sending to {} from seq {}{}", name, base_url_, next,
          replay ? fmt::format(" (replay through seq {})", replay_end) : std::string());

  std::vector<JournalEntry> entries;
  Backoff read_backoff = NewBackoff();
  while (!stopping()) {
    if (replay && next > replay_end) {
      LogInfo("apply", "target {}: replay done through seq {}", name, replay_end);
      break;
    }
    entries.clear();
    Status st = opts_.journal->Read(next, kReadBatch, &entries);
    if (!st.ok()) {
      if (!st.IsUnavailable()) {
        LogError("apply", "target {}: cannot read the journal: {}; apply stopped", name, st.message());
        return st;
      }
      counters_.retries.fetch_add(1);
      if (!Sleep(read_backoff.Next())) break;
      continue;
    }
    read_backoff.Reset();
    if (entries.empty()) {
      opts_.journal->WaitFor(next, kPoll);
      continue;
    }
    // The read's entries up to a hold (or the end): the routed ones are sent
    // together, then the position moves past what became final.
    std::vector<Item> items;
    std::vector<JournalEntry> replaced;  // an operator's image of the one entry retried
    replaced.reserve(1);
    uint64_t upto = next - 1;             // last entry of the read taken
    std::optional<OperatorHold> hold;
    for (const JournalEntry& e : entries) {
      if (stopping() || (replay && e.seq > replay_end)) break;
      if (e.seq < next) continue;  // defensive: never send twice in a run
      if (!replay) {
        if (const OperatorHold* h = HoldBefore(e)) {
          hold = *h;
          break;  // sent after the hold is gone: this entry first
        }
      }
      upto = e.seq;
      if (!only.empty() && only.count(e.seq) == 0) continue;
      const JournalEntry* entry = &e;
      if (opts_.only_seq && opts_.replacement) {
        replaced.push_back(JournalEntry{e.seq, e.journaled_at_us, *opts_.replacement});
        entry = &replaced.back();
      }
      const ChangeEvent& ev = entry->event;
      auto it = routes_.find({ev.source, ev.schema, ev.table});
      if (it != routes_.end() && ev.op != Op::kCommit && ev.op != Op::kMessage && ev.op != Op::kSchema)
        items.push_back(Item{entry, &it->second});
    }
    Send(items);
    // The final prefix: up to the first routed entry that is not final.
    uint64_t done = upto;
    Status failed = Status::OK();
    for (const Item& item : items) {
      if (item.final) continue;
      done = std::min(done, item.entry->seq - 1);
      if (failed.ok() && item.outcome.code() != StatusCode::kCancelled) failed = item.outcome;
    }
    next = done + 1;
    RecordApplied(done);
    if (!failed.ok()) return failed;
    if (done < upto) break;  // stopped before everything was final: resent on the next run
    if (hold) WaitHeld(*hold, next);
  }
  return Status::OK();
}

void HttpApplierImpl::Send(std::vector<Item>& items) {
  if (items.empty()) return;
  auto run = [&](Sender& sender, const std::vector<size_t>& mine) {
    for (size_t i : mine) {
      Item& item = items[i];
      item.outcome = Deliver(sender, *item.entry, *item.route);
      item.final = item.outcome.ok();
      if (!item.final) break;  // not final: nothing after it on this connection either
    }
  };
  const size_t lanes = std::min(senders_.size(), items.size());
  std::vector<std::vector<size_t>> share(lanes);
  if (lanes == 1) {
    share[0].resize(items.size());
    for (size_t i = 0; i < items.size(); ++i) share[0][i] = i;
    run(senders_[0], share[0]);
    return;
  }
  // By row: the resource and the key's values.
  for (size_t i = 0; i < items.size(); ++i) {
    const ChangeEvent& ev = items[i].entry->event;
    std::string row = items[i].route->to_table;
    for (const std::string& k : ev.key_columns) {
      const Column* c = ev.FindAfter(k);
      if (c == nullptr) c = ev.FindBefore(k);
      row += '\0';
      if (c != nullptr) row += c->data;
    }
    share[std::hash<std::string>()(row) % lanes].push_back(i);
  }
  std::vector<std::thread> threads;
  for (size_t l = 1; l < lanes; ++l)
    if (!share[l].empty()) threads.emplace_back(run, std::ref(senders_[l]), std::cref(share[l]));
  run(senders_[0], share[0]);
  for (std::thread& t : threads) t.join();
}


const OperatorHold* HttpApplierImpl::HoldBefore(const JournalEntry& entry) {
  holds_.Refresh();
  if (const OperatorHold* h = holds_.target_hold()) return h;
  if (!holds_.any_route_held()) return nullptr;
  const ChangeEvent& ev = entry.event;
  if (ev.op == Op::kCommit || ev.op == Op::kMessage) return nullptr;
  auto it = routes_.find({ev.source, ev.schema, ev.table});
  return it == routes_.end() ? nullptr : holds_.route_hold(apply::RouteFrom(it->second));
}

void HttpApplierImpl::WaitHeld(OperatorHold hold, uint64_t seq) {
  const std::string& name = opts_.target.name;
  const std::string route = hold.route;
  while (!stopping()) {
    holds_.Refresh(true);
    const OperatorHold* h = holds_.target_hold();
    if (h == nullptr && !route.empty()) h = holds_.route_hold(route);
    if (h == nullptr) break;
    if (counters_.health.Set(HealthState::kPaused, apply::HoldWatch::Describe(*h)))
      LogInfo("apply", "target {}: {}; nothing from seq {} on is sent until `handoff resume`", name,
              apply::HoldWatch::Describe(*h), seq);
    if (!Sleep(apply::kHoldRefresh)) return;
  }
  if (stopping()) return;
  counters_.health.Set(HealthState::kApplying);
  LogInfo("apply", "target {}: operator hold lifted; sending from seq {}", name, seq);
}

Status HttpApplierImpl::Deliver(Sender& sender, const JournalEntry& entry, const RouteConfig& route) {
  const ChangeEvent& ev = entry.event;
  if (ev.op == Op::kTruncate)
    return Park(
        entry, "unsupported",
        fmt::format("a truncate of {}.{} (source {} at {}) is not sent to http target {}: an API has no "
                    "safe equivalent; empty {} by hand if intended",
                    ev.schema, ev.table, ev.source, FormatPosition(ev.position), opts_.target.name, route.to_table),
        "");
  if (Status text = apply::CheckJsonText(ev); !text.ok())
    return Park(entry, "invalid_bytes",
                fmt::format("could not send the {} of {}.{} key {} (source {} at {}) to {}: {}", OpName(ev.op),
                            ev.schema, ev.table, apply::DescribeKey(nullptr, ev), ev.source,
                            FormatPosition(ev.position), opts_.target.name, text.message()),
                "");
  ChangeRequest cr;
  Status built = apply::BuildChangeRequest(ev, route.to_table, &cr);
  if (!built.ok()) {
    if (built.code() != StatusCode::kPermanent) return built;
    return Park(entry, "invalid_change",
                fmt::format("could not send the {} of {}.{} (source {} at {}) to {}: {}", OpName(ev.op), ev.schema,
                            ev.table, ev.source, FormatPosition(ev.position), opts_.target.name, built.message()),
                "");
  }
  HttpRequest req{cr.method, base_url_ + "/" + cr.resource, headers_, std::move(cr.body)};
  req.headers.push_back("Idempotency-Key: " + cr.idempotency_key);

  RetryLoop& loop = *sender.loop;
  loop.backoff().Reset();
  while (true) {
    if (stopping()) return Status::Cancelled("stopped");
    HttpResponse resp;
    Status st = sender.client->Send(req, &resp);
    if (st.code() == StatusCode::kCancelled) return st;
    SessionEnd failed;
    failed.detail = fmt::format("seq {} {} {}", entry.seq, req.method, req.url);
    if (st.ok()) {
      switch (apply::ClassifyHttpStatus(resp.status)) {
        case HttpOutcome::kDone:
          counters_.rows.fetch_add(1);
          counters_.transactions.fetch_add(1);
          LogDebug("apply", "target {}: seq {} {} {} -> {}", opts_.target.name, entry.seq, req.method, req.url,
                   resp.status);
          counters_.health.Set(HealthState::kApplying);
          loop.Succeeded();
          return Status::OK();
        case HttpOutcome::kPermanent:
          return Park(entry, fmt::format("http_{}", resp.status),
                      fmt::format("{} refused the {} of {}.{} key {} (source {} at {}): {} {} -> HTTP {}: {}",
                                  opts_.target.name, OpName(ev.op), ev.schema, ev.table,
                                  apply::DescribeKey(nullptr, ev), ev.source, FormatPosition(ev.position), req.method,
                                  req.url, resp.status, Truncated(resp.body, kMaxReasonBody)),
                      req.body);
        case HttpOutcome::kTransient:
          failed.status = Status::Unavailable(fmt::format("HTTP {}", resp.status));
          if (resp.retry_after) {
            auto delay =
                std::chrono::duration_cast<std::chrono::milliseconds>(std::min(*resp.retry_after, kMaxRetryAfter));
            failed.delay = std::max(delay, opts_.min_backoff);
          }
          break;
      }
    } else if (st.IsUnavailable()) {
      failed.status = st;
    } else {
      failed.status = st;
      failed.failure = FailureClass::kFatal;
      failed.detail.clear();
      loop.Failed(failed);
      return st;
    }
    counters_.retries.fetch_add(1);
    // Retrying: the first failure of a cause and a summary per doubling of the tries.
    if (!loop.Failed(failed)) return Status::Cancelled("stopped");
  }
}

Status HttpApplierImpl::Park(const JournalEntry& entry, const std::string& code, const std::string& reason,
                             const std::string& request_body) {
  const ChangeEvent& ev = entry.event;
  ExceptionRecord r;
  r.target = opts_.target.name;
  r.seq = entry.seq;
  r.code = code;
  r.reason = reason;
  if (ev.has_before) r.old_image = ImageToJson(ev.before);
  r.new_image = !request_body.empty() ? request_body : ev.after.empty() ? std::string() : ImageToJson(ev.after);
  r.state = ExceptionState::kOpen;
  r.created_us = r.updated_us = NowMicros();
  // The change may only be skipped once it is safely parked.
  for (Backoff backoff = NewBackoff();;) {
    Status st = opts_.journal->PutException(r);
    if (st.ok()) break;
    LogWarn("apply", "target {}: cannot park seq {}: {}; retrying", opts_.target.name, entry.seq, st.message());
    if (!Sleep(backoff.Next())) return Status::Cancelled("stopped");
  }
  counters_.exceptions.fetch_add(1);
  if (opts_.on_parked) {
    std::lock_guard<std::mutex> lock(park_mu_);
    opts_.on_parked(entry.seq, code);
  }
  LogWarn("apply", "target {}: parked seq {} [{}]: {}", opts_.target.name, entry.seq, code, reason);
  return Status::OK();
}

void HttpApplierImpl::RecordApplied(uint64_t seq) {
  if (seq <= recorded_) return;  // also keeps a replay from moving the position back
  Status st = opts_.journal->SetTargetApplied(opts_.target.name, seq);
  if (!st.ok()) {
    // Not fatal: the next write carries a higher seq; a restart meanwhile
    // re-sends with the same Idempotency-Keys.
    LogWarn("apply", "target {}: cannot record applied seq {}: {}", opts_.target.name, seq, st.message());
    return;
  }
  recorded_ = seq;
  counters_.applied_seq.store(seq);
}

bool ValidHeaderPart(const std::string& s) { return s.find_first_of("\r\n") == std::string::npos; }

}  // namespace

Result<std::unique_ptr<HttpApplier>> HttpApplier::Create(HttpApplierOptions options) {
  const HttpTargetConfig& t = options.target;
  if (options.journal == nullptr) return Status::InvalidArgument("HttpApplier needs a journal");
  if (t.name.empty()) return Status::InvalidArgument("HttpApplier needs a target name");
  std::string url = t.url;
  const std::string scheme = url.substr(0, url.find("://") == std::string::npos ? 0 : url.find("://"));
  if (!IEquals(scheme, "http") && !IEquals(scheme, "https"))
    return Status::InvalidArgument("target " + t.name + ": url must start with http:// or https://, got '" + url + "'");
  while (!url.empty() && url.back() == '/') url.pop_back();
  for (const RouteConfig& r : options.routes)
    if (r.to_target == t.name && r.to_table.empty())
      return Status::InvalidArgument("target " + t.name + ": a route from " + r.from_source + "." + r.from_schema +
                                     "." + r.from_table + " names no resource");

  std::vector<std::string> headers;
  bool content_type = false;
  for (const auto& [name, value] : t.headers) {
    if (name.empty() || name.find(':') != std::string::npos || !ValidHeaderPart(name) || !ValidHeaderPart(value))
      return Status::InvalidArgument("target " + t.name + ": invalid header '" + name + "'");
    if (IEquals(name, "Idempotency-Key") || IEquals(name, "X-Handoff-Origin"))
      return Status::InvalidArgument("target " + t.name + ": header " + name + " is set by handoff");
    content_type = content_type || IEquals(name, "Content-Type");
    headers.push_back(name + ": " + value);
  }
  if (!content_type) headers.push_back("Content-Type: application/json");
  // Marks the engine's own writes, so a webhook source fed by the same
  // platform can skip the echoes.
  headers.push_back("X-Handoff-Origin: handoff");

  const auto timeout = std::chrono::milliseconds(std::max<int64_t>(1, t.timeout_us / 1000));
  if (t.max_in_flight < 1 || t.max_in_flight > 256)
    return Status::InvalidArgument("target " + t.name + ": max_in_flight must be between 1 and 256");
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (uint64_t i = 0; i < t.max_in_flight; ++i) {
    auto client = apply::HttpClient::Create(timeout);
    if (!client.ok()) return client.status();
    clients.push_back(std::move(client).value());
  }
  return std::unique_ptr<HttpApplier>(
      new HttpApplierImpl(std::move(options), std::move(clients), std::move(url), std::move(headers)));
}

}  // namespace handoff
