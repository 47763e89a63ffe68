#include "sqlstate.h"

namespace handoff::apply {

ErrorKind ClassifySqlState(std::string_view s, bool connection_ok) {
  if (!connection_ok || s.size() != 5) return ErrorKind::kTransient;
  const std::string_view cls = s.substr(0, 2);
  if (cls == "08" || cls == "53" || cls == "58" || cls == "25") return ErrorKind::kTransient;
  if (s.substr(0, 3) == "57P" || s == "57014") return ErrorKind::kTransient;
  if (s == "40001" || s == "40P01") return ErrorKind::kTransient;
  if (s == "55006" || s == "55P03") return ErrorKind::kTransient;
  if (s == "42P01" || s == "3F000" || s == "42501" || s == "42703" || s == "42883" || s == "42704")
    return ErrorKind::kTarget;
  return ErrorKind::kPermanent;
}

}  // namespace handoff::apply
