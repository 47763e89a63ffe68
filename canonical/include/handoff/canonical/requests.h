// Requests to the running canonical router. The router is the only writer of
// canonical state, so a CLI verb does not change it: it stores a request in
// the journal, and the router carries it out in its next pass.
//
// Thread-safety: each call is one journal transaction.
#pragma once

#include <cstdint>
#include <string>

#include "handoff/engine/journal.h"
#include "handoff/engine/status.h"

namespace handoff {

// Appends a billing close request for `period` (YYYY-MM) to the journal; the
// router drafts the invoices. Returns the request's journal seq.
Result<uint64_t> RequestBillingClose(Journal* journal, const std::string& period);

// `handoff exceptions retry canonical/<seq>`: the request is stored in the
// journal and carried out by the running router (the only writer of entity
// state); pending until then.
Status RequestCanonicalRetry(Journal* journal, uint64_t seq, const std::string& actor);
bool CanonicalRetryPending(Journal* journal, uint64_t seq);

}  // namespace handoff
