#include "handoff/engine/change_event.h"

#include <cinttypes>
#include <cstdio>

namespace handoff {

const char* OpName(Op op) {
  switch (op) {
    case Op::kInsert: return "insert";
    case Op::kUpdate: return "update";
    case Op::kDelete: return "delete";
    case Op::kTruncate: return "truncate";
    case Op::kRead: return "read";
    case Op::kMessage: return "message";
    case Op::kCommit: return "commit";
    case Op::kSchema: return "schema";
  }
  return "unknown";
}

const char* SourceKindName(SourceKind kind) {
  switch (kind) {
    case SourceKind::kPostgres: return "postgres";
    case SourceKind::kWebhook: return "webhook";
    case SourceKind::kDebezium: return "debezium";
  }
  return "unknown";
}

std::string FormatLsn(uint64_t lsn) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn));
  return buf;
}

std::string FormatPosition(const SourcePosition& p) {
  char buf[64];
  if (p.ordinal == UINT64_MAX)
    std::snprintf(buf, sizeof(buf), "%s#end", FormatLsn(p.lsn).c_str());
  else
    std::snprintf(buf, sizeof(buf), "%s#%" PRIu64, FormatLsn(p.lsn).c_str(), p.ordinal);
  return buf;
}

namespace {
const Column* FindIn(const std::vector<Column>& cols, const std::string& name) {
  for (const auto& c : cols)
    if (c.name == name) return &c;
  return nullptr;
}
}  // namespace

const Column* ChangeEvent::FindAfter(const std::string& name) const { return FindIn(after, name); }
const Column* ChangeEvent::FindBefore(const std::string& name) const { return FindIn(before, name); }

}  // namespace handoff
