// What a failed LMDB call of the journal means for an operator.
//
// A full file system reaches the journal in more than one form: ENOSPC from
// a write, and EIO from LMDB itself when a page write comes back short (it
// has no better code for that) or from fsync. A bare "Input/output error"
// would read as a broken disk and count as nothing, so an EIO on a file
// system with less than kNearlyFullBytes left is taken for a full disk.
// Both, and MDB_MAP_FULL, are kResourceExhausted with a message starting
// "journal full: ": intake holds and counts them (handoff_journal_full_total),
// /readyz names them, and nothing is acknowledged upstream.
//
// Thread-safety: free functions, safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "handoff/engine/status.h"

namespace handoff {

inline constexpr uint64_t kNearlyFullBytes = 1 << 20;

// Bytes an unprivileged writer may still use on the file system of `path`;
// UINT64_MAX when it cannot be told.
uint64_t AvailableBytes(const std::string& path);

// The Status for LMDB code `rc` from `what` on the journal at `path`.
Status LmdbError(int rc, std::string_view what, const std::string& path);

}  // namespace handoff
