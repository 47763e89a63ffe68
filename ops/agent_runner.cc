#include "agent_runner.h"

#include <csignal>
#include <pthread.h>

#include <atomic>
#include <cstdio>
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
  if (!config.intake_curve.public_key.empty()) {
    const auto& key = config.intake_client_key;
    auto secret = ReadCurveSecret(key.secret_key_file);
    if (key.public_key.empty() || !secret.ok()) {
      LogError("agent", "the engine intake uses CURVE: engine.intake_client_key needs public_key and a readable "
                        "secret_key_file{}", secret.ok() ? "" : " (" + secret.status().ToString() + ")");
      return 2;
    }
    ctx->SetClientCurve({key.public_key, *secret}, config.intake_curve.public_key);
  }
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

int RunAgentKeygen() {
  auto keys = NewCurveKeys();
  if (!keys.ok()) {
    LogError("agent", "{}", keys.status().ToString());
    return 1;
  }
  std::printf("public_key: %s\nsecret_key: %s\n", keys->public_key.c_str(), keys->secret_key.c_str());
  return 0;
}

}  // namespace handoff
