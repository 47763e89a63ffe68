// handoff verify: see verify.h and docs/verify.md.
#include "verify.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <thread>

#include "handoff/capture/backfill.h"
#include "handoff/engine/clock.h"
#include "handoff/engine/json_text.h"
#include "handoff/pg/pg_connection.h"

namespace handoff {
namespace {

using Clock = std::chrono::steady_clock;
using Key = std::vector<std::string>;
constexpr const char* kWatermarkPrefix = "handoff.verify";

double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One side of a compared table: its columns with their types, as SQL pieces.
struct Side {
  std::string name;  // "source psa" / "target erp", for errors
  PgConnection conn;
  std::string table;  // quoted schema.table
  std::vector<std::string> key_types;  // format_type of each key column
  std::vector<std::string> key_collations;  // COLLATE clause per key column ("" for none)
};

struct ColumnInfo {
  std::string type;
  std::string collation;  // quoted collation name, "" when the default or not collatable
};

Result<PgConnection> Connect(const ConnParams& dsn, const std::string& what) {
  PgConnectOptions o;
  o.application_name = "handoff verify";
  auto c = PgConnection::Open(dsn, o);
  if (!c.ok()) return Status(c.status().code(), what + ": " + c.status().message());
  // Every value is compared as text: both sides print it the same way.
  HANDOFF_RETURN_IF_ERROR(c->Exec(
      "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
      "SET extra_float_digits = 3; SET bytea_output = 'hex'"));
  return c;
}

// Columns of a table in attribute order: name -> type and collation.
Result<std::vector<std::pair<std::string, ColumnInfo>>> Columns(PgConnection* c, const std::string& schema,
                                                                const std::string& table, const std::string& what) {
  auto r = c->Fetch(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
      "CASE WHEN a.attcollation = 0 OR co.collname = 'default' THEN '' "
      "ELSE quote_ident(n.nspname) || '.' || quote_ident(co.collname) END "
      "FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid JOIN pg_namespace s ON s.oid = t.relnamespace "
      "LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace n ON n.oid = co.collnamespace "
      "WHERE s.nspname = $1 AND t.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
      {schema, table});
  if (!r.ok()) return Status(r.status().code(), what + ": " + r.status().message());
  std::vector<std::pair<std::string, ColumnInfo>> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back({r->value(i, 0), ColumnInfo{r->value(i, 1), r->value(i, 2)}});
  if (out.empty()) return Status::NotFound(fmt::format("{}: table {}.{} does not exist", what, schema, table));
  return out;
}

Result<std::vector<std::string>> PrimaryKey(PgConnection* c, const std::string& schema, const std::string& table) {
  auto r = c->Fetch(
      "SELECT a.attname FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid "
      "JOIN pg_namespace s ON s.oid = t.relnamespace "
      "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey) "
      "WHERE s.nspname = $1 AND t.relname = $2 AND (i.indisprimary OR i.indisreplident) "
      "ORDER BY i.indisprimary DESC, array_position(i.indkey::int2[], a.attnum)",
      {schema, table});
  if (!r.ok()) return r.status();
  std::vector<std::string> key;
  for (int i = 0; i < r->rows(); ++i) {
    std::string k = r->value(i, 0);
    if (std::find(key.begin(), key.end(), k) == key.end()) key.push_back(k);
  }
  return key;
}

class TableVerifier {
 public:
  TableVerifier(const VerifyOptions& o, const PostgresSourceConfig& source, const RouteConfig& route,
                TableVerification* out)
      : o_(o), source_(source), route_(route), out_(out) {}

