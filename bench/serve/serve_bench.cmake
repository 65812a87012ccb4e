# The server load benchmark's own gRPC load generator (bench/serve/run.py drives it; see
# docs/benchmarks.md). It speaks the KServe v2 service generated for kiln_serve, whose static library
# it links for those generated classes only.
add_executable(kiln_grpc_load ${CMAKE_CURRENT_LIST_DIR}/grpc_load.cc)
target_link_libraries(kiln_grpc_load PRIVATE kiln_serve)
target_compile_options(kiln_grpc_load PRIVATE ${KILN_WARNINGS})
