// TypeCanHold: whether a target column can take every value of a source
// column after a schema change, from the two types as PostgreSQL's
// format_type() writes them ("numeric(12,2)", "character varying(40)",
// "timestamp(3) with time zone", "integer[]").
//
// It answers yes for the same type, for a wider length or precision, for the
// integer and float widenings that are exact, for numeric without a limit,
// and for text and unbounded character varying (which take any value's text
// form); no otherwise, also for a type it does not know. A no makes the
// applier park the change (README "Schema changes"), so an unknown pair is
// looked at by a person rather than written with a silent rounding.
//
// Thread-safety: stateless.
#pragma once

#include <string_view>

namespace handoff::apply {

bool TypeCanHold(std::string_view target, std::string_view source);

// Whether `type` is a bare type name as format_type() writes one: an
// identifier (optionally schema-qualified, either part quoted), the words
// format_type uses after it ("with time zone", "varying", "precision",
// interval fields), one modifier of one or two numbers, and "[]" suffixes.
// Anything else (a DEFAULT, a constraint, a generated expression) is refused,
// so a type taken from a schema event can go into an ALTER TABLE safely.
bool PlainTypeName(std::string_view type);

}  // namespace handoff::apply
