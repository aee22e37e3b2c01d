// The web console's files (src/vrec/serving/console/ and Debian's Chart.js), compiled into the
// binary by CMake (embed.cmake), served by GET /console and /console/{asset}.
#pragma once

#include <span>
#include <string_view>

namespace vrec::serving {

struct EmbeddedFile {
  std::string_view name;          // "index.html", "console.js", "chart.min.js", ...
  std::string_view content_type;  // with its charset
  std::string_view bytes;
};

std::span<const EmbeddedFile> ConsoleAssets();

// The asset named `name`, or nullptr.
const EmbeddedFile* FindConsoleAsset(std::string_view name);

}  // namespace vrec::serving
