# webhook_bench: signed deliveries over loopback HTTP into the webhook agent,
# a real intake and a durable LMDB journal. Included from bench/CMakeLists.txt.
add_executable(webhook_bench ${CMAKE_CURRENT_LIST_DIR}/webhook_bench.cc)
target_include_directories(webhook_bench PRIVATE ${PROJECT_SOURCE_DIR}/capture/src/webhook)
target_link_libraries(webhook_bench PRIVATE handoff_capture PkgConfig::HTTPLIB)
