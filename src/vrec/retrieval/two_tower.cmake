# Two-tower retrieval model: the only target that compiles against LibTorch. Linked PRIVATE so that
# Torch's headers, flags and compile times stay inside vrec_two_tower.
find_package(Torch REQUIRED)

add_library(vrec_two_tower two_tower.cc)
target_link_libraries(vrec_two_tower PUBLIC vrec_retrieval PRIVATE torch vrec_warnings)
# Torch's headers are not ours: include them as system headers so -Wshadow and friends stay quiet.
get_target_property(VREC_TORCH_INCLUDES torch INTERFACE_INCLUDE_DIRECTORIES)
if(VREC_TORCH_INCLUDES)
  target_include_directories(vrec_two_tower SYSTEM PRIVATE ${VREC_TORCH_INCLUDES})
endif()

vrec_test(vrec_two_tower_test SOURCES two_tower_test.cc LIBS vrec_two_tower)
