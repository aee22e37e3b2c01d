#include "vrec/common/check.h"

#include <gtest/gtest.h>

#include <string>

#include "vrec/common/status.h"

namespace vrec {
namespace {

class CheckDeathTest : public ::testing::Test {
 protected:
  // The test binary may have started threads (gtest, sanitizers): re-execute instead of forking.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// The release preset builds with NDEBUG, and this test runs there too: the check must not vanish
// with assert().
TEST_F(CheckDeathTest, AbortsWithFileLineConditionAndMessage) {
  const size_t row = 7, rows = 5;
  EXPECT_DEATH(VREC_CHECK(row < rows, "row ", row, " of ", rows),
               "check_test\\.cc:[0-9]+: VREC_CHECK\\(row < rows\\) failed: row 7 of 5");
}

TEST_F(CheckDeathTest, AbortsWithoutAMessage) {
  const int* p = nullptr;
  EXPECT_DEATH(VREC_CHECK(p != nullptr), "check_test\\.cc:[0-9]+: VREC_CHECK\\(p != nullptr\\) failed\n");
}

TEST(Check, EvaluatesTheConditionOnceAndTheMessageOnlyOnFailure) {
  int conditions = 0, messages = 0;
  auto condition = [&] {
    ++conditions;
    return true;
  };
  auto message = [&] {
    ++messages;
    return std::string("unused");
  };
  VREC_CHECK(condition(), message());
  EXPECT_EQ(conditions, 1);
  EXPECT_EQ(messages, 0);
}

TEST(Check, IsOneStatementInsideIfElse) {
  int taken = 0;
  if (taken == 0)
    VREC_CHECK(true, "fine");
  else
    taken = 2;
  EXPECT_EQ(taken, 0);
}

TEST_F(CheckDeathTest, StatusOrValueOfAnErrorAbortsWithTheError) {
  StatusOr<int> v = NotFoundError("no such video 42");
  EXPECT_DEATH((void)v.value(), "VREC_CHECK\\(ok\\(\\)\\) failed: .*NOT_FOUND: no such video 42");
}

TEST_F(CheckDeathTest, StatusOrFromAnOkStatusAborts) {
  EXPECT_DEATH(
      {
        StatusOr<int> v(OkStatus());
        (void)v;
      },
      "VREC_CHECK\\(.*\\) failed: StatusOr made from an OK status");
}

}  // namespace
}  // namespace vrec
