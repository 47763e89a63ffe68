// GuardedHttpServer in process, over real sockets: the head scanner's
// verdicts, 431/408/503 from the gate, requests cut at request_timeout,
// kept-alive and pipelined requests, slow clients not starving the workers,
// and the rate-limited rejection log.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "handoff/capture/guarded_http_server.h"
#include "http/head_scanner.h"
#include "http/rejection_log.h"

namespace handoff {
namespace {

using Clock = std::chrono::steady_clock;
using http::HeadScanner;
using http::HeadVerdict;

TEST(HeadScannerTest, CompleteHeadAndSmallBody) {
  HeadScanner s(1024, 10);
  std::string buf = "POST / HTTP/1.1\r\nContent-Length: 5\r\n";
  EXPECT_EQ(s.Scan(buf), HeadVerdict::kWait);
  buf += "\r\nab";
  EXPECT_EQ(s.Scan(buf), HeadVerdict::kWait) << "the 5-byte body is waited for";
  buf += "cde";
  EXPECT_EQ(s.Scan(buf), HeadVerdict::kReady);
  EXPECT_EQ(s.head_bytes(), buf.size() - 5);
}

TEST(HeadScannerTest, LargeOrChunkedBodiesAreLeftToTheWorker) {
  HeadScanner big(1024, 10);
  EXPECT_EQ(big.Scan("POST / HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n"), HeadVerdict::kReady);
  HeadScanner chunked(1024, 10);
  EXPECT_EQ(chunked.Scan("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\ncontent-length: 4\r\n\r\n"),
            HeadVerdict::kReady);
}

TEST(HeadScannerTest, LimitsOnBytesAndLines) {
  HeadScanner bytes(64, 10);
  EXPECT_EQ(bytes.Scan("GET / HTTP/1.1\r\nX: " + std::string(60, 'a')), HeadVerdict::kTooLarge);
  HeadScanner lines(100000, 3);
  std::string h = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 3; ++i) h += "A: b\r\n";
  EXPECT_EQ(lines.Scan(h), HeadVerdict::kWait) << "3 headers are allowed";
  EXPECT_EQ(lines.Scan(h + "A: b\r\n"), HeadVerdict::kTooManyHeaders);
  HeadScanner three(100000, 3);
  EXPECT_EQ(three.Scan(h + "\r\n"), HeadVerdict::kReady);
}

TEST(RejectionLogTest, BurstIsCutToAFewLinesAndOneSummary) {
  http::RejectionLog log("test", "src", 3, std::chrono::milliseconds(200));
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 20; ++i) log.Note("401 bad signature", "rejected " + std::to_string(i));
  log.Note("400 malformed", "other reason");
  // The summary is due once the 200 ms interval is over: wait out the clock.
  const auto interval_end = Clock::now() + std::chrono::milliseconds(250);
  while (Clock::now() < interval_end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  log.Flush();
  std::string out = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("rejected 2"), std::string::npos) << out;
  EXPECT_EQ(out.find("rejected 3"), std::string::npos) << out;
  EXPECT_NE(out.find("other reason"), std::string::npos) << out;
  EXPECT_NE(out.find("suppressed 17 similar rejections (401 bad signature)"), std::string::npos) << out;
}

