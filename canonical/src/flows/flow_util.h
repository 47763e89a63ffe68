// Helpers the business flows share: field text, exact amounts, periods,
// and Upsert (create or complete an entity the flow provisions).
//
// Internal to canonical/flows/.
#pragma once

#include <string>
#include <vector>

#include "../pass.h"
#include "handoff/engine/decimal.h"

namespace handoff::flows {

using conflict::EntityState;

// Field `field` of `s`; "" when unset or NULL.
std::string F(const EntityState& s, const std::string& field);
// The exact value of `text`; "" (not set) is 0. Text that is no number is an
// error naming `what`, which the flow parks: a wrong amount never counts as 0.
Result<Decimal> Num(const std::string& text, const std::string& what);
// Field `field` of `s` as Num ("hours of time entry time_entry:psa:7").
Result<Decimal> Num(const EntityState& s, const std::string& field);
// Rounded to cents, half away from zero.
Decimal Cents(const Decimal& d);
std::string Money(const Decimal& d);
std::string Join(const std::vector<std::string>& parts);
// "2026-10" -> first and last day; false when malformed.
bool PeriodDays(const std::string& period, std::string* first, std::string* last);
bool InPeriod(const std::string& date, const std::string& first, const std::string& last);
// The entity's id in `system`, "" when it has none.
std::string XrefId(const EntityState& s, const std::string& system);
// "erp" -> "ERP": a system as messages name it.
std::string Upper(std::string s);
// The entity ref field `entity`.`field` points at; "" when it is none.
std::string RefEntity(const schemas::Model& model, const std::string& entity, const std::string& field);
// Canonical instant text of a UTC microsecond time.
std::string InstantText(int64_t us);
// Creates or completes entity `key` with `fields` (provenance `system`) and
// writes what changed to every system the entity is mapped to. Nothing is
// written when the entity already holds these values (idempotent).
Status Upsert(CanonicalPass* pass, const std::string& entity, const std::string& key, const FieldMap& fields,
              const std::string& system, const std::string& why, bool* changed_any = nullptr);

}  // namespace handoff::flows
