// The OpenAPI 3.1 document of the HTTP API (docs/openapi.json, compiled into the binary by CMake),
// served at GET /openapi.json.
#pragma once

#include <string_view>

namespace vrec::serving {

std::string_view OpenApiDocument();

}  // namespace vrec::serving
