#include "handoff/apply/target_pause.h"

#include <fmt/format.h>

#include <vector>

#include "handoff/engine/log.h"
#include "sqlstate.h"

namespace handoff {
namespace {

// Newline-separated fields; text fields have their newlines flattened.
std::string Flat(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

}  // namespace

bool IsTargetRefusal(std::string_view code) {
  if (code == "no_primary_key") return true;
  return code.size() == 5 && apply::ClassifySqlState(code, true) == apply::ErrorKind::kTarget;
}

std::string TargetPauseKey(const std::string& target) { return "pause:" + target; }
std::string TargetResumeKey(const std::string& target) { return "resume:" + target; }

std::string EncodeTargetPause(const TargetPause& p) {
  return fmt::format("1\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}", Flat(p.target), p.seq, p.held_from, p.held,
                     p.failed_seq, p.since_us, p.last_try_us, p.tries, Flat(p.table), Flat(p.code),
                     Flat(p.message));
}

bool DecodeTargetPause(std::string_view data, TargetPause* p) {
  std::vector<std::string> f;
  size_t start = 0;
  while (true) {
    size_t nl = data.find('\n', start);
    f.emplace_back(data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  if (f.size() < 12 || f[0] != "1") return false;
  try {
    p->target = f[1];
    p->seq = std::stoull(f[2]);
    p->held_from = std::stoull(f[3]);
    p->held = std::stoull(f[4]);
    p->failed_seq = std::stoull(f[5]);
    p->since_us = std::stoll(f[6]);
    p->last_try_us = std::stoll(f[7]);
    p->tries = std::stoull(f[8]);
  } catch (const std::exception&) {
    return false;
  }
  p->table = f[9];
  p->code = f[10];
  p->message = f[11];
  return true;
}

Result<std::optional<TargetPause>> ReadTargetPause(Journal* journal, const std::string& target) {
  auto v = journal->GetMeta(TargetPauseKey(target));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<TargetPause>();
  TargetPause p;
  if (!DecodeTargetPause(**v, &p)) return Status::Corruption("meta " + TargetPauseKey(target) + " is unreadable");
  return std::optional<TargetPause>(std::move(p));
}

Status RequestTargetResume(Journal* journal, const std::string& target, const std::string& actor) {
  return journal->PutMeta(TargetResumeKey(target), actor.empty() ? "resume" : actor);
}

std::string TargetHoldKey(const std::string& target, const std::string& route) {
  return route.empty() ? "hold:" + target : "hold:" + target + ":" + route;
}

std::string EncodeOperatorHold(const OperatorHold& h) {
  return fmt::format("1\n{}\n{}\n{}", h.since_us, Flat(h.actor), Flat(h.note));
}

bool DecodeOperatorHold(std::string_view data, OperatorHold* h) {
  // version, since, actor, note (the note is last: it may be empty).
  size_t a = data.find('\n');
  size_t b = a == std::string_view::npos ? a : data.find('\n', a + 1);
  size_t c = b == std::string_view::npos ? b : data.find('\n', b + 1);
  if (c == std::string_view::npos || data.substr(0, a) != "1") return false;
  try {
    h->since_us = std::stoll(std::string(data.substr(a + 1, b - a - 1)));
  } catch (const std::exception&) {
    return false;
  }
  h->actor = std::string(data.substr(b + 1, c - b - 1));
  h->note = std::string(data.substr(c + 1));
  return true;
}

Status PutTargetHold(Journal* journal, const std::string& target, const OperatorHold& hold) {
  return journal->PutMeta(TargetHoldKey(target, hold.route), EncodeOperatorHold(hold));
}

Status ClearTargetHold(Journal* journal, const std::string& target, const std::string& route, bool* existed) {
  const std::string key = TargetHoldKey(target, route);
  auto v = journal->GetMeta(key);
  if (!v.ok()) return v.status();
  *existed = v->has_value();
  if (!*existed) return Status::OK();
  return journal->DeleteMeta(key);
}

Result<std::vector<OperatorHold>> ReadTargetHolds(Journal* journal, const std::string& target) {
  const std::string whole = TargetHoldKey(target);
  std::vector<OperatorHold> holds;
  bool bad = false;
  // "hold:t" is also a prefix of "hold:tx...": only the key itself and "hold:t:..." are t's.
  Status st = journal->ScanMeta(whole, [&](std::string_view key, std::string_view value) {
    if (key.size() > whole.size() && key[whole.size()] != ':') return true;
    OperatorHold h;
    if (!DecodeOperatorHold(value, &h)) {
      bad = true;
      return true;
    }
    if (key.size() > whole.size()) h.route = std::string(key.substr(whole.size() + 1));
    holds.push_back(std::move(h));
    return true;
  });
  if (!st.ok()) return st;
  if (bad) LogWarn("apply", "target {}: an unreadable hold record in the journal's meta store is ignored", target);
  return holds;
}

bool TargetResumePending(Journal* journal, const std::string& target) {
  auto v = journal->GetMeta(TargetResumeKey(target));
  return v.ok() && v->has_value();
}

}  // namespace handoff
