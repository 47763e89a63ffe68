#include "head_scanner.h"

#include <cctype>
#include <cstdlib>

namespace handoff::http {
namespace {

bool StartsWithNoCase(std::string_view line, std::string_view prefix) {
  if (line.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != prefix[i]) return false;
  return true;
}

}  // namespace

HeadVerdict HeadScanner::Scan(std::string_view buf) {
  if (head_end_ == 0) {
    // A line is complete at its '\n'; the head ends at a line that is exactly
    // "\r\n" after the request line (httplib's read_headers stops there).
    for (size_t i = scanned_; i < buf.size(); ++i) {
      if (buf[i] != '\n') continue;
      ++lines_;
      if (lines_ >= 2 && i >= 2 && buf[i - 1] == '\r' && buf[i - 2] == '\n') {
        head_end_ = i + 1;
        break;
      }
      // Request line, headers so far, and the blank line still to come.
      if (lines_ > max_headers_ + 1) return HeadVerdict::kTooManyHeaders;
    }
    scanned_ = head_end_ != 0 ? head_end_ : buf.size();
    if (head_end_ == 0) return buf.size() > max_header_bytes_ ? HeadVerdict::kTooLarge : HeadVerdict::kWait;
    if (head_end_ > max_header_bytes_) return HeadVerdict::kTooLarge;
    ReadBodyLength(buf.substr(0, head_end_));
  }
  return buf.size() >= want_ ? HeadVerdict::kReady : HeadVerdict::kWait;
}

void HeadScanner::ReadBodyLength(std::string_view head) {
  want_ = head_end_;
  size_t length = 0;
  bool have_length = false;
  size_t pos = 0;
  while (pos < head.size()) {
    size_t nl = head.find('\n', pos);
    std::string_view line = head.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? head.size() : nl + 1;
    if (StartsWithNoCase(line, "transfer-encoding:")) return;  // chunked: the worker reads it
    if (StartsWithNoCase(line, "content-length:")) {
      std::string_view v = line.substr(15);
      size_t i = 0;
      while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
      size_t n = 0, digits = 0;
      for (; i < v.size() && std::isdigit(static_cast<unsigned char>(v[i])) && digits < 12; ++i, ++digits)
        n = n * 10 + static_cast<size_t>(v[i] - '0');
      if (digits == 0) return;
      length = n;
      have_length = true;
    }
  }
  if (have_length && length <= kPrefetchBody) want_ = head_end_ + length;
}

}  // namespace handoff::http
