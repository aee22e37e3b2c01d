# ANN index of the retrieval stage (ann_index.h). FAISS is linked PRIVATE: only
# faiss_ann_index.cc includes it, and users of vrec_ann see the AnnIndex interface only.
find_package(OpenMP REQUIRED)  # must precede faiss: its config file needs OpenMP::OpenMP_CXX
find_package(faiss REQUIRED)

# The exact inner-product kernel (inner_products.h): exact scoring, and the IVF-Flat scan.
# Exact scores must equal the scalar loop's bit for bit in every clone: no FMA.
add_library(vrec_inner_products inner_products.cc)
target_link_libraries(vrec_inner_products PUBLIC vrec_common PRIVATE vrec_warnings)
set_source_files_properties(inner_products.cc PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")

add_library(vrec_ann
  ann_index_factory.cc
  brute_force_ann_index.cc
  ann_tuning.cc
  faiss_ann_index.cc
)
target_link_libraries(vrec_ann PUBLIC vrec_common PRIVATE vrec_inner_products faiss OpenMP::OpenMP_CXX vrec_warnings)

vrec_test(vrec_ann_test SOURCES ann_index_test.cc ann_tuning_test.cc LIBS vrec_ann)
