// PayloadDecoder: turns the (already verified) body of one webhook delivery
// into ChangeEvents for one format.
//
//   debezium    Debezium JSON, one document or an array (Debezium Server's
//               HTTP sink); change records only (transaction, heartbeat and
//               tombstone records are skipped).
//   salesforce  Change Data Capture events (CometD envelope {data:{payload,
//               event:{replayId}}}, the bare {payload, event} form, or an
//               array of either). One ChangeEvent per recordIds entry;
//               schema "salesforce", table = entityName, key column "Id".
//               CREATE/UNDELETE -> insert, UPDATE -> update (only the fields
//               sent, nulledFields as NULL), DELETE -> delete (before = Id).
//               GAP_CREATE/GAP_UPDATE/GAP_DELETE/GAP_UNDELETE/GAP_OVERFLOW
//               carry no values: Op::kMessage with after columns
//               refetch_needed = true, change_type and Id; the apply side
//               turns it into a "refetch needed" exception.
//   toggl       Toggl Track webhooks v1: {event_id, metadata{action, model},
//               payload}. payload "ping" is the subscription handshake: it
//               journals nothing and is answered {"validation_code": ...}.
//               Otherwise schema "toggl", table = model + "s"
//               (time_entry -> time_entries), key column "id", op from
//               action created/updated/deleted.
//
// Values are PostgreSQL text with type OIDs: strings text (25), integers int8
// (20) or numeric (1700) from the JSON token itself (never through a double),
// booleans "t"/"f" (16), objects and arrays json (114), null NULL.
// Webhook changes carry xid 0 (each applied on its own); a transaction key
// (Salesforce transactionKey#sequenceNumber@commitNumber, Debezium txId)
// goes to correlation_id.
//
// Thread-safety: not thread-safe (reuses a parser); one per thread at a time.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "handoff/capture/debezium.h"
#include "handoff/engine/change_event.h"
#include "handoff/engine/status.h"

namespace handoff::webhook {

enum class PayloadFormat { kDebezium, kSalesforce, kToggl };

struct DecodedDelivery {
  std::string delivery_id;          // format-specific delivery id; empty if the body names none
  std::vector<ChangeEvent> events;  // changes, positions not yet assigned
  bool handshake = false;           // answer reply_body, journal nothing
  std::string reply_body;
};

class PayloadDecoder {
 public:
  static Result<PayloadFormat> ParseFormat(const std::string& name);
  PayloadDecoder(PayloadFormat format, std::string source_name);
  ~PayloadDecoder();

  // Decodes `body`. With want_top_level_id, a top-level "id" string (a
  // Stripe-style event id) becomes the delivery id. kInvalidArgument names
  // the reason on malformed input; `out` is then unspecified.
  Status Decode(std::string_view body, bool want_top_level_id, DecodedDelivery* out);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace handoff::webhook