  Status Run() {
    const auto start = Clock::now();
    HANDOFF_RETURN_IF_ERROR(Prepare());
    std::optional<Key> after;  // the last key of the range before (none: from the start)
    bool more = true;
    while (more) {
      // One segment: chunk boundaries and source aggregates in one statement.
      std::vector<Chunk> chunks;
      HANDOFF_RETURN_IF_ERROR(Segment(after, &chunks, &more));
      if (chunks.empty()) {
        // Nothing (more) in the source: the target must hold nothing after `after` either.
        chunks.push_back(Chunk{after, std::nullopt, 0, "0"});
        more = false;
      }
      if (!more) chunks.back().upto.reset();  // the last range is open: rows beyond the source's last key count
      HANDOFF_RETURN_IF_ERROR(Compare(&chunks));
      after = chunks.back().upto;
      HANDOFF_RETURN_IF_ERROR(Pace());
    }
    HANDOFF_RETURN_IF_ERROR(Settle());
    out_->seconds = Since(start);
    if (o_.repair && !out_->equal()) HANDOFF_RETURN_IF_ERROR(Repair());
    return Status::OK();
  }

 private:
  struct Chunk {
    std::optional<Key> after;  // exclusive lower bound (none: from the start)
    std::optional<Key> upto;   // inclusive upper bound (none: to the end)
    uint64_t count = 0;
    std::string sum;           // sum of the row hashes, as text
  };
  struct Aggregate {
    uint64_t count = 0;
    std::string sum;
    bool operator==(const Aggregate&) const = default;
  };
  // Key (as text) -> row hash.
  using Rows = std::map<Key, std::string>;

  Status Prepare() {
    out_->source = source_.name;
    out_->source_table = route_.from_schema + "." + route_.from_table;
    out_->target = route_.to_target;
    out_->target_table = route_.to_schema + "." + route_.to_table;
    const TargetConfig* target = o_.config->FindTarget(route_.to_target);
    if (target == nullptr || target->postgres() == nullptr)
      return Status::InvalidArgument("target " + route_.to_target + " is not a PostgreSQL target: verify compares tables");
    auto sc = Connect(source_.dsn, "source " + source_.name);
    if (!sc.ok()) return sc.status();
    src_.conn = std::move(*sc);
    src_.name = "source " + source_.name;
    auto tc = Connect(target->postgres()->dsn, "target " + target->name);
    if (!tc.ok()) return tc.status();
    tgt_.conn = std::move(*tc);
    tgt_.name = "target " + target->name;
    src_.table = QuoteQualified(route_.from_schema, route_.from_table);
    tgt_.table = QuoteQualified(route_.to_schema, route_.to_table);

    auto scols = Columns(&src_.conn, route_.from_schema, route_.from_table, src_.name);
    if (!scols.ok()) return scols.status();
    auto tcols = Columns(&tgt_.conn, route_.to_schema, route_.to_table, tgt_.name);
    if (!tcols.ok()) return tcols.status();
    std::map<std::string, ColumnInfo> in_target(tcols->begin(), tcols->end());
    std::map<std::string, ColumnInfo> in_source(scols->begin(), scols->end());
    for (const auto& [name, info] : *scols) {
      if (in_target.count(name)) out_->columns.push_back(name);
      else out_->not_in_target.push_back(name);
    }
    if (const auto* k = ConfiguredKey(source_, out_->source_table)) {
      out_->key_columns = *k;
    } else {
      auto pk = PrimaryKey(&src_.conn, route_.from_schema, route_.from_table);
      if (!pk.ok()) return pk.status();
      out_->key_columns = *pk;
    }
    if (out_->key_columns.empty())
      return Status::InvalidArgument("source table " + out_->source_table +
                                     " has no primary key or replica identity index, and no `key:` in the source's "
                                     "tables: rows cannot be matched");
    for (const std::string& k : out_->key_columns) {
      if (!in_source.count(k) || !in_target.count(k))
        return Status::InvalidArgument("key column " + k + " is not in both " + out_->source_table + " and " +
                                       out_->target + "." + out_->target_table);
      const ColumnInfo& s = in_source[k];
      src_.key_types.push_back(s.type);
      tgt_.key_types.push_back(in_target[k].type);
      // The source column's collation orders both sides (the default one is each database's own).
      src_.key_collations.push_back(s.collation.empty() ? "" : " COLLATE " + s.collation);
      tgt_.key_collations.push_back(s.collation.empty() ? "" : " COLLATE " + s.collation);
    }
    return Status::OK();
  }

