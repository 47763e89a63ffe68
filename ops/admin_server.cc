#include "admin_server.h"

#include <httplib.h>

#include <thread>

namespace handoff {
namespace {

class HttplibAdminServer final : public AdminServer {
 public:
  ~HttplibAdminServer() override { Stop(); }

  Status Listen(const std::string& listen, std::function<std::string()> metrics, std::function<bool()> ready) {
    auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon);
    int port = std::stoi(listen.substr(colon + 1));
    server_.Get("/livez", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
    server_.Get("/readyz", [ready](const httplib::Request&, httplib::Response& res) {
      bool ok = ready();
      res.status = ok ? 200 : 503;
      res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
    });
    server_.Get("/metrics", [metrics](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics(), "text/plain; version=0.0.4");
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
  httplib::Server server_;
  std::thread thread_;
};

}  // namespace

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const std::string& listen,
                                                        std::function<std::string()> metrics,
                                                        std::function<bool()> ready) {
  auto s = std::make_unique<HttplibAdminServer>();
  HANDOFF_RETURN_IF_ERROR(s->Listen(listen, std::move(metrics), std::move(ready)));
  return std::unique_ptr<AdminServer>(std::move(s));
}

}  // namespace handoff
