// SQLSTATE classification: the one place that decides whether a PostgreSQL
// error is worth retrying (transient) or will fail again unchanged (permanent).
//
// Thread-safety: stateless functions.
#pragma once

#include <string_view>

namespace handoff::apply {

enum class ErrorKind {
  kTransient,  // roll back, reconnect with backoff, redo from the applied seq
  kPermanent,  // the change itself is at fault: park it, carry on
  kTarget,     // the target refuses every change alike: pause it until it is fixed
};

// Classifies an error. `sqlstate` is the five-character code (empty when the
// server sent none); `connection_ok` is false when the connection is gone,
// which makes any error transient.
//
// Target (a Permanent Status; handoff::IsTargetRefusal in target_pause.h): the target is
// not set up to take the changes at all, so every change after this one would
// fail the same way. 42P01 undefined table, 3F000 invalid schema name, 42501
// insufficient privilege, 42703 undefined column (only a trigger or rule can
// raise it: the writer drops source columns the target lacks), 42883
// undefined function and 42704 undefined object (a trigger, default or type
// the target's definition needs).
//
// Transient: class 08 (connection), 57P (shutdown), 57014 (cancelled), 40001
// (serialization), 40P01 (deadlock), class 53 (resources, 53300 too many
// connections), class 58 (system I/O), 55006 / 55P03 (object in use, lock not
// available: e.g. the replication origin still held by a dying backend),
// class 25 (transaction state: a fresh transaction resolves it), and an error
// without SQLSTATE. Permanent: everything else (22 data, 23 constraint,
// 42 syntax/undefined object, 0A, P0 raised by triggers, ...).
ErrorKind ClassifySqlState(std::string_view sqlstate, bool connection_ok);

}  // namespace handoff::apply
