# debezium_bench: Debezium codec decode/encode throughput (Google Benchmark).
# Included from bench/CMakeLists.txt.
find_package(benchmark QUIET)
if(benchmark_FOUND)
  add_executable(debezium_bench ${CMAKE_CURRENT_LIST_DIR}/debezium_bench.cc)
  target_link_libraries(debezium_bench PRIVATE handoff_capture benchmark::benchmark)
  target_compile_features(debezium_bench PRIVATE cxx_std_20)
endif()
