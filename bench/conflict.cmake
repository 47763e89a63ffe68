# conflict_bench: ownership/conflict decisions per second on realistic
# customer and time entry changes. Included from bench/CMakeLists.txt.
find_package(benchmark QUIET)
if(benchmark_FOUND)
  add_executable(conflict_bench ${CMAKE_CURRENT_LIST_DIR}/conflict_bench.cc)
  target_link_libraries(conflict_bench PRIVATE handoff_conflict benchmark::benchmark)
endif()
