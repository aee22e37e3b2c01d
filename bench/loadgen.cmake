# loadgen: open-loop HTTP load generator for `vrec serve` (fixed arrival rate, latency from each
# request's due time, so queueing is not hidden); --serve runs a stub server of known capacity.
# Boost.Asio/Beast are used header-only.
find_package(Boost 1.74 REQUIRED)
find_package(CLI11 REQUIRED)
add_executable(loadgen ${CMAKE_CURRENT_SOURCE_DIR}/loadgen.cc)
target_compile_definitions(loadgen PRIVATE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
target_link_libraries(loadgen PRIVATE vrec_common Boost::headers CLI11::CLI11 Threads::Threads vrec_warnings)
if(VREC_SANITIZE)
  # GCC 12 with ASan reports -Wmaybe-uninitialized inside Beast's parser (basic_parser.hpp returns
  # boost::none); a false positive in Boost's code that plain Release builds do not show.
  target_compile_options(loadgen PRIVATE -Wno-maybe-uninitialized)
endif()
