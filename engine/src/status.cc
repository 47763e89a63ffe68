#include "handoff/engine/status.h"

namespace handoff {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "Invalid argument";
    case StatusCode::kNotFound: return "Not found";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kConflict: return "Conflict";
    case StatusCode::kInDoubt: return "In doubt";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kResourceExhausted: return "Resource exhausted";
    case StatusCode::kPermanent: return "Permanent error";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kInternal: return "Internal error";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string message) {
  if (code != StatusCode::kOk) rep_ = std::make_unique<Rep>(Rep{code, std::move(message)});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(rep_->code)) + ": " + rep_->message;
}

}  // namespace handoff
