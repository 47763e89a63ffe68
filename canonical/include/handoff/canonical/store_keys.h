// Every name the canonical engine gives a record in the journal: the keys of
// its records in the journal's meta store and the journal sources it writes.
// canonical/canonical_format.md describes each record and its value. Nothing
// outside canonical/ builds one of these keys by hand; readers go through
// CanonicalStore (store.h).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "handoff/engine/entity_change.h"

namespace handoff {

// Journal source of the changes derived for system S: "canonical.S".
inline constexpr const char* kCanonicalSourcePrefix = "canonical.";
// The router's read position (decimal text of the last journal seq routed).
inline constexpr const char* kCanonicalSeqKey = "canonical.seq";
// Counter of retried entries (decimal text), for their derived positions.
inline constexpr const char* kCanonicalRetryCounterKey = "canonical.retry_n";
// Journal source of `handoff billing close` requests (table handoff.billing_close, column period).
inline constexpr const char* kBillingCloseSource = "handoff.billing";

namespace canonical_key {

inline constexpr std::string_view kEntity = "entity:";
inline constexpr std::string_view kXref = "xref:";
inline constexpr std::string_view kHeld = "held:";
inline constexpr std::string_view kWait = "wait:";
inline constexpr std::string_view kRetry = "retry:canonical:";
inline constexpr std::string_view kTrace = "trace:";
inline constexpr std::string_view kAudit = "audit:";
inline constexpr std::string_view kFlow = "flow:";
inline constexpr std::string_view kTracePass = "trace_pass:";

// "entity:<key>": the canonical state of one entity.
std::string Entity(std::string_view key);
// "entity:<entity>:": every state of one entity type (keys start with the type).
std::string EntityType(std::string_view entity);
// "xref:<entity>:<system>/<object>/<id>": canonical key of a system's row.
std::string XrefIndex(std::string_view entity, const Xref& x);
// "<entity>:<system>:<id>": the canonical key a row has when its mapping keys
// the entity by that system's id (the usual case). No xref index record is
// kept for such a row: a lookup tries this key and checks the state's xrefs.
std::string ImpliedKey(std::string_view entity, const Xref& x);
// "held:<system>:<key>": the system holds the entity's row (journals before
// state version 2; now part of the state, EntityState::held_by).
std::string Held(std::string_view system, std::string_view key);
// "wait:<what>:<seq, 20 digits>": a parked entry to retry once <what> is stored.
std::string Wait(std::string_view what, uint64_t seq);
std::string WaitsOn(std::string_view what);  // prefix of the above
// "retry:canonical:<seq, 20 digits>": a retry request (value: who asked).
std::string Retry(uint64_t seq);
// Seq of a retry or wait key (the 20 digits after `prefix`); 0 when malformed.
uint64_t SeqAfter(std::string_view key, size_t prefix_size);
// "trace:<root>:<seq, 20 digits>:<n, 5 digits>": one step of an engagement.
std::string TraceStep(std::string_view root, uint64_t seq, int n);
std::string TraceOf(std::string_view root);  // prefix of the above
// "trace_pass:<first seq of a router pass, 20 digits>": when the pass was
// written and the seqs its derived changes got, for the routine steps that
// are kept in entity states instead of trace records (canonical_format.md).
std::string TracePass(uint64_t pass_id);
// "audit:<seq, 20 digits>:<field or *>": a field decision that did not apply.
std::string Audit(uint64_t seq, std::string_view field);
// "flow:<what>:<subject>": a business flow's memory (project provisioned,
// hours approved so far, entry invoiced, payment received).
std::string Flow(std::string_view what, std::string_view subject);
// "wait" target naming a lookup value rather than an entity key:
// "<entity>_<field>:<value>" (a rate card code that has not arrived yet).
std::string LookupValue(std::string_view entity, std::string_view field, std::string_view value);

}  // namespace canonical_key
}  // namespace handoff
