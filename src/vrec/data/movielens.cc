#include "vrec/data/movielens.h"

#include <array>
#include <ctime>

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
