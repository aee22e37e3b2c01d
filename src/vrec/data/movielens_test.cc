#include "vrec/data/movielens.h"

#include <gtest/gtest.h>

#include "vrec/common/strings.h"
#include "vrec/data/test_util.h"

namespace vrec::data {
namespace {

using testing::TempDir;

// A tiny, well-formed MovieLens folder; tests then break one file at a time.
void WriteValid(const TempDir& dir) {
  std::string genres;
  const char* names[] = {"unknown",   "Action",   "Adventure",   "Animation", "Children's",
                         "Comedy",    "Crime",    "Documentary", "Drama",     "Fantasy",
                         "Film-Noir", "Horror",   "Musical",     "Mystery",   "Romance",
                         "Sci-Fi",    "Thriller", "War",         "Western"};
  for (int i = 0; i < 19; ++i) genres += StrCat(names[i], "|", i, "\n");
  dir.Write("u.genre", genres + "\n");
  dir.Write("u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n");
  dir.Write("u.item",
            "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
            "2|Caf\xE9 au lait (1993)|4-Feb-1971||http://y|0|0|0|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0\n");
  dir.Write("u.data", "1\t1\t5\t881250949\n2\t2\t3\t891717742\n1\t2\t1\t878887116\n");
}

TEST(MovieLens, LoadsUsersMoviesGenresAndRatingsInFileOrder) {
  TempDir dir;
  WriteValid(dir);
  auto ds = LoadMovieLens100K(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->users.size(), 2u);
  EXPECT_EQ(ds->users[1].age, 53);
  EXPECT_EQ(ds->users[1].gender, Gender::kFemale);
  ASSERT_EQ(ds->videos.size(), 2u);
  EXPECT_EQ(ds->categories.size(), 19u);
  ASSERT_EQ(ds->videos[0].categories.size(), 3u);
  EXPECT_EQ(ds->categories[ds->videos[0].categories[0]], "Animation");
  EXPECT_EQ(ds->videos[1].title, "Caf\xC3\xA9 au lait (1993)");  // Latin-1 -> UTF-8
  EXPECT_EQ(ds->videos[0].upload_time, 788918400);               // 1995-01-01
  ASSERT_EQ(ds->interactions.size(), 3u);
  EXPECT_EQ(ds->interactions[2].user, 0u);
  EXPECT_EQ(ds->interactions[2].video, 1u);
  EXPECT_EQ(ds->interactions[2].rating, 1.0f);
  EXPECT_EQ(ds->interactions[2].type, EventType::kRating);
}

struct BadCase {
  const char* file;
  const char* content;
  const char* expected;  // substring of the error
};

class MovieLensBadInput : public ::testing::TestWithParam<BadCase> {};

TEST_P(MovieLensBadInput, FailsWithFileAndLine) {
  TempDir dir;
  WriteValid(dir);
  dir.Write(GetParam().file, GetParam().content);
  auto ds = LoadMovieLens100K(dir.path().string());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.status().message().find(GetParam().expected), std::string::npos) << ds.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MovieLensBadInput,
    ::testing::Values(BadCase{"u.data", "1\t1\t5\t881250949\n1\t2\t5\n", "u.data:2: expected 4"},
                      BadCase{"u.data", "1\tx1\t5\t881250949\n", "u.data:1: item id is not a number"},
                      BadCase{"u.data", "1\t1\t9\t881250949\n", "rating must be 1..5"},
                      BadCase{"u.data", "3\t1\t5\t881250949\n", "user 3 is not in u.user"},
                      BadCase{"u.user", "1|24|M|technician\n", "u.user:1: expected 5"},
                      BadCase{"u.user", "one|24|M|technician|85711\n", "user id is not a number"},
                      BadCase{"u.item", "1|Toy Story|01-Jan-1995||http://x|0|0\n", "u.item:1: expected 24"},
                      // Found by fuzz/csv_import_fuzz: with index 6 twice and 3 missing, 19 lines still
                      // counted as 19 genres and genre 3 became an empty category name.
                      BadCase{"u.genre", "g0|0\ng1|1\ng2|2\nAnimation|6\ng4|4\ng5|5\nCrime|6\n",
                              "u.genre:7: genre index 6 appears twice"}));

// Found by fuzz/csv_import_fuzz: a genre name in Latin-1 became a category that was not UTF-8,
// so the dataset written by `vrec data import` could not be loaded again.
TEST(MovieLens, GenreNamesInLatin1BecomeUtf8) {
  TempDir dir;
  WriteValid(dir);
  std::string genres;
  for (int i = 0; i < 19; ++i)
    genres += StrCat(i == 5 ? "Com\xE9"
                              "die"
                            : StrCat("g", i),
                     "|", i, "\n");
  dir.Write("u.genre", genres);
  auto ds = LoadMovieLens100K(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->categories[5],
            "Com\xC3\xA9"
            "die");
}

TEST(MovieLens, MissingFileIsNotFound) {
  TempDir dir;
  auto ds = LoadMovieLens100K(dir.path().string());
  EXPECT_EQ(ds.status().code(), StatusCode::kNotFound);
  EXPECT_NE(ds.status().message().find("u.genre"), std::string::npos);
}

TEST(MovieLens, LoadsTheRealDataset) {
  const std::string dir = testing::SharedDataDir("ml-100k");
  if (dir.empty())
    GTEST_SKIP() << "MovieLens 100K not found (set VREC_SHARED_DIR to the folder holding data/ml-100k)";
  auto ds = LoadMovieLens100K(dir);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->users.size(), 943u);
  EXPECT_EQ(ds->videos.size(), 1682u);
  EXPECT_EQ(ds->interactions.size(), 100000u);
  EXPECT_TRUE(ds->Validate().ok());
}

