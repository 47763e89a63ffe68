#include "http_status.h"

namespace handoff::apply {

HttpOutcome ClassifyHttpStatus(long s) {
  if (s >= 200 && s < 300) return HttpOutcome::kDone;
  if (s >= 500 && s < 600) return HttpOutcome::kTransient;
  if (s == 429 || s == 408 || s == 425 || s == 401 || s == 407) return HttpOutcome::kTransient;
  return HttpOutcome::kPermanent;
}

}  // namespace handoff::apply
