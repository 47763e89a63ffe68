// DebeziumSourceAgent: see the header for positions, transactions and what
// happens to bad input. One session = one engine conversation (Hello, read,
// send); any failure ends it and the next session resumes from the durable
// position.
#include "handoff/capture/debezium_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "handoff/capture/debezium.h"
#include "handoff/engine/change_feed.h"
#include "handoff/engine/log.h"
#include "handoff/engine/retry_loop.h"

namespace handoff {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr size_t kReadChunk = 1 << 20;

// A file descriptor closed on destruction.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

class DebeziumSourceAgentImpl final : public DebeziumSourceAgent {
 public:
  explicit DebeziumSourceAgentImpl(DebeziumSourceOptions o)
      : opts_(std::move(o)),
        decoder_(DebeziumDecoderOptions{opts_.source.name, SourceKind::kDebezium}),
        loop_(RetryLoopOptions::For("capture", "source " + opts_.source.name, opts_.min_backoff, opts_.max_backoff,
                                    &counters_.health),
              &stop_) {
    for (const auto& t : opts_.source.tables) tables_.insert(t);
  }

  // The backoff doubles on every failed session and starts over only after
  // real progress (the engine made an event of this session durable), so one
  // bad line is retried ever more slowly, not every min_backoff forever. A
  // bad line or file needs a person (failed); anything else is transient
  // (retrying).
  Status Run() override {
    Status st = loop_.Run([&] {
      SessionEnd end;
      end.status = RunSession();
      end.progress = progressed_;
      const StatusCode code = end.status.code();
      end.failure = code == StatusCode::kInvalidArgument || code == StatusCode::kPermanent ? FailureClass::kNeedsFix
                                                                                             : FailureClass::kTransient;
      return end;
    });
    counters_.health.Set(HealthState::kStopped);
    LogInfo("capture", "source {}: stopped", opts_.source.name);
    return st;  // OK: none of its failures is fatal
  }

  void Stop() override { stop_.RequestStop(); }

  const DebeziumSourceCounters& counters() const override { return counters_; }

 private:
  Status RunSession() {
    progressed_ = false;
    if (!client_) {
      auto client = AgentClient::Connect(
          opts_.context, {opts_.intake_endpoint, opts_.source.name, opts_.credit, milliseconds(1000)});
      if (!client.ok()) return client.status();
      client_ = std::move(client).value();
    } else {
      Status reset = client_->Reset();
      if (!reset.ok()) {
        client_.reset();
        return reset;
      }
    }
    auto hello = client_->Hello();
    if (!hello.ok()) return hello.status();
    const SourcePosition durable = *hello;
    session_durable_ = durable;
    if (counters_.health.Get().state == HealthState::kStarting) counters_.health.Set(HealthState::kStreaming);
    pending_ = AppendBatch{opts_.source.name, durable, {}};
    open_xid_ = 0;
    decoder_.ResetOrdinals();
    // Close a transaction a crash may have left open (a spare marker is harmless).
    if (!durable.IsZero() && durable.ordinal % 2 == 0) AddMarker({durable.lsn, durable.ordinal + 1}, 0);
    Status st = opts_.source.file.empty() ? PullLoop(durable) : FileLoop(durable);
    if (st.code() == StatusCode::kCancelled) st = Status::OK();
    if (st.ok()) return Flush();
    // Keep what was read before the failure (e.g. the lines above a bad one).
    if (Flush().ok()) NoteProgress();
    return st;
  }

  // Progress is an event made durable by the engine in this session: only
  // then does a run of failures end (health, backoff, "recovered" line).
  void NoteProgress() {
    if (progressed_ || !client_ || client_->Durable().lsn <= session_durable_.lsn) return;
    progressed_ = true;
    counters_.health.Set(HealthState::kStreaming);
    loop_.Succeeded();
  }

  // ---- file ----

