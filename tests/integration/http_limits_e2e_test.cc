// The engine's HTTP servers under attack, through the real binary: slow
// clients trickling request heads on the webhook and admin ports, and floods
// of headers. While they go on, a signed delivery is journaled in time and
// /livez answers; refusals show in the log with peer, reason and delivery id,
// rate-limited. No PostgreSQL: the route goes to a fake REST API.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "admin_client.h"
#include "fake_api.h"
#include "handoff/capture/debezium.h"
#include "process.h"

namespace handoff::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kSecret = "gh-s3cret";
// Resident memory the engine may gain while refusing header floods. Before
// the gate, 300,000 headers took it from about 20 MB to over 450 MB.
constexpr long kMaxGrowthKib = 100 * 1024;

std::string HexHmac(const std::string& key, const std::string& data) {
  unsigned char md[32];
  unsigned int n = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &n);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < n; ++i) out += {hex[md[i] >> 4], hex[md[i] & 15]};
  return out;
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
  return fd;
}

// Clients that send a request head one byte at a time, never finishing it.
class Tricklers {
 public:
  Tricklers(int port, int count, std::chrono::milliseconds every) {
    for (int i = 0; i < count; ++i) fds_.push_back(Connect(port));
    thread_ = std::thread([this, every] {
      const std::string head = "POST /hooks/crm HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(4000, 'a');
      for (size_t k = 0; !stop_ && k < head.size(); ++k) {
        for (int fd : fds_)
          if (fd >= 0) (void)send(fd, &head[k], 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        auto until = Clock::now() + every;
        while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  ~Tricklers() {
    stop_ = true;
    thread_.join();
    for (int fd : fds_)
      if (fd >= 0) close(fd);
  }
  int connected() const {
    int n = 0;
    for (int fd : fds_) n += fd >= 0;
    return n;
  }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class HttpLimitsE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (std::filesystem::temp_directory_path() /
            ("handoff-httplimits-" + std::to_string(getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    hook_port_ = FreeTcpPort();
    do admin_port_ = FreeTcpPort();
    while (admin_port_ == hook_port_);
    std::ostringstream c;
    c << "journal: { path: " << dir_ << "/journal }\n"
      << "sources:\n  - { name: hooks, kind: webhook, listen: \"127.0.0.1:" << hook_port_
      << "\", path: /hooks/crm, format: debezium, signature: hmac-sha256, signature_header: X-Hub-Signature-256, secrets: [" << kSecret
      << "], head_timeout: 20s }\n"
      << "targets:\n  - { name: crm_api, kind: http, url: \"" << api_.base_url() << "\", timeout: 5s }\n"
      << "routes:\n  - { from: hooks.public.consultants, to: crm_api.consultants }\n"
      << "admin: { listen: \"127.0.0.1:" << admin_port_ << "\", head_timeout: 20s }\n";
    std::ofstream(dir_ + "/handoff.yaml") << c.str();
    engine_.Start({HandoffBinary(), "run", "--config", dir_ + "/handoff.yaml"}, dir_ + "/engine.log");
    // Up once a signed delivery is journaled (503 until the engine session is).
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (Post(Body(0)).status != 200) {
      ASSERT_LT(Clock::now(), deadline) << Log();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  void TearDown() override {
    if (HasFailure()) std::fprintf(stderr, "---- engine log tail ----\n%s\n", Log().substr(0, 6000).c_str());
    engine_.Stop(SIGTERM);
    std::filesystem::remove_all(dir_);
  }

  static std::string Body(int n) {
    ChangeEvent e;
    e.source = "crm";
    e.source_kind = SourceKind::kDebezium;
    e.position = {static_cast<uint64_t>(100 + n), 1};
    e.schema = "public";
    e.table = "consultants";
    e.op = Op::kInsert;
    e.key_columns = {"email"};
    e.after = {{"email", 25, Column::Kind::kText, "c" + std::to_string(n) + "@example.com"}};
    DebeziumEncodeOptions o;
    o.include_transaction_block = false;
    return EncodeDebezium(e, o);
  }
  struct Answer {
    int status = 0;
    std::chrono::milliseconds took{0};
  };
  Answer Post(const std::string& body, const std::string& secret = kSecret, const std::string& delivery = "") {
    auto start = Clock::now();
    httplib::Client cli("127.0.0.1", hook_port_);
    cli.set_connection_timeout(5);
    cli.set_read_timeout(5);
    httplib::Headers h{{"X-Hub-Signature-256", "sha256=" + HexHmac(secret, body)}};
    if (!delivery.empty()) h.emplace("X-GitHub-Delivery", delivery);
    auto r = cli.Post("/hooks/crm", h, body, "application/json");
    return {r ? r->status : 0, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
  }
  Answer Livez() {
    auto start = Clock::now();
    HttpReply r = HttpGet(admin_port_, "/livez");
    return {r.status, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
  }
  std::string Log() {
    std::ifstream in(dir_ + "/engine.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  size_t CountInLog(const std::string& needle) {
    std::string log = Log();
    size_t n = 0;
    for (size_t p = log.find(needle); p != std::string::npos; p = log.find(needle, p + 1)) ++n;
    return n;
  }
  // Sends `request` (as much as the engine takes) and reads its answer's
  // status line; 0 when the connection was reset or closed without one.
  int SendRaw(const std::string& request) {
    int fd = Connect(hook_port_);
    if (fd < 0) return -1;
    timeval tv{5, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (size_t off = 0; off < request.size();) {
      ssize_t n = send(fd, request.data() + off, std::min<size_t>(65536, request.size() - off), MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    char buf[64] = {};
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (n < 12 || std::strncmp(buf, "HTTP/1.1 ", 9) != 0) return 0;
    return std::atoi(buf + 9);
  }

  FakeApi api_;
  std::string dir_;
  int hook_port_ = 0, admin_port_ = 0;
  ChildProcess engine_;
};

TEST_F(HttpLimitsE2ETest, SlowClientsDoNotStarveDeliveriesOrHealthChecks) {
  Tricklers hooks(hook_port_, 200, std::chrono::milliseconds(1500));
  Tricklers admin(admin_port_, 10, std::chrono::milliseconds(1500));
  ASSERT_EQ(hooks.connected(), 200);
  ASSERT_EQ(admin.connected(), 10);
  // Checked repeatedly over about 8 s, past httplib's 5 s per-read timeout
  // and with every trickling connection still open.
  auto until = Clock::now() + std::chrono::seconds(8);
  for (int i = 1; Clock::now() < until; ++i) {
    Answer d = Post(Body(i));
    EXPECT_EQ(d.status, 200) << "delivery " << i;
    EXPECT_LT(d.took.count(), 2000) << "delivery " << i;
    Answer l = Livez();
    EXPECT_EQ(l.status, 200) << "livez " << i;
    EXPECT_LT(l.took.count(), 1000) << "livez " << i;
    EXPECT_EQ(HttpGet(admin_port_, "/readyz").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // pacing, not synchronisation
  }
}

TEST_F(HttpLimitsE2ETest, HeaderFloodsAreRefusedWithinAMemoryBound) {
  const long idle = ProcessMemoryKib(engine_.pid(), "VmRSS");
  ASSERT_GT(idle, 0);
  std::string many = "POST /hooks/crm HTTP/1.1\r\nHost: x\r\n";
  many.reserve(300000 * 14);
  for (int i = 0; i < 300000; ++i) many += "X-H" + std::to_string(i % 1000) + ": v\r\n";
  many += "Content-Length: 2\r\n\r\n{}";
  const std::string huge = "POST /hooks/crm HTTP/1.1\r\nX-Big: " + std::string(8 << 20, 'b') + "\r\n\r\n";
  for (int round = 0; round < 3; ++round) {
    int a = SendRaw(many);
    EXPECT_TRUE(a == 431 || a == 0) << "300,000 headers answered " << a;
    int b = SendRaw(huge);
    EXPECT_TRUE(b == 431 || b == 0) << "an 8 MiB header answered " << b;
  }
  const long peak = ProcessMemoryKib(engine_.pid(), "VmHWM");
  EXPECT_LT(peak - idle, kMaxGrowthKib) << "idle " << idle << " KiB, peak " << peak << " KiB";
  EXPECT_EQ(Post(Body(1)).status, 200);
  EXPECT_TRUE(engine_.running());
}

TEST_F(HttpLimitsE2ETest, RejectionsAreLoggedWithPeerReasonAndDeliveryIdRateLimited) {
  EXPECT_EQ(Post(Body(1), "wrong-secret", "gh-dlv-0001").status, 401);
  auto deadline = Clock::now() + std::chrono::seconds(10);
  const std::string line = "rejected delivery from 127.0.0.1:";
  while (CountInLog("(delivery id gh-dlv-0001)") == 0) {
    ASSERT_LT(Clock::now(), deadline) << Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string log = Log();
  size_t at = log.find("(delivery id gh-dlv-0001)");
  std::string entry = log.substr(log.rfind('\n', at) + 1, at - log.rfind('\n', at));
  EXPECT_NE(entry.find(line), std::string::npos) << entry;
  EXPECT_NE(entry.find("401 bad signature"), std::string::npos) << entry;
  EXPECT_EQ(log.find(kSecret), std::string::npos) << "the secret is in the log";
  EXPECT_EQ(log.find(HexHmac("wrong-secret", Body(1))), std::string::npos) << "a signature is in the log";

  // A burst of 50: a few lines, then one summary of the rest.
  for (int i = 0; i < 50; ++i) EXPECT_EQ(Post(Body(i), "wrong-secret", "gh-burst-" + std::to_string(i)).status, 401);
  deadline = Clock::now() + std::chrono::seconds(30);
  while (CountInLog("similar rejections (401 bad signature)") == 0) {
    ASSERT_LT(Clock::now(), deadline) << Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // 51 rejections in all: each either has its own line or is in a summary.
  log = Log();
  size_t logged = CountInLog("401 bad signature:"), suppressed = 0;
  static const std::regex summary(R"(suppressed (\d+) similar rejections \(401 bad signature\))");
  for (std::sregex_iterator it(log.begin(), log.end(), summary), end; it != end; ++it)
    suppressed += std::stoul((*it)[1]);
  EXPECT_EQ(logged + suppressed, 51u) << log;
  EXPECT_LE(logged, 10u) << "at most 5 lines per 10 s";
}

}  // namespace
}  // namespace handoff::testing
