#include "admin_server.h"

#include <httplib.h>

#include <thread>

#include "handoff/capture/guarded_http_server.h"

namespace handoff {
namespace {

// A GuardedHttpServer of its own: its gate and workers are not shared with
// any webhook listener, so /livez and /readyz answer while one is flooded.
class HttplibAdminServer final : public AdminServer {
 public:
  explicit HttplibAdminServer(const HttpServerLimits& limits)
      : guard_(GuardedHttpServer::Create(GuardedHttpOptions{.name = "admin", .limits = limits})),
        server_(guard_->server()) {}
  ~HttplibAdminServer() override { Stop(); }

  Status Listen(const std::string& listen, AdminHandlers h) {
    auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon);
    int port = std::stoi(listen.substr(colon + 1));
    server_.Get("/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server_.Get("/readyz", [ready = h.ready](const httplib::Request&, httplib::Response& res) {
      Readiness r = ready();
      res.status = r.ready ? 200 : 503;
      res.set_content(r.json + "\n", "application/json");
    });
    server_.Get("/metrics", [metrics = h.metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics(), "text/plain; version=0.0.4");
    });
    server_.Get("/status", [status = h.status](const httplib::Request& req, httplib::Response& res) {
      const bool text = req.get_param_value("format") == "text";
      if (text)
        res.set_content(status(true), "text/plain");
      else
        res.set_content(status(false) + "\n", "application/json");
    });
    server_.Get("/checks", [checks = h.checks](const httplib::Request&, httplib::Response& res) {
      res.set_content(checks ? checks() : std::string("{\"checks\":[]}\n"), "application/json");
    });
    if (!server_.bind_to_port(host.c_str(), port))
      return Status::Unavailable("admin server cannot listen on " + listen);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    return Status::OK();
  }

  void Stop() override {
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

 private:
  std::unique_ptr<GuardedHttpServer> guard_;
  httplib::Server& server_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& listen, AdminHandlers handlers,
                                                        const HttpServerLimits& limits) {
  auto s = std::make_unique<HttplibAdminServer>(limits);
  HANDOFF_RETURN_IF_ERROR(s->Listen(listen, std::move(handlers)));
  return std::unique_ptr<AdminServer>(std::move(s));
}

}  // namespace handoff
