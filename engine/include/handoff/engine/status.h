// Status and Result<T>: the error vocabulary shared by every component.
//
// Thread-safety: values; a Status or Result is not shared between threads while mutated.
#pragma once

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace handoff {

// What went wrong, in terms a caller can act on.
enum class StatusCode : unsigned char {
  kOk = 0,
  kInvalidArgument,    // bad input or configuration; retrying will not help
  kNotFound,           // the named thing does not exist
  kUnavailable,        // retryable: a peer is down, a connection dropped
  kConflict,           // the change contradicts what the target or canonical state holds
  kInDoubt,            // the outcome of a commit is unknown; resolve by reading positions
  kCorruption,         // stored data is not what it must be
  kResourceExhausted,  // a bounded resource is full (journal map, credit); back off
  kPermanent,          // a data or constraint error that will fail again unchanged
  kCancelled,          // stopped on request
  kInternal,           // a bug
};

const char* StatusCodeName(StatusCode code);

// A cheap success-or-error value. OK holds no allocation.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message);

  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Conflict(std::string m) { return {StatusCode::kConflict, std::move(m)}; }
  static Status InDoubt(std::string m) { return {StatusCode::kInDoubt, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status Permanent(std::string m) { return {StatusCode::kPermanent, std::move(m)}; }
  static Status Cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  const std::string& message() const;
  // "Unavailable: connection refused".
  std::string ToString() const;

  bool IsUnavailable() const { return code() == StatusCode::kUnavailable; }
  bool IsResourceExhausted() const { return code() == StatusCode::kResourceExhausted; }

  Status(const Status& o) : rep_(o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr) {}
  Status& operator=(const Status& o) {
    rep_ = o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr;
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::unique_ptr<Rep> rep_;
};

// A value or the Status that explains its absence; shaped like std::expected.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {          // NOLINT
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace handoff

#define HANDOFF_RETURN_IF_ERROR(expr)        \
  do {                                       \
    ::handoff::Status _st = (expr);          \
    if (!_st.ok()) return _st;               \
  } while (0)
