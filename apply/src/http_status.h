// HTTP status classification: the one place that decides whether a response
// means done, try again (transient) or park the change (permanent).
//
// Thread-safety: stateless functions.
#pragma once

namespace handoff::apply {

enum class HttpOutcome {
  kDone,       // 2xx: the change is applied
  kTransient,  // retry the same request (same Idempotency-Key) after a backoff
  kPermanent,  // the change itself is at fault: park it, carry on
};

// 2xx: done. Transient: 429 (Retry-After honoured by the caller), every 5xx,
// 408 (request timeout), 425 (too early), and 401 / 407 (credentials: an
// expired or rotated token is a condition of the whole target, so parking
// every change while it lasts would be wrong; the applier logs it and waits).
// Permanent: every other status (other 4xx, 1xx/3xx since redirects are not
// followed, and anything outside 100..599).
HttpOutcome ClassifyHttpStatus(long status);

}  // namespace handoff::apply
