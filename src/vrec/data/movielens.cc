#include "vrec/data/movielens.h"

#include <algorithm>
#include <array>
#include <ctime>
#include <filesystem>

#include "vrec/common/csv.h"
#include "vrec/common/strings.h"

namespace vrec::data {
namespace {

constexpr int kGenreCount = 19;

// "01-Jan-1995" -> unix seconds (UTC midnight). nullopt when malformed.
std::optional<int64_t> ParseMovieLensDate(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  // Day may have one or two digits ("4-Feb-1971").
  const size_t d1 = s.find('-');
  const size_t d2 = d1 == std::string_view::npos ? d1 : s.find('-', d1 + 1);
  if (d2 == std::string_view::npos || d2 - d1 != 4) return std::nullopt;
  int64_t day = 0, year = 0;
  if (!ParseInt64(s.substr(0, d1), day) || !ParseInt64(s.substr(d2 + 1), year)) return std::nullopt;
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    if (s.substr(d1 + 1, 3) == kMonths[m]) month = m;
  }
  if (month < 0 || day < 1 || day > 31) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(year) - 1900;
  tm.tm_mon = month;
  tm.tm_mday = static_cast<int>(day);
  return static_cast<int64_t>(timegm(&tm));
}

Status LoadGenres(const std::string& path, std::vector<std::string>& genres) {
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(path, '|', false));
  std::vector<std::string_view> f;
  genres.assign(kGenreCount, "");
  int seen = 0;
  while (reader.Next(f)) {
    if (f.size() == 1 && f[0].empty()) continue;  // trailing blank lines
    if (f.size() != 2) return reader.Error(StrCat("expected 2 fields (name|index), got ", f.size()));
    uint64_t index;
    if (!ParseUint64(f[1], index) || index >= kGenreCount) return reader.Error("genre index must be 0..18");
    // Trimmed as every reader of a category name trims it (generic_csv.cc): the name stays the
    // same when the dataset is written and read back.
    const std::string_view name = StripAsciiWhitespace(f[0]);
    if (name.empty()) return reader.Error("empty genre name");
    if (!genres[index].empty()) return reader.Error(StrCat("genre index ", index, " appears twice"));
    // Latin-1 like the titles: a category name must be UTF-8 wherever the dataset is written next.
    genres[index] = IsValidUtf8(name) ? std::string(name) : Latin1ToUtf8(name);
    ++seen;
  }
  VREC_RETURN_IF_ERROR(reader.status());
  if (seen != kGenreCount) return InvalidArgumentError(StrCat(path, ": expected 19 genres, found ", seen));
  return OkStatus();
}

Status LoadUsers(const std::string& path, Dataset& ds) {
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(path, '|', false));
  std::vector<std::string_view> f;
  while (reader.Next(f)) {
    if (f.size() != 5)
      return reader.Error(StrCat("expected 5 fields (id|age|gender|occupation|zip), got ", f.size()));
    uint64_t id, age;
    if (!ParseUint64(f[0], id)) return reader.Error(StrCat("user id is not a number: '", f[0], "'"));
    if (!ParseUint64(f[1], age) || age > 150)
      return reader.Error(StrCat("age is not a number in 0..150: '", f[1], "'"));
    auto gender = ParseGender(f[2]);
    if (!gender) return reader.Error(StrCat("gender must be M or F: '", f[2], "'"));
    User u{.id = UserId{id}, .age = static_cast<int16_t>(age), .gender = *gender};
    auto added = ds.AddUser(std::move(u));
    if (!added.ok()) return reader.Error(added.status().message());
  }
  return reader.status();
}

Status LoadItems(const std::string& path, const std::vector<std::string>& genres, Dataset& ds) {
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(path, '|', false));
  std::array<uint16_t, kGenreCount> category;
  for (int g = 0; g < kGenreCount; ++g) category[g] = ds.InternCategory(genres[g]);
  std::vector<std::string_view> f;
  while (reader.Next(f)) {
    if (f.size() != 5 + kGenreCount) {
      return reader.Error(
          StrCat("expected 24 fields (id|title|release|video release|url|19 genre flags), got ", f.size()));
    }
    uint64_t id;
    if (!ParseUint64(f[0], id)) return reader.Error(StrCat("movie id is not a number: '", f[0], "'"));
    Video v{.id = VideoId{id}};
    const std::string_view title = StripAsciiWhitespace(f[1]);  // as the generic reader trims it
    v.title = IsValidUtf8(title) ? std::string(title) : Latin1ToUtf8(title);
    if (!f[2].empty()) {
      auto t = ParseMovieLensDate(f[2]);
      if (!t) return reader.Error(StrCat("release date must look like 01-Jan-1995: '", f[2], "'"));
      v.upload_time = *t;
    }
    for (int g = 0; g < kGenreCount; ++g) {
      std::string_view flag = f[5 + g];
      if (flag != "0" && flag != "1") return reader.Error(StrCat("genre flag must be 0 or 1: '", flag, "'"));
      if (flag == "1") v.categories.push_back(category[g]);
    }
    auto added = ds.AddVideo(std::move(v));
    if (!added.ok()) return reader.Error(added.status().message());
  }
  return reader.status();
}

