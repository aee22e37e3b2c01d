# HTTP layer, Prometheus metrics and response cache of `vrec serve` (included from this folder's
# CMakeLists.txt). Boost.Beast/Asio are header-only and appear in http_server.cc only: users of
# vrec_http see http_server.h, which includes no Boost header.
find_package(Boost 1.74 REQUIRED)

add_library(vrec_http http_server.cc)
target_link_libraries(vrec_http PUBLIC vrec_common PRIVATE Boost::headers Threads::Threads vrec_warnings)

add_library(vrec_metrics metrics.cc rate_limiter.cc response_cache.cc)
target_link_libraries(vrec_metrics PUBLIC vrec_common PRIVATE vrec_warnings)

vrec_test(vrec_metrics_test SOURCES metrics_test.cc rate_limiter_test.cc response_cache_test.cc LIBS vrec_metrics Threads::Threads)
# Real sockets on loopback; the test client is plain POSIX sockets (no Boost).
vrec_test(vrec_http_test SOURCES http_server_test.cc LIBS vrec_http Threads::Threads
          LABELS integration)
