// HeadScanner: decides, from the bytes a connection has sent so far, whether
// its HTTP request head is complete, too large, or still arriving. It follows
// httplib's own reading: lines end at '\n', and the head ends at a line that
// is exactly "\r\n". When the head announces a Content-Length of at most
// kPrefetchBody bytes (and no Transfer-Encoding), the body is waited for too,
// so a small request reaches a worker whole.
// Thread-safety: one scanner per connection, used by one thread at a time.
#pragma once

#include <cstddef>
#include <string_view>

namespace handoff::http {

inline constexpr size_t kPrefetchBody = 64u << 10;

enum class HeadVerdict { kWait, kReady, kTooLarge, kTooManyHeaders };

class HeadScanner {
 public:
  HeadScanner(size_t max_header_bytes, size_t max_headers)
      : max_header_bytes_(max_header_bytes), max_headers_(max_headers) {}

  // `buf` holds every byte so far (the previous bytes unchanged). Scans only
  // what is new since the last call.
  HeadVerdict Scan(std::string_view buf);
  // Once kReady: the bytes of the head (through the blank line).
  size_t head_bytes() const { return head_end_; }
  // How many bytes the gate may hold: one past the head limit while the head
  // is open (enough to tell "too large"), then the head plus its small body.
  size_t read_limit() const { return head_end_ == 0 ? max_header_bytes_ + 1 : want_; }
  void Reset() { *this = HeadScanner(max_header_bytes_, max_headers_); }

 private:
  void ReadBodyLength(std::string_view head);

  size_t max_header_bytes_, max_headers_;
  size_t scanned_ = 0;   // bytes of buf already looked at
  size_t lines_ = 0;     // '\n' seen in the head so far
  size_t head_end_ = 0;  // 0 until the blank line is found
  size_t want_ = 0;      // head plus the prefetched body
};

}  // namespace handoff::http
