// Importers for the MovieLens family as distributed by GroupLens: 100K (u.data, u.user, u.item,
// u.genre), 1M and 10M (ratings.dat, movies.dat, users.dat with '::' separators), 20M, 25M and the
// "latest" releases (ratings.csv, movies.csv).
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

enum class MovieLensRelease {
  k100K,  // u.data, u.user, u.item, u.genre
  kDat,   // 1M, 10M: ratings.dat, movies.dat, users.dat (1M only)
  kCsv,   // 20M, 25M, latest: ratings.csv, movies.csv (headers, RFC 4180 quoting)
};
const char* MovieLensReleaseName(MovieLensRelease release);

// Which release `dir` holds, from the files present (u.data, then ratings.dat, then ratings.csv).
// NotFound naming the three when none is there.
StatusOr<MovieLensRelease> DetectMovieLensRelease(const std::string& dir);

// Loads any release DetectMovieLensRelease recognises. The 1M/10M/20M+ files become: movies ->
// videos whose categories are the genres (in order of first appearance; "(no genres listed)" is
// none), whose upload time is 1 January of the year in the title's trailing "(1995)" (unknown
// without one), titles as UTF-8 (Latin-1 converted, as in 1M's movies.dat); users.dat's gender and
// age (ML-1M's age is a bracket: its lower bound, 1 for "under 18"); without users.dat users are
// created in order of their first rating, with nothing known. Ratings (0.5..5, half stars in 10M
// and later) become kRating interactions in file order. Tag files are not read. Errors name the
// file and line, as LoadMovieLens100K's.
StatusOr<Dataset> LoadMovieLens(const std::string& dir);

}  // namespace vrec::data
