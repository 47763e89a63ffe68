#include "handoff/capture/slot_watch.h"

#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>

#include "handoff/engine/log.h"
#include "source_connection.h"

namespace handoff {

std::string SlotNameOf(const PostgresSourceConfig& source) {
  return source.slot.empty() ? "handoff_" + source.name : source.slot;
}

namespace {

constexpr const char* kSlotQuery =
    "SELECT COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint, "
    "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn), 0)::bigint, active "
    "FROM pg_replication_slots WHERE slot_name = $1";

// Inactive logical slots named like handoff's; the caller leaves out the configured ones.
constexpr const char* kOrphanQuery =
    "SELECT slot_name, COALESCE(database, ''), "
    "COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn), 0)::bigint "
    "FROM pg_replication_slots WHERE slot_type = 'logical' AND NOT active AND slot_name LIKE 'handoff\\_%'";

uint64_t NonNegative(const char* text) {
  long long v = std::strtoll(text, nullptr, 10);
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

class PgSlotWatch final : public SlotWatch {
 public:
  explicit PgSlotWatch(SlotWatchOptions options) : options_(std::move(options)) {
    for (const auto& s : options_.sources) {
      Watched w;
      w.source = &s;
      w.reading.source = s.name;
      w.reading.slot = SlotNameOf(s);
      configured_slots_.insert(w.reading.slot);
      watched_.push_back(std::move(w));
    }
  }

  Status Run() override {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      lock.unlock();
      std::map<std::string, Orphan> seen;
      std::set<std::string> scanned;  // sources whose server answered the orphan query
      for (Watched& w : watched_) {
        ReadOne(&w);
        if (ScanOrphans(&w, &seen)) scanned.insert(w.reading.source);
      }
      MergeOrphans(seen, scanned);
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

  std::vector<OrphanSlot> Orphans() const override {
    std::lock_guard<std::mutex> lock(readings_mu_);
    std::vector<OrphanSlot> out;
    for (const auto& [key, o] : orphans_) out.push_back(o.slot);
    return out;
  }

  std::vector<SlotReading> Readings() const override {
    std::lock_guard<std::mutex> lock(readings_mu_);
    std::vector<SlotReading> out;
    for (const Watched& w : watched_) out.push_back(w.reading);
    return out;
  }

 private:
  struct Orphan {
    OrphanSlot slot;
    std::string seen_by;  // the source whose server showed it
  };
  struct Watched {
    const PostgresSourceConfig* source = nullptr;
    PgConnection conn;
    SlotReading reading;
    bool failing = false;  // the last attempt failed (logged once until it works again)
  };

  void ReadOne(Watched* w) {
    if (!w->conn.valid()) {
      auto c = OpenSource(w->source->dsn, /*replication=*/false);
      if (!c.ok()) return Failed(w, c.status());
      w->conn = std::move(c).value();
    }
    auto res = w->conn.Fetch(kSlotQuery, {w->reading.slot});
    if (!res.ok()) {
      w->conn.Close();
      return Failed(w, res.status());
    }
    w->failing = false;
    SlotReading next = w->reading;
    const PgResult& r = *res;
    if (r.rows() == 0) {
      next.known = false;  // not created yet (first start) or dropped
    } else {
      next.known = true;
      next.retained_bytes = NonNegative(r.value(0, 0));
      next.unconfirmed_bytes = NonNegative(r.value(0, 1));
      next.active = r.value(0, 2)[0] == 't';
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

  // Adds the orphans on w's server to *seen (keyed by slot and database);
  // false when the server could not be asked.
  bool ScanOrphans(Watched* w, std::map<std::string, Orphan>* seen) {
    if (!w->conn.valid()) return false;
    auto res = w->conn.Fetch(kOrphanQuery);
    if (!res.ok()) return false;
    for (int i = 0; i < res->rows(); ++i) {
      OrphanSlot o{res->value(i, 0), res->value(i, 1),
                   NonNegative(res->value(i, 2)), true};
      if (configured_slots_.count(o.slot)) continue;
      std::string key = o.slot + '\0' + o.database;
      (*seen)[key] = Orphan{std::move(o), w->reading.source};
    }
    return true;
  }

  // An orphan not seen again on a server that answered has gone: it stays, at 0.
  void MergeOrphans(const std::map<std::string, Orphan>& seen, const std::set<std::string>& scanned) {
    std::lock_guard<std::mutex> lock(readings_mu_);
    for (auto& [key, o] : orphans_) {
      if (seen.count(key) || !scanned.count(o.seen_by) || !o.slot.present) continue;
      o.slot.present = false;
      o.slot.retained_bytes = 0;
      LogInfo("slot", "replication slot \"{}\" (database {}) is no longer an orphan (dropped or in use)", o.slot.slot,
              o.slot.database);
    }
    for (const auto& [key, found] : seen) {
      const OrphanSlot& slot = found.slot;
      Orphan& o = orphans_[key];
      if (!o.slot.present || o.slot.slot.empty())
        LogWarn("slot",
                "replication slot \"{}\" (database {}) is named like handoff's but no configured source uses it; it "
                "retains {:.1f} MiB of WAL until it is dropped: `handoff source drop --source {} --dsn ...` (or "
                "pg_drop_replication_slot)",
                slot.slot, slot.database, slot.retained_bytes / 1048576.0, slot.slot.substr(8));
      o = found;
    }
  }

  void Failed(Watched* w, const Status& st) {
    if (!w->failing)
      LogWarn("slot", "source {}: cannot read replication slot \"{}\": {}; trying again every {} s",
              w->reading.source, w->reading.slot, st.message(), options_.interval.count() / 1000);
    w->failing = true;
  }

  SlotWatchOptions options_;
  std::vector<Watched> watched_;
  std::set<std::string> configured_slots_;
  mutable std::mutex readings_mu_;  // guards every Watched::reading and orphans_
  std::map<std::string, Orphan> orphans_;
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
