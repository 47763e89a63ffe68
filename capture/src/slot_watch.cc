#include "handoff/capture/slot_watch.h"

#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "handoff/engine/log.h"
#include "pg_connection.h"

namespace handoff {

std::string SlotNameOf(const SourceConfig& source) {
  return source.slot.empty() ? "handoff_" + source.name : source.slot;
}

namespace {

constexpr const char* kSlotQuery =
    "SELECT COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, "
    "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint, active "
    "FROM pg_replication_slots WHERE slot_name = $1";

uint64_t NonNegative(const char* text) {
  long long v = std::strtoll(text, nullptr, 10);
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

class PgSlotWatch final : public SlotWatch {
 public:
  explicit PgSlotWatch(SlotWatchOptions options) : options_(std::move(options)) {
    for (const auto& s : options_.sources) {
      if (s.kind != "postgres") continue;
      Watched w;
      w.source = &s;
      w.reading.source = s.name;
      w.reading.slot = SlotNameOf(s);
      watched_.push_back(std::move(w));
    }
  }

  Status Run() override {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      for (Watched& w : watched_) ReadOne(&w);
      lock.lock();
      cv_.wait_for(lock, options_.interval, [this] { return stop_; });
    }
    return Status::OK();
  }

  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }

  std::vector<SlotReading> Readings() const override {
    std::lock_guard<std::mutex> lock(readings_mu_);
    std::vector<SlotReading> out;
    for (const Watched& w : watched_) out.push_back(w.reading);
    return out;
  }

 private:
  struct Watched {
    const SourceConfig* source = nullptr;
    PgConnection conn;
    SlotReading reading;
    bool failing = false;  // the last attempt failed (logged once until it works again)
  };

  void ReadOne(Watched* w) {
    if (!w->conn.valid()) {
      auto c = PgConnection::Open(w->source->dsn, /*replication=*/false);
      if (!c.ok()) return Failed(w, c.status());
      w->conn = std::move(c).value();
    }
    auto res = w->conn.Exec(kSlotQuery, {w->reading.slot});
    if (!res.ok()) {
      w->conn.Close();
      return Failed(w, res.status());
    }
    w->failing = false;
    SlotReading next = w->reading;
    PGresult* r = res->get();
    if (PQntuples(r) == 0) {
      next.known = false;  // not created yet (first start) or dropped
    } else {
      next.known = true;
      next.retained_bytes = NonNegative(PQgetvalue(r, 0, 0));
      next.unconfirmed_bytes = NonNegative(PQgetvalue(r, 0, 1));
      next.active = PQgetvalue(r, 0, 2)[0] == 't';
    }
    const bool growing = w->reading.known && next.known && next.retained_bytes > w->reading.retained_bytes;
    if (growing && next.retained_bytes > options_.warn_bytes)
      LogWarn("slot",
              "source {}: replication slot \"{}\" retains {:.1f} MiB of WAL and keeps growing (warning above "
              "{:.1f} MiB, engine.slot_wal_warn); the server keeps that WAL until handoff confirms it: check the "
              "capture agent and the journal",
              next.source, next.slot, next.retained_bytes / 1048576.0, options_.warn_bytes / 1048576.0);
    std::lock_guard<std::mutex> lock(readings_mu_);
    w->reading = next;
  }

  void Failed(Watched* w, const Status& st) {
    if (!w->failing)
      LogWarn("slot", "source {}: cannot read replication slot \"{}\": {}; trying again every {} s",
              w->reading.source, w->reading.slot, st.message(), options_.interval.count() / 1000);
    w->failing = true;
  }

  SlotWatchOptions options_;
  std::vector<Watched> watched_;
  mutable std::mutex readings_mu_;  // guards every Watched::reading
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<SlotWatch>> SlotWatch::Create(SlotWatchOptions options) {
  if (options.interval.count() <= 0) return Status::InvalidArgument("slot watch: the interval must be positive");
  return std::unique_ptr<SlotWatch>(new PgSlotWatch(std::move(options)));
}

}  // namespace handoff
