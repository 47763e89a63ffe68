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
)
target_link_libraries(handoff_capture PRIVATE simdjson::simdjson)
