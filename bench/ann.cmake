# ann_bench: exact vs the shipped IVF settings on a synthetic 1M x 64 catalog (prints metric=value).
find_package(OpenMP REQUIRED)  # imported targets are directory-scoped: find it again here
add_executable(ann_bench ann_bench.cc)
target_link_libraries(ann_bench PRIVATE vrec_ann OpenMP::OpenMP_CXX vrec_warnings)

# model_ann_bench: the index a pipeline shipped vs exact search and HNSW, on real user-tower queries.
add_executable(model_ann_bench model_ann_bench.cc)
target_link_libraries(model_ann_bench PRIVATE vrec_ann vrec_retriever vrec_two_tower_model vrec_data vrec_registry
                                              OpenMP::OpenMP_CXX vrec_warnings)