Status LoadRatings(const std::string& path, Dataset& ds) {
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(path, '\t', false));
  std::vector<std::string_view> f;
  ds.interactions.reserve(100'000);
  while (reader.Next(f)) {
    if (f.size() != 4)
      return reader.Error(
          StrCat("expected 4 tab-separated fields (user item rating timestamp), got ", f.size()));
    uint64_t user, item, rating;
    int64_t ts;
    if (!ParseUint64(f[0], user)) return reader.Error(StrCat("user id is not a number: '", f[0], "'"));
    if (!ParseUint64(f[1], item)) return reader.Error(StrCat("item id is not a number: '", f[1], "'"));
    if (!ParseUint64(f[2], rating) || rating < 1 || rating > 5) {
      return reader.Error(StrCat("rating must be 1..5: '", f[2], "'"));
    }
    if (!ParseInt64(f[3], ts)) return reader.Error(StrCat("timestamp is not a number: '", f[3], "'"));
    auto u = ds.FindUser(UserId{user});
    if (!u) return reader.Error(StrCat("user ", user, " is not in u.user"));
    auto v = ds.FindVideo(VideoId{item});
    if (!v) return reader.Error(StrCat("item ", item, " is not in u.item"));
    ds.interactions.push_back(Interaction{.user = *u,
                                          .video = *v,
                                          .timestamp = ts,
                                          .type = EventType::kRating,
                                          .rating = static_cast<float>(rating)});
  }
  return reader.status();
}

// --- 1M, 10M and 20M+ -------------------------------------------------------------------------

// "Toy Story (1995)" -> 1995-01-01 UTC; nullopt without a trailing "(YYYY)" (a few 20M titles end
// in a space after it, some in a range like "(2007-)": unknown).
std::optional<int64_t> YearOfTitle(std::string_view title) {
  title = StripAsciiWhitespace(title);
  if (title.size() < 6 || title.back() != ')' || title[title.size() - 6] != '(') return std::nullopt;
  int64_t year = 0;
  if (!ParseInt64(title.substr(title.size() - 5, 4), year) || year < 1800 || year > 2200) return std::nullopt;
  std::tm tm{};
  tm.tm_year = static_cast<int>(year) - 1900;
  tm.tm_mday = 1;
  return static_cast<int64_t>(timegm(&tm));
}

std::string Utf8Text(std::string_view text) {
  text = StripAsciiWhitespace(text);
  return IsValidUtf8(text) ? std::string(text) : Latin1ToUtf8(text);
}

// One line of a '::' file, split. Every DelimitedReader record of these files is read whole (the
// delimiter '\n' never occurs inside a line).
void SplitDoubleColon(std::string_view line, std::vector<std::string_view>& out) {
  out.clear();
  for (size_t start = 0;;) {
    const size_t pos = line.find("::", start);
    if (pos == std::string_view::npos) {
      out.push_back(line.substr(start));
      return;
    }
    out.push_back(line.substr(start, pos - start));
    start = pos + 2;
  }
}

Status AddMovie(const DelimitedReader& reader, std::string_view id_text, std::string_view title,
                std::string_view genres, Dataset& ds) {
  uint64_t id;
  if (!ParseUint64(id_text, id)) return reader.Error(StrCat("movie id is not a number: '", id_text, "'"));
  Video v{.id = VideoId{id}};
  v.title = Utf8Text(title);
  if (auto t = YearOfTitle(v.title)) v.upload_time = *t;
  for (std::string_view genre : SplitNonEmpty(genres, '|')) {
    if (genre == "(no genres listed)") continue;
    const uint16_t c = ds.InternCategory(Utf8Text(genre));
    if (std::find(v.categories.begin(), v.categories.end(), c) == v.categories.end())
      v.categories.push_back(c);
  }
  auto added = ds.AddVideo(std::move(v));
  if (!added.ok()) return reader.Error(added.status().message());
  return OkStatus();
}

