# HTTP target writer: libcurl for requests, OpenSSL (libcrypto) for the
# SHA-256 of idempotency keys. Included from apply/CMakeLists.txt.
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
target_sources(handoff_apply PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/src/http_applier.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/http_client.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/http_status.cc
  ${CMAKE_CURRENT_LIST_DIR}/src/change_request.cc
)
target_link_libraries(handoff_apply PRIVATE CURL::libcurl OpenSSL::Crypto)