  Status FileLoop(SourcePosition durable) {
    const std::string& path = opts_.source.file;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return Status::Unavailable("cannot open " + path + ": " + std::strerror(errno));
    uint64_t offset = durable.IsZero() ? 0 : durable.lsn - 1;  // start of the durable line
    struct stat sb;
    if (::fstat(fd.get(), &sb) != 0) return Status::Unavailable("cannot stat " + path + ": " + std::strerror(errno));
    if (static_cast<uint64_t>(sb.st_size) < offset) {
      return Status::Permanent(path + " is shorter (" + std::to_string(sb.st_size) +
                                        " bytes) than the journaled position (byte " + std::to_string(offset) +
                                        "); it was truncated or replaced, and handoff will not guess where to go on");
    }
    LogInfo("capture", "source {}: following {} from byte {}", opts_.source.name, path, offset);
    std::string buf;  // unconsumed bytes, starting at `offset`
    auto last_input = SteadyClock::now();
    while (true) {
      HANDOFF_RETURN_IF_ERROR(Pump(milliseconds(0)));
      size_t old = buf.size();
      buf.resize(old + kReadChunk);
      ssize_t n = ::pread(fd.get(), buf.data() + old, kReadChunk, static_cast<off_t>(offset + old));
      if (n < 0) return Status::Unavailable("cannot read " + path + ": " + std::strerror(errno));
      buf.resize(old + static_cast<size_t>(n));
      counters_.bytes_read.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
      size_t start = 0;
      while (true) {
        size_t nl = buf.find('\n', start);
        if (nl == std::string::npos) break;
        HANDOFF_RETURN_IF_ERROR(TakeLine(std::string_view(buf).substr(start, nl - start), offset + start));
        start = nl + 1;
        pending_.upto = std::max(pending_.upto, SourcePosition{offset + start + 1, 0});
      }
      buf.erase(0, start);
      offset += start;
      if (n > 0) {
        last_input = SteadyClock::now();
        if (pending_.events.size() >= opts_.max_batch_events || start > 0) HANDOFF_RETURN_IF_ERROR(SendPending());
        continue;
      }
      // End of file: close an open transaction once the writer has paused.
      if (open_xid_ != 0 && SteadyClock::now() - last_input >= opts_.idle_commit) {
        AddMarker({offset + 1, 1}, open_xid_);
        open_xid_ = 0;
      }
      HANDOFF_RETURN_IF_ERROR(SendPending());
      HANDOFF_RETURN_IF_ERROR(Pump(opts_.poll));
    }
  }

  // Decodes one line that starts at byte `at`.
  Status TakeLine(std::string_view line, uint64_t at) {
    size_t b = line.find_first_not_of(" \t\r");
    if (b == std::string_view::npos) return Status::OK();
    records_.clear();
    Status st = decoder_.DecodeAll(line, &records_);
    if (!st.ok()) {
      counters_.malformed.fetch_add(1, std::memory_order_relaxed);
      return Status::InvalidArgument(opts_.source.file + ": line at byte " + std::to_string(at) + ": " + st.message() +
                                     " (the source waits here; fix or remove the line)");
    }
    line_lsn_ = at + 1;
    line_changes_ = 0;
    for (DecodedRecord& r : records_) TakeRecord(r);
    return Status::OK();
  }

  // ---- pull ----

  Status PullLoop(SourcePosition durable) {
    if (!puller_) {
      auto p = MessagePuller::Bind(opts_.context, opts_.source.pull);
      if (!p.ok()) return p.status();
      puller_ = std::move(p).value();
      LogInfo("capture", "source {}: pulling Debezium JSON on {}", opts_.source.name, opts_.source.pull);
    }
    uint64_t lsn = durable.lsn;
    std::string msg;
    auto last_input = SteadyClock::now();
    while (true) {
      HANDOFF_RETURN_IF_ERROR(Pump(milliseconds(0)));
      msg.clear();
      auto got = puller_->Receive(&msg, opts_.poll);
      if (!got.ok()) return got.status();
      if (*got) {
        last_input = SteadyClock::now();
        counters_.bytes_read.fetch_add(msg.size(), std::memory_order_relaxed);
        ++lsn;
        records_.clear();
        Status st = decoder_.DecodeAll(msg, &records_);
        if (!st.ok()) {
          counters_.malformed.fetch_add(1, std::memory_order_relaxed);
          LogError("capture", "source {}: message {} on {} is not Debezium JSON: {}; {} record(s) before it kept",
                   opts_.source.name, lsn, opts_.source.pull, st.message(), records_.size());
        }
        line_lsn_ = lsn;
        line_changes_ = 0;
        for (DecodedRecord& r : records_) TakeRecord(r);
        pending_.upto = std::max(pending_.upto, SourcePosition{lsn, 2 * line_changes_ + 2});
        if (pending_.events.size() >= opts_.max_batch_events) HANDOFF_RETURN_IF_ERROR(SendPending());
        continue;
      }
      if (open_xid_ != 0 && SteadyClock::now() - last_input >= opts_.idle_commit) {
        ++lsn;
        AddMarker({lsn, 1}, open_xid_);
        open_xid_ = 0;
      }
      HANDOFF_RETURN_IF_ERROR(SendPending());
    }
  }

  // ---- records, markers, batches ----