TEST(MovieLensRelease, DetectedByTheRatingsFilePresent) {
  TempDir a, b, c, none;
  WriteValid(a);
  b.Write("ratings.dat", "");
  c.Write("ratings.csv", "");
  EXPECT_EQ(*DetectMovieLensRelease(a.path().string()), MovieLensRelease::k100K);
  EXPECT_EQ(*DetectMovieLensRelease(b.path().string()), MovieLensRelease::kDat);
  EXPECT_EQ(*DetectMovieLensRelease(c.path().string()), MovieLensRelease::kCsv);
  const auto missing = LoadMovieLens(none.path().string());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("ratings.dat for 1M/10M"), std::string::npos)
      << missing.status().message();
  EXPECT_EQ(LoadMovieLens((none.path() / "absent").string()).status().code(), StatusCode::kNotFound);
}

// ML-1M's layout: '::' separators, Latin-1 titles holding ':', users.dat with age brackets.
void WriteOneMillion(const TempDir& dir) {
  dir.Write("movies.dat",
            "1::Toy Story (1995)::Animation|Children's|Comedy\n"
            "2::Star Wars: Episode IV - A New Hope (1977)::Action|Sci-Fi\n"
            "3::Caf\xE9 au lait (1993)::Comedy\n");
  dir.Write("users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n");
  dir.Write("ratings.dat", "1::2::5::978300760\n1::1::3::978302109\n2::3::4::978301968\n");
}

TEST(MovieLens1M, LoadsMoviesUsersAndRatingsInFileOrder) {
  TempDir dir;
  WriteOneMillion(dir);
  auto ds = LoadMovieLens(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->videos.size(), 3u);
  EXPECT_EQ(ds->videos[1].title, "Star Wars: Episode IV - A New Hope (1977)");
  EXPECT_EQ(ds->videos[2].title, "Caf\xC3\xA9 au lait (1993)");
  EXPECT_EQ(ds->videos[0].upload_time, 788918400);  // 1995-01-01
  ASSERT_EQ(ds->videos[0].categories.size(), 3u);
  EXPECT_EQ(ds->categories[ds->videos[0].categories[1]], "Children's");
  EXPECT_EQ(ds->videos[2].categories, std::vector<uint16_t>{ds->videos[0].categories[2]});  // Comedy, once
  ASSERT_EQ(ds->users.size(), 2u);
  EXPECT_EQ(ds->users[0].gender, Gender::kFemale);
  EXPECT_EQ(ds->users[0].age, 1);
  EXPECT_EQ(ds->users[1].age, 56);
  ASSERT_EQ(ds->interactions.size(), 3u);
  EXPECT_EQ(ds->interactions[0].video, 1u);
  EXPECT_EQ(ds->interactions[0].rating, 5.0f);
  EXPECT_EQ(ds->interactions[2].user, 1u);
  EXPECT_EQ(ds->interactions[2].timestamp, 978301968);
  EXPECT_TRUE(ds->Validate().ok());
}

TEST(MovieLens10M, UsersComeFromTheRatingsAndHalfStarsAreKept) {
  TempDir dir;
  dir.Write("movies.dat", "5::Heat (1995)::Action|Crime|Thriller\n7::Untitled::(no genres listed)\n");
  dir.Write("ratings.dat", "9::5::4.5::838985046\n4::7::0.5::838983525\n9::7::3::838983392\n");
  auto ds = LoadMovieLens(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->users.size(), 2u);
  EXPECT_EQ(ds->users[0].id, UserId{9});
  EXPECT_EQ(ds->users[1].id, UserId{4});
  EXPECT_EQ(ds->users[0].age, -1);
  EXPECT_TRUE(ds->videos[1].categories.empty());
  EXPECT_EQ(ds->videos[1].upload_time, kUnknownTime);
  ASSERT_EQ(ds->interactions.size(), 3u);
  EXPECT_EQ(ds->interactions[0].rating, 4.5f);
  EXPECT_EQ(ds->interactions[1].rating, 0.5f);
  EXPECT_EQ(ds->interactions[2].user, 0u);
}

