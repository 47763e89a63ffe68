#include "apply_fixture.h"

namespace handoff::testing {
namespace {

std::unique_ptr<PgServer> g_server;

class ServerEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { g_server = PgServer::Start(); }
  void TearDown() override { g_server.reset(); }
};

[[maybe_unused]] ::testing::Environment* const kServerEnv =
    ::testing::AddGlobalTestEnvironment(new ServerEnvironment);

}  // namespace

PgServer* SharedServer() { return g_server.get(); }

}  // namespace handoff::testing
