// HttpApplier: the apply loop of one HTTP target.
//
// Order and position. Changes are sent one at a time, in journal order; the
// next change is not sent before the previous one's outcome is final: a 2xx,
// or parked in the exception queue after a permanent refusal. Only then is the
// journal's applied position of the target (SetTargetApplied) moved past it.
// A transient failure retries the very same request (same body, same
// Idempotency-Key) with backoff and never moves past it. A crash or Stop()
// between sending and recording the position therefore re-sends that one
// change on restart, with the same key: the API's idempotency handling turns
// the repeat into a no-op. An API holds no transactions, so a source
// transaction is applied change by change; a restart may continue in the
// middle of one, which is harmless for the same reason.
//
// Entries not routed to this target (other tables, commit markers, messages)
// only advance the position; it is written at the end of each journal read,
// not per entry, to spare LMDB commits.
//
// Operator holds (`handoff pause`, HoldWatch). Before each entry the running
// sender checks its holds: a whole-target hold, or a hold of the route of the
// entry, stops it there with the position at the entry before, and it waits
// until the hold is gone. Every entry before was final, so order across
// routes and the single delivery per change are as without the hold.
#include "handoff/apply/http_applier.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <string>
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

class HttpApplierImpl final : public HttpApplier {
 public:
  HttpApplierImpl(HttpApplierOptions o, std::unique_ptr<HttpClient> client, std::string base_url,
                  std::vector<std::string> headers)
      : opts_(std::move(o)),
        client_(std::move(client)),
        base_url_(std::move(base_url)),
        headers_(std::move(headers)),
        loop_(apply::ApplierLoopOptions(opts_.target.name, opts_.min_backoff, opts_.max_backoff, &counters_.health),
              &stop_),
        holds_(opts_.journal, opts_.target.name) {
    for (const RouteConfig& r : opts_.routes)
      if (r.to_target == opts_.target.name) routes_[{r.from_source, r.from_schema, r.from_table}] = r;
  }

  Status Run() override;
  void Stop() override {
    stop_.RequestStop();
    client_->Interrupt();
  }
  const ApplyCounters& counters() const override { return counters_; }

 private:
  // Sends one routed change until its outcome is final. OK when delivered or
  // parked; kCancelled when stopped first; another error ends Run().
  Status Deliver(const JournalEntry& entry, const RouteConfig& route);
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
  std::unique_ptr<HttpClient> client_;
  const std::string base_url_;              // without a trailing '/'
  const std::vector<std::string> headers_;  // configured + Content-Type + X-Handoff-Origin
  ApplyCounters counters_;
  std::map<std::tuple<std::string, std::string, std::string>, RouteConfig> routes_;

  StopToken stop_;
  // The retries of one change: backoff from min_backoff for each change; the
  // log summarises repeated delivery failures across changes (RetryLog).
  RetryLoop loop_;
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
    for (const JournalEntry& e : entries) {
      if (stopping() || (replay && e.seq > replay_end)) break;
      if (e.seq < next) continue;  // defensive: never send twice in a run
      if (!replay) {
        if (const OperatorHold* h = HoldBefore(e)) {
          RecordApplied(next - 1);
          WaitHeld(*h, e.seq);
          break;  // read again from `next`: this entry first
        }
      }
      if (!only.empty() && only.count(e.seq) == 0) {
        next = e.seq + 1;
        continue;
      }
      JournalEntry replaced;
      if (opts_.only_seq && opts_.replacement) {
        replaced = JournalEntry{e.seq, e.journaled_at_us, *opts_.replacement};
      }
      const JournalEntry& entry = (opts_.only_seq && opts_.replacement) ? replaced : e;
      const ChangeEvent& ev = entry.event;
      auto it = routes_.find({ev.source, ev.schema, ev.table});
      if (it != routes_.end() && ev.op != Op::kCommit && ev.op != Op::kMessage && ev.op != Op::kSchema) {
        Status delivered = Deliver(entry, it->second);
        if (delivered.code() == StatusCode::kCancelled) break;  // not final: resent on the next run
        if (!delivered.ok()) return delivered;
        next = e.seq + 1;
        RecordApplied(e.seq);  // final: written before the next change is sent
      } else {
        next = e.seq + 1;
      }
    }
    RecordApplied(next - 1);  // unrouted entries at the end of the read
  }
  return Status::OK();
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

Status HttpApplierImpl::Deliver(const JournalEntry& entry, const RouteConfig& route) {
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

  loop_.backoff().Reset();
  while (true) {
    if (stopping()) return Status::Cancelled("stopped");
    HttpResponse resp;
    Status st = client_->Send(req, &resp);
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
          loop_.Succeeded();
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
      loop_.Failed(failed);
      return st;
    }
    counters_.retries.fetch_add(1);
    // Retrying: the first failure of a cause and a summary per doubling of the tries.
    if (!loop_.Failed(failed)) return Status::Cancelled("stopped");
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
  if (opts_.on_parked) opts_.on_parked(entry.seq, code);
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
  auto client = apply::HttpClient::Create(timeout);
  if (!client.ok()) return client.status();
  return std::unique_ptr<HttpApplier>(
      new HttpApplierImpl(std::move(options), std::move(client).value(), std::move(url), std::move(headers)));
}

}  // namespace handoff
