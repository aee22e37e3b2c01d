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

}  // namespace
}  // namespace vrec::data
