# Webhook source (embedded cpp-httplib server, OpenSSL HMAC signatures, SaaS
# payload formats), part of handoff_capture. Included from capture/CMakeLists.txt.
find_package(OpenSSL REQUIRED)
target_sources(handoff_capture PRIVATE
  src/webhook/delivery_sender.cc
  src/webhook/payload_decoder.cc
  src/webhook/signature_verifier.cc
  src/webhook/webhook_source_agent.cc
  # The guarded HTTP server under the webhook source and the admin endpoints.
  src/http/guarded_http_server.cc
  src/http/head_scanner.cc
  src/http/http_gate.cc
  src/http/rejection_log.cc
)
target_link_libraries(handoff_capture PRIVATE OpenSSL::Crypto PkgConfig::HTTPLIB)