  // SQL pieces of one side.
  std::string KeyTuple(const Side& s) const {
    std::string out = "(";
    for (size_t i = 0; i < out_->key_columns.size(); ++i)
      out += (i ? ", " : "") + QuoteIdent(out_->key_columns[i]) + s.key_collations[i];
    return out + ")";
  }
  std::string ParamTuple(const Side& s, size_t first) const {
    std::string out = "(";
    for (size_t i = 0; i < out_->key_columns.size(); ++i)
      out += fmt::format("{}${}::{}{}", i ? ", " : "", first + i, s.key_types[i], s.key_collations[i]);
    return out + ")";
  }
  std::string KeyText() const {
    std::string out;
    for (size_t i = 0; i < out_->key_columns.size(); ++i) out += (i ? ", " : "") + QuoteIdent(out_->key_columns[i]) + "::text";
    return out;
  }
  std::string OrderBy(const Side& s) const {
    std::string t = KeyTuple(s);
    return t.substr(1, t.size() - 2);
  }
  std::string Hash() const {
    std::string row;
    for (size_t i = 0; i < out_->columns.size(); ++i) row += (i ? ", " : "") + QuoteIdent(out_->columns[i]) + "::text";
    // A 64-bit hash of the row's text (PostgreSQL 11 and later); several
    // times cheaper than md5, and the sums compare whole ranges.
    return "hashtextextended(ROW(" + row + ")::text, 0)";
  }
  // WHERE clause of a range and its parameters.
  std::string Range(const Side& s, const std::optional<Key>& after, const std::optional<Key>& upto,
                    std::vector<std::string>* params) const {
    std::string w;
    if (after) {
      w += KeyTuple(s) + " > " + ParamTuple(s, params->size() + 1);
      params->insert(params->end(), after->begin(), after->end());
    }
    if (upto) {
      w += std::string(w.empty() ? "" : " AND ") + KeyTuple(s) + " <= " + ParamTuple(s, params->size() + 1);
      params->insert(params->end(), upto->begin(), upto->end());
    }
    return w.empty() ? "true" : w;
  }

  Status Segment(const std::optional<Key>& after, std::vector<Chunk>* chunks, bool* more) {
    std::vector<std::string> params;
    const std::string where = Range(src_, after, std::nullopt, &params);
    std::string last_keys;
    for (size_t i = 0; i < out_->key_columns.size(); ++i) last_keys += fmt::format(", (array_agg(k{} ORDER BY n DESC))[1]", i);
    std::string inner_keys;
    for (size_t i = 0; i < out_->key_columns.size(); ++i)
      inner_keys += fmt::format("{}::text AS k{}, ", QuoteIdent(out_->key_columns[i]), i);
    const std::string sql = fmt::format(
        "SELECT count(*), coalesce(sum(h), 0)::text{} FROM (SELECT {}{} AS h, row_number() OVER (ORDER BY {}) AS n "
        "FROM {} WHERE {} ORDER BY {} LIMIT {}) s GROUP BY (n - 1) / {} ORDER BY (n - 1) / {}",
        last_keys, inner_keys, Hash(), OrderBy(src_), src_.table, where, OrderBy(src_), o_.segment_rows, o_.chunk_rows,
        o_.chunk_rows);
    auto r = src_.conn.Fetch(sql, params);
    if (!r.ok()) return Status(r.status().code(), src_.name + ": " + r.status().message());
    uint64_t rows = 0;
    std::optional<Key> lower = after;
    for (int i = 0; i < r->rows(); ++i) {
      Chunk c;
      c.after = lower;
      c.count = std::stoull(r->value(i, 0));
      c.sum = r->value(i, 1);
      Key upto;
      for (size_t k = 0; k < out_->key_columns.size(); ++k) upto.push_back(r->value(i, 2 + static_cast<int>(k)));
      c.upto = upto;
      lower = upto;
      rows += c.count;
      chunks->push_back(std::move(c));
    }
    source_rows_ += rows;
    *more = rows >= o_.segment_rows;
    return Status::OK();
  }