TEST(MovieLens20M, ReadsQuotedTitlesAndHeaders) {
  TempDir dir;
  dir.Write("movies.csv",
            "movieId,title,genres\n"
            "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
            "11,\"American President, The (1995) \",Comedy|Drama|Romance\n");
  dir.Write("ratings.csv", "userId,movieId,rating,timestamp\n1,11,4.0,1112486027\r\n1,1,3.5,1112484676\n");
  auto ds = LoadMovieLens(dir.path().string());
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  ASSERT_EQ(ds->videos.size(), 2u);
  EXPECT_EQ(ds->videos[1].title, "American President, The (1995)");
  EXPECT_EQ(ds->videos[1].upload_time, 788918400);
  EXPECT_EQ(ds->categories.size(), 7u);
  ASSERT_EQ(ds->interactions.size(), 2u);
  EXPECT_EQ(ds->interactions[0].video, 1u);
  EXPECT_EQ(ds->interactions[1].rating, 3.5f);
}

struct ReleaseBadCase {
  const char* file;
  const char* content;
  const char* expected;  // substring of the error
};

class MovieLensReleaseBadInput : public ::testing::TestWithParam<ReleaseBadCase> {};

TEST_P(MovieLensReleaseBadInput, FailsWithFileAndLine) {
  TempDir dat, csv;
  WriteOneMillion(dat);
  csv.Write("movies.csv", "movieId,title,genres\n1,Toy Story (1995),Comedy\n");
  csv.Write("ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1112486027\n");
  const std::string file = GetParam().file;
  const TempDir& dir = file.ends_with(".csv") ? csv : dat;
  dir.Write(file, GetParam().content);
  auto ds = LoadMovieLens(dir.path().string());
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(ds.status().message().find(GetParam().expected), std::string::npos) << ds.status().message();
  EXPECT_NE(ds.status().message().find(file), std::string::npos) << ds.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MovieLensReleaseBadInput,
    ::testing::Values(
        ReleaseBadCase{"ratings.dat", "1::2::5\n", ":1: expected 4 fields"},
        ReleaseBadCase{"ratings.dat", "1::2::5::9\n1::2::6::9\n", ":2: rating must be 0.5..5"},
        ReleaseBadCase{"ratings.dat", "1::2::0::9\n", "rating must be 0.5..5"},
        ReleaseBadCase{"ratings.dat", "3::2::5::9\n", "user 3 is not in users.dat"},
        ReleaseBadCase{"ratings.dat", "1::99::5::9\n", "movie 99 is not in the movies file"},
        ReleaseBadCase{"ratings.dat", "1::2::5::soon\n", "timestamp is not a number"},
        ReleaseBadCase{"movies.dat", "1::Toy Story (1995)\n", "expected 3 fields"},
        ReleaseBadCase{"movies.dat", "x::Toy Story (1995)::Comedy\n", "movie id is not a number"},
        ReleaseBadCase{"movies.dat", "1::A::Comedy\n1::B::Drama\n", ":2:"},
        ReleaseBadCase{"users.dat", "1::X::1::10::48067\n", "gender must be M or F"},
        ReleaseBadCase{"users.dat", "1::F::1::10\n", "expected 5 fields"},
        ReleaseBadCase{"movies.csv", "id,title,genres\n", ":1: expected the header movieId,title,genres"},
        ReleaseBadCase{"movies.csv", "", "expected a header row"},
        ReleaseBadCase{"ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0\n", ":2: expected 4 fields"},
        ReleaseBadCase{"ratings.csv", "userId,movieId,rating,timestamp\n1,2,4.0,5\n",
                       "movie 2 is not in the movies file"}));

TEST(MovieLens1M, LoadsTheSharedPrefix) {
  const std::string dir = testing::SharedDataDir("ml-1m-prefix");
  if (dir.empty())
    GTEST_SKIP() << "ml-1m-prefix not found (set VREC_SHARED_DIR to the folder holding data/ml-1m-prefix)";
  auto ds = LoadMovieLens(dir);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ(ds->users.size(), 6040u);  // users.dat lists every user; the prefix rates only some
  EXPECT_EQ(ds->videos.size(), 3883u);
  EXPECT_EQ(ds->interactions.size(), 487650u);
  EXPECT_EQ(ds->categories.size(), 18u);
  EXPECT_TRUE(ds->Validate().ok());
}

}  // namespace
}  // namespace vrec::data