// A rating row: the user is added on its first rating when the release has no user file.
Status AddRating(const DelimitedReader& reader, std::string_view user_text, std::string_view item_text,
                 std::string_view rating_text, std::string_view ts_text, bool users_listed, Dataset& ds) {
  uint64_t user, item;
  double rating;
  int64_t ts;
  if (!ParseUint64(user_text, user))
    return reader.Error(StrCat("user id is not a number: '", user_text, "'"));
  if (!ParseUint64(item_text, item))
    return reader.Error(StrCat("movie id is not a number: '", item_text, "'"));
  if (!ParseDouble(rating_text, rating) || !(rating >= 0.5 && rating <= 5.0)) {
    return reader.Error(StrCat("rating must be 0.5..5: '", rating_text, "'"));
  }
  if (!ParseInt64(ts_text, ts)) return reader.Error(StrCat("timestamp is not a number: '", ts_text, "'"));
  std::optional<uint32_t> u = ds.FindUser(UserId{user});
  if (!u) {
    if (users_listed) return reader.Error(StrCat("user ", user, " is not in users.dat"));
    auto added = ds.AddUser(User{.id = UserId{user}});
    if (!added.ok()) return reader.Error(added.status().message());
    u = *added;
  }
  const std::optional<uint32_t> v = ds.FindVideo(VideoId{item});
  if (!v) return reader.Error(StrCat("movie ", item, " is not in the movies file"));
  ds.interactions.push_back(Interaction{.user = *u,
                                        .video = *v,
                                        .timestamp = ts,
                                        .type = EventType::kRating,
                                        .rating = static_cast<float>(rating)});
  return OkStatus();
}

StatusOr<Dataset> LoadDatRelease(const std::string& dir) {
  Dataset ds;
  std::vector<std::string_view> line, f;
  {
    VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(dir + "/movies.dat", '\n', false));
    while (reader.Next(line)) {
      if (line[0].empty()) continue;
      // MovieID::Title::Genres; a title may hold ':' (and, defensively, '::').
      const size_t first = line[0].find("::"), last = line[0].rfind("::");
      if (first == std::string_view::npos || first == last)
        return reader.Error("expected 3 fields (MovieID::Title::Genres)");
      VREC_RETURN_IF_ERROR(AddMovie(reader, line[0].substr(0, first),
                                    line[0].substr(first + 2, last - first - 2), line[0].substr(last + 2),
                                    ds));
    }
    VREC_RETURN_IF_ERROR(reader.status());
  }
  const std::string users_path = dir + "/users.dat";
  const bool users_listed = std::filesystem::exists(users_path);  // 1M has it, 10M does not
  if (users_listed) {
    VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(users_path, '\n', false));
    while (reader.Next(line)) {
      if (line[0].empty()) continue;
      SplitDoubleColon(line[0], f);
      if (f.size() != 5) {
        return reader.Error(
            StrCat("expected 5 fields (UserID::Gender::Age::Occupation::Zip-code), got ", f.size()));
      }
      uint64_t id, age;
      if (!ParseUint64(f[0], id)) return reader.Error(StrCat("user id is not a number: '", f[0], "'"));
      auto gender = ParseGender(f[1]);
      if (!gender) return reader.Error(StrCat("gender must be M or F: '", f[1], "'"));
      if (!ParseUint64(f[2], age) || age > 150)
        return reader.Error(StrCat("age is not a number in 0..150: '", f[2], "'"));
      auto added = ds.AddUser(User{.id = UserId{id}, .age = static_cast<int16_t>(age), .gender = *gender});
      if (!added.ok()) return reader.Error(added.status().message());
    }
    VREC_RETURN_IF_ERROR(reader.status());
  }
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(dir + "/ratings.dat", '\n', false));
  while (reader.Next(line)) {
    if (line[0].empty()) continue;
    SplitDoubleColon(line[0], f);
    if (f.size() != 4) {
      return reader.Error(StrCat("expected 4 fields (UserID::MovieID::Rating::Timestamp), got ", f.size()));
    }
    VREC_RETURN_IF_ERROR(AddRating(reader, f[0], f[1], f[2], f[3], users_listed, ds));
  }
  VREC_RETURN_IF_ERROR(reader.status());
  return ds;
}

