# ann_bench: exact vs the shipped IVF settings on a synthetic 1M x 64 catalog (prints metric=value).
find_package(OpenMP REQUIRED)  # imported targets are directory-scoped: find it again here
add_executable(ann_bench ann_bench.cc)
target_link_libraries(ann_bench PRIVATE vrec_ann OpenMP::OpenMP_CXX vrec_warnings)