  Result<Aggregate> Aggregate1(Side& s, const Chunk& c) {
    std::vector<std::string> params;
    const std::string where = Range(s, c.after, c.upto, &params);
    auto r = s.conn.Fetch(fmt::format("SELECT count(*), coalesce(sum({}), 0)::text FROM {} WHERE {}", Hash(), s.table, where),
                          params);
    if (!r.ok()) return Status(r.status().code(), s.name + ": " + r.status().message());
    return Aggregate{std::stoull(r->value(0, 0)), r->value(0, 1)};
  }

  Status RowsOf(Side& s, const Chunk& c, Rows* out) {
    std::vector<std::string> params;
    const std::string where = Range(s, c.after, c.upto, &params);
    auto r = s.conn.Fetch(
        fmt::format("SELECT {}, {}::text FROM {} WHERE {} ORDER BY {}", KeyText(), Hash(), s.table, where, OrderBy(s)),
        params);
    if (!r.ok()) return Status(r.status().code(), s.name + ": " + r.status().message());
    const int nk = static_cast<int>(out_->key_columns.size());
    for (int i = 0; i < r->rows(); ++i) {
      Key k;
      for (int j = 0; j < nk; ++j) k.push_back(r->value(i, j));
      (*out)[std::move(k)] = r->value(i, nk);
    }
    return Status::OK();
  }

  // The row's hash, or nullopt when there is no such row.
  Result<std::optional<std::string>> RowHash(Side& s, const Key& key) {
    std::vector<std::string> params(key.begin(), key.end());
    auto r = s.conn.Fetch(fmt::format("SELECT {}::text FROM {} WHERE {} = {}", Hash(), s.table, KeyTuple(s), ParamTuple(s, 1)),
                          params);
    if (!r.ok()) return Status(r.status().code(), s.name + ": " + r.status().message());
    if (r->rows() == 0) return std::optional<std::string>();
    return std::optional<std::string>(r->value(0, 0));
  }

  Result<std::vector<std::optional<std::string>>> RowValues(Side& s, const Key& key) {
    std::string cols;
    for (size_t i = 0; i < out_->columns.size(); ++i) cols += (i ? ", " : "") + QuoteIdent(out_->columns[i]) + "::text";
    std::vector<std::string> params(key.begin(), key.end());
    auto r = s.conn.Fetch(fmt::format("SELECT {} FROM {} WHERE {} = {}", cols, s.table, KeyTuple(s), ParamTuple(s, 1)), params);
    if (!r.ok()) return Status(r.status().code(), s.name + ": " + r.status().message());
    std::vector<std::optional<std::string>> out;
    if (r->rows() == 0) return out;
    for (int i = 0; i < r->columns(); ++i)
      out.push_back(r->is_null(0, i) ? std::nullopt : std::optional<std::string>(r->value(0, i)));
    return out;
  }

