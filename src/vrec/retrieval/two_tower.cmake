# Two-tower retrieval model.
#
# vrec_two_tower_model: the trained model as plain C++ (inference, Save/Load, the shared feature
# extraction). No Torch, so the retriever, the server and benchmarks can link it cheaply.
add_library(vrec_two_tower_model two_tower_model.cc two_tower_features.cc)
target_link_libraries(vrec_two_tower_model PUBLIC vrec_data vrec_inner_products PRIVATE vrec_registry vrec_warnings)

# Test-only: a TwoTowerModel with random weights of production shapes, for the retriever's tests
# and retrieval_bench. Never linked by production targets; built only when something links it.
add_library(vrec_two_tower_model_testing STATIC EXCLUDE_FROM_ALL two_tower_model_testing.cc)
target_link_libraries(vrec_two_tower_model_testing PUBLIC vrec_two_tower_model PRIVATE vrec_warnings vrec_test_code)

# VREC_TESTDATA_DIR: the committed model written by an older build (tests/testdata/two_tower_v1).
vrec_test(vrec_two_tower_model_test SOURCES two_tower_model_test.cc inner_products_test.cc
          LIBS vrec_two_tower_model vrec_registry
          DEFINITIONS VREC_TESTDATA_DIR="${PROJECT_SOURCE_DIR}/tests/testdata")

# vrec_two_tower: the trainer, the only production target that compiles against LibTorch. Linked
# PRIVATE so that Torch's headers, flags and compile times stay inside vrec_two_tower.
find_package(Torch REQUIRED)

add_library(vrec_two_tower two_tower.cc)
target_link_libraries(vrec_two_tower PUBLIC vrec_retrieval vrec_two_tower_model
                      PRIVATE torch vrec_warnings Threads::Threads)

# Test-only: the Torch towers run with a trained model's weights (two_tower_testing.h), so tests can
# compare them with the plain C++ forward pass. Never linked by production targets.
add_library(vrec_two_tower_testing STATIC EXCLUDE_FROM_ALL two_tower_testing.cc)
target_link_libraries(vrec_two_tower_testing PUBLIC vrec_two_tower PRIVATE torch vrec_warnings vrec_test_code)

# Torch's headers are not ours: include them as system headers so -Wshadow and friends stay quiet.
get_target_property(VREC_TORCH_INCLUDES torch INTERFACE_INCLUDE_DIRECTORIES)
if(VREC_TORCH_INCLUDES)
  target_include_directories(vrec_two_tower SYSTEM PRIVATE ${VREC_TORCH_INCLUDES})
  target_include_directories(vrec_two_tower_testing SYSTEM PRIVATE ${VREC_TORCH_INCLUDES})
endif()
if(VREC_SANITIZE)
  # GCC 12 at -O1 with ASan reports -Wmaybe-uninitialized inside c10::optional<Tensor>'s copy
  # (intrusive_ptr.h), inlined from F::NormalizeFuncOptions: a false positive in Torch's headers
  # that the release build does not show, reported at our call site so SYSTEM does not hide it.
  target_compile_options(vrec_two_tower PRIVATE -Wno-maybe-uninitialized)
  target_compile_options(vrec_two_tower_testing PRIVATE -Wno-maybe-uninitialized)
endif()

vrec_test(vrec_two_tower_test SOURCES two_tower_test.cc LIBS vrec_two_tower vrec_two_tower_testing vrec_registry)
