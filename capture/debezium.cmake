# Debezium JSON codec (simdjson), part of handoff_capture. Included from
# capture/CMakeLists.txt.
find_package(simdjson REQUIRED)
target_sources(handoff_capture PRIVATE
  src/debezium/connect_schema.cc
  src/debezium/debezium_decoder.cc
  src/debezium/debezium_encoder.cc
  src/debezium/decimal_codec.cc
  src/debezium/decoded_record_json.cc
  src/debezium/document_splitter.cc
  src/debezium/pg_types.cc
  src/debezium/row_decoder.cc
  src/debezium/temporal_codec.cc
  src/debezium/debezium_source_agent.cc
  src/json_kernel.cc
)
target_link_libraries(handoff_capture PRIVATE simdjson::simdjson)
# simdjson's On-Demand API is inlined and uses the kernel the compiler may
# target: without flags that is the portable "fallback" kernel. Set e.g.
# -DHANDOFF_SIMD_ARCH=haswell (AVX2 hosts only) to compile the codec for it.
set(HANDOFF_SIMD_ARCH "" CACHE STRING "-march for the simdjson-based Debezium codec (empty = portable)")
if(HANDOFF_SIMD_ARCH)
  set_source_files_properties(
    src/debezium/connect_schema.cc src/debezium/debezium_decoder.cc src/debezium/row_decoder.cc
    PROPERTIES COMPILE_OPTIONS "-march=${HANDOFF_SIMD_ARCH}")
endif()