int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Everything the server sends until it closes (or 10 s pass).
std::string ReadAll(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

class GuardedServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerLimits limits) {
    GuardedHttpOptions o;
    o.name = "test";
    o.limits = limits;
    o.on_reject = [this](const HttpRejection& r) {
      std::lock_guard<std::mutex> lk(mu_);
      rejections_.push_back(r);
    };
    guard_ = GuardedHttpServer::Create(o);
    auto& s = guard_->server();
    s.Get("/ping", [](const httplib::Request&, httplib::Response& res) { res.set_content("pong", "text/plain"); });
    s.Post("/echo", [](const httplib::Request& req, httplib::Response& res) { res.set_content(req.body, "text/plain"); });
    port_ = s.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([&s] { s.listen_after_bind(); });
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!s.is_running() && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  void TearDown() override {
    if (guard_) {
      guard_->server().stop();
      thread_.join();
    }
  }
  int Ping() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5);
    auto r = c.Get("/ping");
    return r ? r->status : 0;
  }
  bool WaitRejection(int status) {
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline) {
      {
        std::lock_guard<std::mutex> lk(mu_);
        for (auto& r : rejections_)
          if (r.status == status && r.peer.rfind("127.0.0.1:", 0) == 0) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  std::unique_ptr<GuardedHttpServer> guard_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<HttpRejection> rejections_;
};

TEST_F(GuardedServerTest, SlowHeadsDoNotTakeTheWorkers) {
  Start(HttpServerLimits{.threads = 2});
  std::vector<int> slow;
  for (int i = 0; i < 50; ++i) {
    slow.push_back(Connect(port_));
    ASSERT_GE(slow.back(), 0);
    ASSERT_EQ(send(slow.back(), "GET /pi", 7, MSG_NOSIGNAL), 7);
  }
  for (int i = 0; i < 5; ++i) {
    auto start = Clock::now();
    EXPECT_EQ(Ping(), 200);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  }
  EXPECT_GE(guard_->counters().open.load(), 50u) << "the slow connections are all still open";
  for (int fd : slow) close(fd);
}

TEST_F(GuardedServerTest, OversizedHeadsGet431) {
  Start(HttpServerLimits{.max_header_bytes = 2048, .max_headers = 20});
  int fd = Connect(port_);
  std::string many = "GET /ping HTTP/1.1\r\n";
  for (int i = 0; i < 30; ++i) many += "X-A: b\r\n";
  send(fd, many.data(), many.size(), MSG_NOSIGNAL);
  EXPECT_EQ(ReadAll(fd).substr(0, 12), "HTTP/1.1 431");
  close(fd);
  fd = Connect(port_);
  std::string big = "GET /ping HTTP/1.1\r\nX-Big: " + std::string(4000, 'x');
  send(fd, big.data(), big.size(), MSG_NOSIGNAL);
  EXPECT_EQ(ReadAll(fd).substr(0, 12), "HTTP/1.1 431");
  close(fd);
  EXPECT_TRUE(WaitRejection(431));
  EXPECT_EQ(guard_->counters().head_too_large.load(), 2u);
  EXPECT_EQ(Ping(), 200);
}

TEST_F(GuardedServerTest, IncompleteHeadGets408AndSilentOneIsClosed) {
  Start(HttpServerLimits{.head_timeout_us = 300000});
  int partial = Connect(port_), silent = Connect(port_);
  send(partial, "GET /ping HTTP/1.1\r\n", 20, MSG_NOSIGNAL);
  EXPECT_EQ(ReadAll(partial).substr(0, 12), "HTTP/1.1 408");
  EXPECT_EQ(ReadAll(silent), "") << "closed without an answer";
  EXPECT_TRUE(WaitRejection(408));
  EXPECT_TRUE(WaitRejection(0));
  close(partial);
  close(silent);
}

TEST_F(GuardedServerTest, ConnectionCapGets503) {
  Start(HttpServerLimits{.max_connections = 3});
  std::vector<int> held;
  for (int i = 0; i < 3; ++i) held.push_back(Connect(port_));
  auto deadline = Clock::now() + std::chrono::seconds(5);
  while (guard_->counters().open.load() < 3 && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  int fd = Connect(port_);
  EXPECT_EQ(ReadAll(fd).substr(0, 12), "HTTP/1.1 503");
  close(fd);
  EXPECT_TRUE(WaitRejection(503));
  for (int h : held) close(h);
}

TEST_F(GuardedServerTest, TrickledBodyIsCutAtRequestTimeout) {
  Start(HttpServerLimits{.request_timeout_us = 1000000, .threads = 1});
  int fd = Connect(port_);
  // Larger than the gate's prefetch, so a worker reads the body.
  std::string head = "POST /echo HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
  send(fd, head.data(), head.size(), MSG_NOSIGNAL);
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      send(fd, "x", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto start = Clock::now();
  ReadAll(fd);  // returns once the server cuts the connection
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  stop = true;
  trickle.join();
  close(fd);
  EXPECT_EQ(Ping(), 200) << "the only worker is free again";
}

TEST_F(GuardedServerTest, KeepAliveAndPipelinedRequests) {
  Start(HttpServerLimits{});
  httplib::Client c("127.0.0.1", port_);
  c.set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    auto r = c.Post("/echo", "body" + std::to_string(i), "text/plain");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "body" + std::to_string(i));
  }
  EXPECT_EQ(guard_->counters().accepted.load(), 1u) << "one kept-alive connection";
  int fd = Connect(port_);
  std::string two = "GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  send(fd, two.data(), two.size(), MSG_NOSIGNAL);
  std::string out = ReadAll(fd);
  close(fd);
  size_t first = out.find("pong");
  ASSERT_NE(first, std::string::npos) << out;
  EXPECT_NE(out.find("pong", first + 4), std::string::npos) << out;
}

}  // namespace
}  // namespace handoff