  void TakeRecord(DecodedRecord& r) {
    switch (r.kind) {
      case DecodedRecord::Kind::kTxnBegin:
      case DecodedRecord::Kind::kTxnEnd:
        CloseTransaction();
        return;
      case DecodedRecord::Kind::kChange:
        break;
      default:
        counters_.skipped.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    ChangeEvent& ev = r.event;
    const bool transactional = ev.xid != 0 && ev.op != Op::kRead && ev.op != Op::kMessage && ev.op != Op::kCommit;
    if (open_xid_ != 0 && (!transactional || ev.xid != open_xid_)) CloseTransaction();
    if (ev.op != Op::kMessage && !tables_.empty() && !tables_.count(ev.schema + "." + ev.table)) {
      counters_.skipped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (transactional) open_xid_ = ev.xid;
    last_commit_us_ = ev.commit_time_us;
    ev.source = opts_.source.name;
    ev.source_kind = SourceKind::kDebezium;
    ++line_changes_;
    ev.position = {line_lsn_, 2 * line_changes_};
    ev.correlation_id.clear();
    pending_.upto = std::max(pending_.upto, ev.position);
    pending_.events.push_back(std::move(ev));
    counters_.changes.fetch_add(1, std::memory_order_relaxed);
  }

  void CloseTransaction() {
    if (open_xid_ == 0) return;
    AddMarker({line_lsn_, 2 * line_changes_ + 1}, open_xid_);
    open_xid_ = 0;
  }

  void AddMarker(SourcePosition pos, uint64_t xid) {
    ChangeEvent m;
    m.source = opts_.source.name;
    m.source_kind = SourceKind::kDebezium;
    m.position = pos;
    m.xid = xid;
    m.commit_time_us = last_commit_us_;
    m.op = Op::kCommit;
    pending_.upto = std::max(pending_.upto, pos);
    pending_.events.push_back(std::move(m));
  }

  // Sends the pending batch when there is one, waiting for credit.
  Status SendPending() {
    if (pending_.events.empty() && pending_.upto <= sent_upto_) return Status::OK();
    while (!client_->HasCredit()) HANDOFF_RETURN_IF_ERROR(Pump(milliseconds(20)));
    sent_upto_ = std::max(sent_upto_, pending_.upto);
    SourcePosition upto = pending_.upto;
    HANDOFF_RETURN_IF_ERROR(client_->Send(std::move(pending_)));
    pending_ = AppendBatch{opts_.source.name, upto, {}};
    return Status::OK();
  }

  // Sends what is pending and waits (bounded) for every acknowledgement.
  Status Flush() {
    if (!client_) return Status::OK();
    auto deadline = SteadyClock::now() + std::chrono::seconds(5);
    if (!pending_.events.empty() || pending_.upto > sent_upto_) {
      while (!client_->HasCredit() && SteadyClock::now() < deadline) {
        HANDOFF_RETURN_IF_ERROR(client_->Poll(milliseconds(20)));
      }
      if (client_->HasCredit()) {
        sent_upto_ = std::max(sent_upto_, pending_.upto);
        HANDOFF_RETURN_IF_ERROR(client_->Send(std::move(pending_)));
        pending_ = AppendBatch{opts_.source.name, sent_upto_, {}};
      }
    }
    while (client_->InFlight() > 0 && SteadyClock::now() < deadline) {
      HANDOFF_RETURN_IF_ERROR(client_->Poll(milliseconds(20)));
    }
    counters_.durable_lsn.store(client_->Durable().lsn, std::memory_order_relaxed);
    return Status::OK();
  }

  // Takes acknowledgements; ends the session on stop or a silent engine.
  Status Pump(milliseconds wait) {
    if (stop_.stop_requested()) return Status::Cancelled("stop requested");
    HANDOFF_RETURN_IF_ERROR(client_->Poll(wait));
    counters_.durable_lsn.store(client_->Durable().lsn, std::memory_order_relaxed);
    NoteProgress();
    if (client_->InFlight() > 0 && client_->OldestInFlightAge() > opts_.ack_timeout) {
      return Status::Unavailable("engine has not acknowledged a batch for " +
                                 std::to_string(client_->OldestInFlightAge().count()) + " ms");
    }
    return Status::OK();
  }

  DebeziumSourceOptions opts_;
  DebeziumDecoder decoder_;
  std::set<std::string> tables_;
  std::unique_ptr<AgentClient> client_;
  std::unique_ptr<MessagePuller> puller_;
  std::vector<DecodedRecord> records_;
  AppendBatch pending_;
  SourcePosition sent_upto_;
  uint64_t open_xid_ = 0;  // transaction whose commit marker is still due
  int64_t last_commit_us_ = 0;
  uint64_t line_lsn_ = 0, line_changes_ = 0;
  SourcePosition session_durable_;  // the engine's durable position when the session began
  bool progressed_ = false;         // the engine made more durable in this session
  DebeziumSourceCounters counters_;
  StopToken stop_;
  RetryLoop loop_;
};

}  // namespace

Result<std::unique_ptr<DebeziumSourceAgent>> DebeziumSourceAgent::Create(DebeziumSourceOptions o) {
  const DebeziumSourceConfig& s = o.source;
  if (s.name.empty()) return Status::InvalidArgument("debezium source: name is empty");
  if (s.file.empty() == s.pull.empty())
    return Status::InvalidArgument("debezium source " + s.name + ": needs exactly one of file or pull");
  if (!o.context || o.intake_endpoint.empty())
    return Status::InvalidArgument("debezium source " + s.name + ": no transport context or intake endpoint");
  if (o.max_batch_events == 0 || o.credit == 0)
    return Status::InvalidArgument("debezium source " + s.name + ": max_batch_events and credit must be > 0");
  if (o.min_backoff.count() <= 0) o.min_backoff = milliseconds(1);
  if (o.max_backoff < o.min_backoff) o.max_backoff = o.min_backoff;
  return std::unique_ptr<DebeziumSourceAgent>(new DebeziumSourceAgentImpl(std::move(o)));
}

}  // namespace handoff
