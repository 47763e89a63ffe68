# Webhook source (embedded cpp-httplib server, OpenSSL HMAC signatures, SaaS
# payload formats), part of handoff_capture. Included from capture/CMakeLists.txt.
find_package(OpenSSL REQUIRED)
target_sources(handoff_capture PRIVATE
  src/webhook/delivery_sender.cc
  src/webhook/payload_decoder.cc
  src/webhook/signature_verifier.cc
  src/webhook/webhook_source_agent.cc
)
target_link_libraries(handoff_capture PRIVATE OpenSSL::Crypto PkgConfig::HTTPLIB)