  // Writes a watermark into the source and waits until the target has applied
  // everything the journal holds up to it.
  Status Watermark() {
    ++out_->watermarks;
    const uint64_t from = o_.journal->LastSeq() + 1;
    const std::string token = fmt::format("{}:{}:{}", token_base_, out_->source_table, out_->watermarks);
    auto r = src_.conn.Fetch(fmt::format("SELECT pg_logical_emit_message(true, '{}', $1)::text", kWatermarkPrefix), {token});
    if (!r.ok()) return Status(r.status().code(), src_.name + ": cannot write a watermark: " + r.status().message());
    const auto start = Clock::now();
    uint64_t next = std::max(from, scan_from_), seq = 0;
    while (seq == 0) {
      std::vector<JournalEntry> entries;
      HANDOFF_RETURN_IF_ERROR(o_.journal->Read(next, 2000, &entries));
      for (const JournalEntry& e : entries) {
        next = e.seq + 1;
        if (e.event.op != Op::kMessage || e.event.source != source_.name || e.event.after.empty()) continue;
        const Column& m = e.event.after[0];
        if (m.name == kWatermarkPrefix && m.data == token) {
          seq = e.seq;
          break;
        }
      }
      if (seq != 0) break;
      if (Since(start) > o_.timeout_s)
        return Status::Unavailable(fmt::format(
            "the watermark written to source {} has not reached the journal within {:.0f} s (is the engine running?)",
            source_.name, o_.timeout_s));
      HANDOFF_RETURN_IF_ERROR(Stopped());
      if (entries.empty()) o_.journal->WaitFor(next, std::chrono::milliseconds(50));
    }
    scan_from_ = seq + 1;
    while (true) {
      auto applied = o_.journal->TargetApplied(route_.to_target);
      HANDOFF_RETURN_IF_ERROR(applied.status());
      if (*applied >= seq) return Status::OK();
      if (Since(start) > o_.timeout_s)
        return Status::Unavailable(fmt::format(
            "target {} has applied the journal up to seq {}, not yet the watermark at seq {}, after {:.0f} s (is it "
            "paused or failing? see handoff status)",
            route_.to_target, *applied, seq, o_.timeout_s));
      HANDOFF_RETURN_IF_ERROR(Stopped());
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  Status Stopped() const {
    return o_.cancelled && o_.cancelled() ? Status::Cancelled("verify of " + source_.name + " stopped") : Status::OK();
  }

  // Compares the chunks of one segment (their source aggregates read already).
  Status Compare(std::vector<Chunk>* chunks) {
    for (Chunk& c : *chunks) {
      if (c.upto) continue;
      // The open last range: its source aggregate is read again with no upper bound.
      auto b = Aggregate1(src_, c);
      if (!b.ok()) return b.status();
      c.count = b->count;
      c.sum = b->sum;
    }
    HANDOFF_RETURN_IF_ERROR(Watermark());
    for (Chunk& c : *chunks) {
      ++out_->ranges;
      const Aggregate before{c.count, c.sum};
      auto t = Aggregate1(tgt_, c);
      if (!t.ok()) return t.status();
      if (*t == before) {  // the common case: no second read of the source
        out_->rows_checked += t->count;
        continue;
      }
      auto after = Aggregate1(src_, c);
      if (!after.ok()) return after.status();
      if (*t == *after) {
        out_->rows_checked += t->count;
        continue;
      }
      ++out_->ranges_split;
      HANDOFF_RETURN_IF_ERROR(CompareRows(c));
    }
    return Status::OK();
  }

  // A range that differs, row by row: source, watermark, target, source.
  Status CompareRows(const Chunk& c) {
    Rows s1, t, s2;
    HANDOFF_RETURN_IF_ERROR(RowsOf(src_, c, &s1));
    HANDOFF_RETURN_IF_ERROR(Watermark());
    HANDOFF_RETURN_IF_ERROR(RowsOf(tgt_, c, &t));
    HANDOFF_RETURN_IF_ERROR(RowsOf(src_, c, &s2));
    std::set<Key> keys;
    for (const Rows* m : {&s1, &t, &s2})
      for (const auto& [k, h] : *m) keys.insert(k);
    auto get = [](const Rows& m, const Key& k) -> std::optional<std::string> {
      auto it = m.find(k);
      return it == m.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    for (const Key& k : keys) {
      auto a = get(s1, k), b = get(t, k), z = get(s2, k);
      out_->rows_checked += 1;
      if (b == a || b == z) continue;
      if (a != z) {
        changing_.push_back(k);  // changed while it was compared: checked again
        continue;
      }
      HANDOFF_RETURN_IF_ERROR(Record(k, a, b));
    }
    return Status::OK();
  }

  // A row that differs while its source row stayed the same.
  Status Record(const Key& k, const std::optional<std::string>& source, const std::optional<std::string>& target) {
    VerifiedRow row;
    row.key = k;
    if (!source) {
      out_->extra.push_back(std::move(row));
      return Status::OK();
    }
    if (!target) {
      out_->missing.push_back(std::move(row));
      return Status::OK();
    }
    auto sv = RowValues(src_, k);
    if (!sv.ok()) return sv.status();
    auto tv = RowValues(tgt_, k);
    if (!tv.ok()) return tv.status();
    for (size_t i = 0; i < out_->columns.size(); ++i) {
      const bool same = i < sv->size() && i < tv->size() && (*sv)[i] == (*tv)[i];
      if (!same) row.columns.push_back(out_->columns[i]);
    }
    if (row.columns.empty()) return Status::OK();  // changed back meanwhile
    out_->different.push_back(std::move(row));
    return Status::OK();
  }

  // Rows that changed while they were compared, checked again one by one.
  Status Settle() {
    for (int round = 1; round < o_.rounds && !changing_.empty(); ++round) {
      std::vector<Key> again;
      std::vector<std::optional<std::string>> s1;
      for (const Key& k : changing_) {
        auto h = RowHash(src_, k);
        if (!h.ok()) return h.status();
        s1.push_back(*h);
      }
      HANDOFF_RETURN_IF_ERROR(Watermark());
      for (size_t i = 0; i < changing_.size(); ++i) {
        auto t = RowHash(tgt_, changing_[i]);
        if (!t.ok()) return t.status();
        auto s2 = RowHash(src_, changing_[i]);
        if (!s2.ok()) return s2.status();
        if (*t == s1[i] || *t == *s2) continue;
        if (s1[i] != *s2) {
          again.push_back(changing_[i]);
          continue;
        }
        HANDOFF_RETURN_IF_ERROR(Record(changing_[i], s1[i], *t));
      }
      changing_ = std::move(again);
    }
    for (const Key& k : changing_) out_->unsettled.push_back(VerifiedRow{k, {}});
    changing_.clear();
    return Status::OK();
  }

  Status Pace() {
    if (o_.rate == 0) return Stopped();
    const double due = static_cast<double>(source_rows_) / static_cast<double>(o_.rate);
    for (double ahead = due - Since(paced_from_); ahead > 0; ahead = due - Since(paced_from_)) {
      HANDOFF_RETURN_IF_ERROR(Stopped());
      std::this_thread::sleep_for(std::chrono::duration<double>(std::min(ahead, 0.2)));
    }
    return Stopped();
  }

  // Missing and different rows: one backfill of the key span holding them;
  // extra rows: a prune request, which capture turns into journaled deletes
  // of the keys the source still does not hold. Then a check of each row
  // until the target has it as the source does (or does not).
  Status Repair() {
    std::vector<Key> rows;
    for (const auto* list : {&out_->missing, &out_->different, &out_->extra})
      for (const VerifiedRow& r : *list) rows.push_back(r.key);
    if (rows.empty()) return Status::OK();
    BackfillRequest prune;
    prune.table = out_->source_table;
    for (const VerifiedRow& r : out_->extra) prune.prune_keys.push_back(r.key);
    // The span in the source's key order, as the source sorts it.
    std::string values;
    std::vector<std::string> params;
    for (size_t i = 0; i < rows.size(); ++i) {
      values += std::string(i ? ", " : "") + ParamTuple(src_, params.size() + 1);
      params.insert(params.end(), rows[i].begin(), rows[i].end());
    }
    const std::string order = OrderBy(src_);
    auto r = src_.conn.Fetch(fmt::format("SELECT {} FROM {} WHERE {} IN ({}) ORDER BY {}", KeyText(), src_.table,
                                         KeyTuple(src_), values, order),
                             params);
    if (!r.ok()) return Status(r.status().code(), src_.name + ": " + r.status().message());
    std::optional<BackfillRequest> read;
    if (r->rows() > 0) {
      Key first, last;
      for (int j = 0; j < r->columns(); ++j) {
        first.push_back(r->value(0, j));
        last.push_back(r->value(r->rows() - 1, j));
      }
      read.emplace();
      read->table = out_->source_table;
      read->from_key = first;
      read->to_key = last;
    }
    const auto start = Clock::now();
    std::optional<Clock::time_point> asked;
    while (true) {
      // A backfill of the table that is running already makes the source ignore
      // the request: it is asked again while rows still differ.
      if (!asked || Since(*asked) > 10) {
        for (const BackfillRequest* req : {read ? &*read : nullptr, prune.prune_keys.empty() ? nullptr : &prune}) {
          if (req == nullptr) continue;
          auto receipt = RequestBackfill(source_, *req);
          if (!receipt.ok()) return Status(receipt.status().code(), "repair: " + receipt.status().message());
        }
        asked = Clock::now();
      }
      HANDOFF_RETURN_IF_ERROR(Watermark());
      std::vector<Key> left;
      for (const Key& k : rows) {
        auto s = RowHash(src_, k);
        if (!s.ok()) return s.status();
        auto t = RowHash(tgt_, k);
        if (!t.ok()) return t.status();
        if (*s != *t) left.push_back(k);
      }
      out_->repaired = rows.size() - left.size();
      if (left.empty()) {
        out_->repair_verified = true;
        return Status::OK();
      }
      if (Since(start) > o_.timeout_s) {
        out_->repair_note += std::string(out_->repair_note.empty() ? "" : "; ") +
                             fmt::format("{} row(s) still differ {:.0f} s after the re-read was asked for", left.size(),
                                         o_.timeout_s);
        return Status::OK();
      }
      HANDOFF_RETURN_IF_ERROR(Stopped());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  const VerifyOptions& o_;
  const PostgresSourceConfig& source_;
  const RouteConfig& route_;
  TableVerification* out_;
  Side src_, tgt_;
  std::vector<Key> changing_;
  uint64_t source_rows_ = 0;
  uint64_t scan_from_ = 0;
  Clock::time_point paced_from_ = Clock::now();
  std::string token_base_ = fmt::format("{:x}-{:04x}", NowMicros(), std::random_device{}() & 0xffff);
};

void KeyJson(std::string* out, const std::vector<std::string>& names, const Key& key) {
  out->push_back('{');
  for (size_t i = 0; i < key.size() && i < names.size(); ++i) {
    if (i) out->push_back(',');
    AppendJsonString(out, names[i]);
    out->push_back(':');
    AppendJsonString(out, key[i]);
  }
  out->push_back('}');
}

std::string KeyLine(const std::vector<std::string>& names, const Key& key) {
  std::string out;
  for (size_t i = 0; i < key.size() && i < names.size(); ++i) out += (i ? ", " : "") + names[i] + "=" + key[i];
  return out;
}

}  // namespace

Result<std::vector<TableVerification>> VerifyRoutes(const VerifyOptions& o) {
  const SourceConfig* sc = o.config->FindSource(o.source);
  if (sc == nullptr) return Status::InvalidArgument("no source named '" + o.source + "' in " + o.config->file);
  if (sc->postgres() == nullptr)
    return Status::InvalidArgument("source " + o.source + " is of kind " + sc->kind +
                                   ": verify reads PostgreSQL sources");
  if (o.chunk_rows == 0 || o.segment_rows < o.chunk_rows)
    return Status::InvalidArgument("--chunk-rows must be at least 1 and at most the segment size");
  const PostgresSourceConfig source(*sc);
  std::string want = o.table;
  if (!want.empty() && want.find('.') == std::string::npos) want = "public." + want;
  std::vector<const RouteConfig*> routes;
  for (const RouteConfig& r : o.config->routes) {
    if (r.from_source != o.source) continue;
    if (!want.empty() && r.from_schema + "." + r.from_table != want) continue;
    routes.push_back(&r);
  }
  if (routes.empty())
    return Status::InvalidArgument(want.empty() ? "source " + o.source + " has no routes to verify"
                                                : "no route from " + o.source + "." + want);
  std::vector<TableVerification> out(routes.size());
  for (size_t i = 0; i < routes.size(); ++i) {
    TableVerifier v(o, source, *routes[i], &out[i]);
    HANDOFF_RETURN_IF_ERROR(v.Run());
  }
  return out;
}

std::string VerificationText(const std::vector<TableVerification>& tables) {
  std::string out;
  for (const TableVerification& t : tables) {
    const size_t diffs = t.missing.size() + t.extra.size() + t.different.size();
    out += fmt::format("{}.{} -> {}.{}: {} row(s) in {} range(s) checked in {:.1f} s ({:.0f} rows/s), {} watermark(s); {}\n",
                       t.source, t.source_table, t.target, t.target_table, t.rows_checked, t.ranges, t.seconds,
                       t.seconds > 0 ? static_cast<double>(t.rows_checked) / t.seconds : 0.0, t.watermarks,
                       t.equal() ? "no differences" : fmt::format("{} difference(s), {} unsettled", diffs, t.unsettled.size()));
    for (const VerifiedRow& r : t.missing) out += "  missing    " + KeyLine(t.key_columns, r.key) + "\n";
    for (const VerifiedRow& r : t.extra) out += "  extra      " + KeyLine(t.key_columns, r.key) + "\n";
    for (const VerifiedRow& r : t.different)
      out += fmt::format("  different  {}: {}\n", KeyLine(t.key_columns, r.key), fmt::join(r.columns, ", "));
    for (const VerifiedRow& r : t.unsettled)
      out += "  unsettled  " + KeyLine(t.key_columns, r.key) + " (kept changing while it was compared)\n";
    if (!t.not_in_target.empty())
      out += fmt::format("  not compared (not in the target table): {}\n", fmt::join(t.not_in_target, ", "));
    if (t.repaired > 0 || !t.repair_note.empty())
      out += fmt::format("  repair: {} row(s) re-read through the source's chunked snapshot{}{}\n", t.repaired,
                         t.repair_verified ? ", the target now equals the source for each" : "",
                         t.repair_note.empty() ? "" : "; " + t.repair_note);
  }
  return out;
}

std::string VerificationJson(const std::vector<TableVerification>& tables) {
  std::string out = "{\"tables\":[";
  for (size_t i = 0; i < tables.size(); ++i) {
    const TableVerification& t = tables[i];
    if (i) out += ",";
    out += "{\"source\":" + JsonString(t.source) + ",\"table\":" + JsonString(t.source_table) +
           ",\"target\":" + JsonString(t.target) + ",\"target_table\":" + JsonString(t.target_table) + ",\"key\":[";
    for (size_t k = 0; k < t.key_columns.size(); ++k) out += (k ? "," : "") + JsonString(t.key_columns[k]);
    out += fmt::format("],\"equal\":{},\"rows_checked\":{},\"ranges\":{},\"ranges_split\":{},\"watermarks\":{},"
                       "\"seconds\":{:.3f},\"rows_per_second\":{:.0f}",
                       t.equal() ? "true" : "false", t.rows_checked, t.ranges, t.ranges_split, t.watermarks, t.seconds,
                       t.seconds > 0 ? static_cast<double>(t.rows_checked) / t.seconds : 0.0);
    auto list = [&](const char* name, const std::vector<VerifiedRow>& rows, bool columns) {
      out += fmt::format(",\"{}\":[", name);
      for (size_t r = 0; r < rows.size(); ++r) {
        out += r ? ",{\"key\":" : "{\"key\":";
        KeyJson(&out, t.key_columns, rows[r].key);
        if (columns) {
          out += ",\"columns\":[";
          for (size_t c = 0; c < rows[r].columns.size(); ++c) out += (c ? "," : "") + JsonString(rows[r].columns[c]);
          out += "]";
        }
        out += "}";
      }
      out += "]";
    };
    list("missing", t.missing, false);
    list("extra", t.extra, false);
    list("different", t.different, true);
    list("unsettled", t.unsettled, false);
    out += ",\"not_compared\":[";
    for (size_t c = 0; c < t.not_in_target.size(); ++c) out += (c ? "," : "") + JsonString(t.not_in_target[c]);
    out += fmt::format("],\"repaired\":{},\"repair_verified\":{},\"repair_note\":{}}}", t.repaired,
                       t.repair_verified ? "true" : "false", JsonString(t.repair_note));
  }
  return out + "]}\n";
}

}  // namespace handoff
