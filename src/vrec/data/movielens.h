// Importer for MovieLens 100K as distributed by GroupLens (u.data, u.user, u.item, u.genre).
#pragma once

#include <string>

#include "vrec/common/status.h"
#include "vrec/data/dataset.h"

namespace vrec::data {

// Loads the folder `dir`. Users keep age and gender; movies become videos whose categories are
// the genres (u.genre order) and whose upload time is the release date; titles are converted from
// Latin-1 to UTF-8. Ratings become kRating interactions in file order (the benchmark split
// depends on it). Errors name the file and line: NotFound for a missing file, InvalidArgument for a
// malformed row (wrong column count, non-numeric id, rating outside 1..5, unknown user or item).
StatusOr<Dataset> LoadMovieLens100K(const std::string& dir);

}  // namespace vrec::data
