#include "agent_runner.h"

#include <csignal>
#include <pthread.h>

#include <atomic>
#include <memory>
#include <thread>

#include "handoff/capture/debezium_source.h"
#include "handoff/capture/pg_capture.h"
#include "handoff/engine/log.h"
#include "handoff/engine/transport.h"
#include "source_factory.h"

namespace handoff {

int RunAgent(const Config& config, const std::string& source) {
  const SourceConfig* src = config.FindSource(source);
  if (src == nullptr) {
    LogError("agent", "--source {} names no configured source", source);
    return 2;
  }
  if (config.intake_endpoint.empty()) {
    LogError("agent", "engine.intake is not set: a separate agent needs the engine's tcp:// or ipc:// endpoint");
    return 2;
  }
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  auto ctx = TransportContext::Create();
  auto agent = MakeSource(*src, ctx, config.intake_endpoint);
  if (!agent.ok()) {
    LogError("agent", "source {}: {}", source, agent.status().ToString());
    return agent.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::atomic<bool> failed{false};
  std::thread worker([&] {
    Status st = (*agent)->Run();
    if (!st.ok()) {
      LogError("agent", "source {} stopped: {}", source, st.ToString());
      failed.store(true);
    }
  });
  LogInfo("agent", "source {} ({}) running, engine at {}", source, src->kind, config.intake_endpoint);
  while (!failed.load()) {
    timespec ts{0, 200 * 1000 * 1000};
    int sig = sigtimedwait(&sigs, nullptr, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      LogInfo("agent", "received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
      break;
    }
  }
  (*agent)->Stop();
  worker.join();
  return failed.load() ? 1 : 0;
}

}  // namespace handoff
