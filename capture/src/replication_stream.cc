#include "replication_stream.h"

#include <fmt/format.h>
#include <poll.h>

#include <cerrno>

#include "handoff/engine/clock.h"
#include "pgoutput_decoder.h"

namespace handoff {
namespace {

uint64_t ReadBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void WriteBE64(uint64_t v, char* p) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

}  // namespace

Status ReplicationStream::Start(const std::string& slot, const std::string& publication, bool streaming) {
  // Protocol 2 with streaming: the walsender sends a large transaction while
  // it runs (Stream Start / Stop blocks) instead of spilling it to its disk
  // and sending it only at commit.
  std::string sql = "START_REPLICATION SLOT " + QuoteIdent(slot) + " LOGICAL 0/0 (proto_version '" +
                    (streaming ? "2" : "1") + "', publication_names " + QuoteLiteral(QuoteIdent(publication)) +
                    ", messages 'true'" + (streaming ? ", streaming 'on'" : "") + ")";
  return conn_->StartCopy(sql, PgConnection::CopyMode::kBoth);
}

Status ReplicationStream::Read(std::chrono::milliseconds wait, ReplicationMessage* msg) {
  *msg = ReplicationMessage();
  buffer_.reset();
  for (int attempt = 0; attempt < 2; ++attempt) {
    char* raw = nullptr;
    int len = PQgetCopyData(conn_->get(), &raw, /*async=*/1);
    if (len > 0) return TakeMessage(len, raw, msg);
    if (len == -1) {
      PgResult res(PQgetResult(conn_->get()));
      Status st = conn_->Error("replication stream ended", res.get());
      return Status::Unavailable(st.message());
    }
    if (len == -2) return Status::Unavailable(conn_->Error("replication stream").message());
    if (attempt == 1) break;
    // Nothing buffered: wait for the socket, then read what arrived.
    pollfd pfd{PQsocket(conn_->get()), POLLIN, 0};
    if (pfd.fd < 0) return Status::Unavailable("replication connection has no socket");
    int n = ::poll(&pfd, 1, static_cast<int>(wait.count()));
    if (n < 0 && errno != EINTR) return Status::Unavailable(fmt::format("poll failed: errno {}", errno));
    if (n <= 0) return Status::OK();
    if (PQconsumeInput(conn_->get()) == 0) return Status::Unavailable(conn_->Error("replication stream").message());
  }
  return Status::OK();
}

Status ReplicationStream::TakeMessage(int len, char* raw, ReplicationMessage* msg) {
  buffer_.reset(raw);
  size_t n = static_cast<size_t>(len);
  switch (raw[0]) {
    case 'w':
      if (n < 25) return Status::Corruption(fmt::format("XLogData frame of {} bytes is shorter than its header", n));
      msg->kind = ReplicationMessage::Kind::kXLogData;
      msg->wal_start = ReadBE64(raw + 1);
      msg->wal_end = ReadBE64(raw + 9);
      msg->send_time_pg_us = static_cast<int64_t>(ReadBE64(raw + 17));
      msg->payload = std::string_view(raw + 25, n - 25);
      return Status::OK();
    case 'k':
      if (n < 18) return Status::Corruption(fmt::format("keepalive frame of {} bytes is too short", n));
      msg->kind = ReplicationMessage::Kind::kKeepalive;
      msg->wal_end = ReadBE64(raw + 1);
      msg->send_time_pg_us = static_cast<int64_t>(ReadBE64(raw + 9));
      msg->reply_requested = raw[17] != 0;
      return Status::OK();
    default:
      return Status::Corruption(fmt::format("unknown replication frame type 0x{:02x}", static_cast<uint8_t>(raw[0])));
  }
}

Status ReplicationStream::SendStatus(uint64_t write_lsn, uint64_t flush_lsn, uint64_t apply_lsn,
                                     bool reply_requested) {
  char buf[34];
  buf[0] = 'r';
  WriteBE64(write_lsn, buf + 1);
  WriteBE64(flush_lsn, buf + 9);
  WriteBE64(apply_lsn, buf + 17);
  WriteBE64(static_cast<uint64_t>(NowMicros() - kPgEpochOffsetUs), buf + 25);
  buf[33] = reply_requested ? 1 : 0;
  if (PQputCopyData(conn_->get(), buf, sizeof(buf)) != 1 || PQflush(conn_->get()) != 0) {
    return Status::Unavailable(conn_->Error("standby status update").message());
  }
  return Status::OK();
}

}  // namespace handoff