// Reads the header row of a CSV file and checks it names `columns` in order.
Status ExpectHeader(DelimitedReader& reader, std::initializer_list<std::string_view> columns) {
  std::vector<std::string_view> f;
  if (!reader.Next(f))
    return reader.status().ok() ? reader.Error("empty file, expected a header row") : reader.status();
  std::string expected;
  for (std::string_view c : columns) expected += StrCat(expected.empty() ? "" : ",", c);
  bool same = f.size() == columns.size();
  for (size_t i = 0; same && i < f.size(); ++i) same = StripAsciiWhitespace(f[i]) == columns.begin()[i];
  if (!same) return reader.Error(StrCat("expected the header ", expected));
  return OkStatus();
}

StatusOr<Dataset> LoadCsvRelease(const std::string& dir) {
  Dataset ds;
  std::vector<std::string_view> f;
  {
    VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(dir + "/movies.csv", ',', true));
    VREC_RETURN_IF_ERROR(ExpectHeader(reader, {"movieId", "title", "genres"}));
    while (reader.Next(f)) {
      if (f.size() == 1 && f[0].empty()) continue;
      if (f.size() != 3)
        return reader.Error(StrCat("expected 3 fields (movieId,title,genres), got ", f.size()));
      VREC_RETURN_IF_ERROR(AddMovie(reader, f[0], f[1], f[2], ds));
    }
    VREC_RETURN_IF_ERROR(reader.status());
  }
  VREC_ASSIGN_OR_RETURN(DelimitedReader reader, DelimitedReader::Open(dir + "/ratings.csv", ',', false));
  VREC_RETURN_IF_ERROR(ExpectHeader(reader, {"userId", "movieId", "rating", "timestamp"}));
  while (reader.Next(f)) {
    if (f.size() == 1 && f[0].empty()) continue;
    if (f.size() != 4)
      return reader.Error(StrCat("expected 4 fields (userId,movieId,rating,timestamp), got ", f.size()));
    VREC_RETURN_IF_ERROR(AddRating(reader, f[0], f[1], f[2], f[3], /*users_listed=*/false, ds));
  }
  VREC_RETURN_IF_ERROR(reader.status());
  return ds;
}

}  // namespace

StatusOr<Dataset> LoadMovieLens100K(const std::string& dir) {
  Dataset ds;
  std::vector<std::string> genres;
  VREC_RETURN_IF_ERROR(LoadGenres(dir + "/u.genre", genres));
  VREC_RETURN_IF_ERROR(LoadUsers(dir + "/u.user", ds));
  VREC_RETURN_IF_ERROR(LoadItems(dir + "/u.item", genres, ds));
  VREC_RETURN_IF_ERROR(LoadRatings(dir + "/u.data", ds));
  return ds;
}

}  // namespace vrec::data

namespace vrec::data {

const char* MovieLensReleaseName(MovieLensRelease release) {
  switch (release) {
    case MovieLensRelease::k100K:
      return "100K (u.data)";
    case MovieLensRelease::kDat:
      return "1M/10M (ratings.dat)";
    case MovieLensRelease::kCsv:
      return "20M/25M/latest (ratings.csv)";
  }
  return "unknown";
}

StatusOr<MovieLensRelease> DetectMovieLensRelease(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFoundError(StrCat(dir, ": not a directory"));
  if (fs::exists(fs::path(dir) / "u.data", ec)) return MovieLensRelease::k100K;
  if (fs::exists(fs::path(dir) / "ratings.dat", ec)) return MovieLensRelease::kDat;
  if (fs::exists(fs::path(dir) / "ratings.csv", ec)) return MovieLensRelease::kCsv;
  return NotFoundError(StrCat(dir, ": no MovieLens ratings file (u.data for 100K, ratings.dat for 1M/10M, ",
                              "ratings.csv for 20M/25M/latest)"));
}

StatusOr<Dataset> LoadMovieLens(const std::string& dir) {
  VREC_ASSIGN_OR_RETURN(MovieLensRelease release, DetectMovieLensRelease(dir));
  switch (release) {
    case MovieLensRelease::k100K:
      return LoadMovieLens100K(dir);
    case MovieLensRelease::kDat:
      return LoadDatRelease(dir);
    case MovieLensRelease::kCsv:
      return LoadCsvRelease(dir);
  }
  return InternalError("unknown MovieLens release");
}

}  // namespace vrec::data
