// ChangeRequest: a routed ChangeEvent as the HTTP request an http target
// receives. The translation is pure and deterministic: the same change gives
// the same method, body and Idempotency-Key on every retry and every replay
// (journal seq and journaling time are deliberately left out of the body).
//
//   insert, read, update -> PUT    <url>/<resource>   body: the change (below)
//   delete               -> DELETE <url>/<resource>   body: the change, key from the before image
//   truncate             -> not sent (the applier parks it as "unsupported")
//
// Body, one canonical JSON object, members in this order, no whitespace;
// values are the exact source text (strings), NULL is null, an unchanged
// TOAST value is {"unchanged_toast":true}, binary values are "\x<hex>":
//   {"id":"psa:0/16B3F28#3:public.time_entries:update","op":"update",
//    "source":"psa","position":"0/16B3F28#3","schema":"public",
//    "table":"time_entries","commit_time_us":1700000000000000,
//    "key":{"id":"42"},"old_key":{"id":"41"},"before":{...},"after":{...}}
// "old_key" only when an update moved the key; "before" when the source sent
// an old image; "after" for insert/read/update.
//
// Idempotency-Key = lowercase hex SHA-256 of the "id" member
// ("<source>:<position>:<schema>.<table>:<op>").
//
// Thread-safety: plain values and stateless functions.
#pragma once

#include <string>

#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff::apply {

struct ChangeRequest {
  std::string method;           // "PUT" or "DELETE"
  std::string resource;         // the route's resource path segment
  std::string change_id;        // "<source>:<position>:<schema>.<table>:<op>"
  std::string idempotency_key;  // hex SHA-256 of change_id
  std::string body;             // canonical JSON, see above
};

// "<source>:<position>:<schema>.<table>:<op>".
std::string ChangeId(const ChangeEvent& event);
// Lowercase hex SHA-256 of ChangeId(event): 64 characters.
std::string IdempotencyKey(const ChangeEvent& event);

// Checks that every text value of `event` is valid UTF-8, so the JSON body
// carries it exactly (a NUL byte or any other control byte travels as its
// \u escape). kPermanent naming the column and offset otherwise: JSON
// strings cannot carry such bytes and replacing them would change the value.
Status CheckJsonText(const ChangeEvent& event);

// Builds the request for `event` routed to `resource`.
// REQUIRES: event.op is insert, read, update or delete.
// kPermanent, naming the problem, when the change cannot be sent as is: a
// delete without a key, a key column without a value.
Status BuildChangeRequest(const ChangeEvent& event, const std::string& resource, ChangeRequest* out);

}  // namespace handoff::apply
