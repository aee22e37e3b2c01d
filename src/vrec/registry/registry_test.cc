#include "vrec/registry/registry.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "vrec/common/strings.h"
#include "vrec/registry/manifest.h"

namespace vrec::registry {
namespace {

namespace fs = std::filesystem;

// Versions are read-only after commit; tests run as any user, so restore write permission before
// deleting anything.
void MakeWritable(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  chmod(dir.c_str(), 0755);
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    chmod(it->path().c_str(), it->is_directory(ec) ? 0755 : 0644);
  }
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

Manifest SampleManifest(const std::string& kind, double recall) {
  Manifest m;
  m.model_kind = kind;
  m.created_at = NowUtcIso8601();
  m.feature_schema = "user:id;video:id";
  m.feature_schema_hash = HashHex(m.feature_schema);
  m.metrics = {{"recall@100", recall}};
  m.files = {{"weights", "tower/model.pt"}};
  return m;
}

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vrec_registry_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    root_ = (fs::path(dir_) / "reg").string();
  }
  void TearDown() override {
    MakeWritable(dir_);
    fs::remove_all(dir_);
  }

  ModelRegistry OpenOrDie() {
    StatusOr<ModelRegistry> r = ModelRegistry::Open(root_);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return *r;
  }

  // Stages a model (a subfolder with a file, and a manifest) and commits it.
  std::string CommitSample(const ModelRegistry& reg, double recall = 0.5,
                           const std::string& kind = "two-tower") {
    StatusOr<std::string> staging = reg.BeginVersion();
    EXPECT_TRUE(staging.ok()) << staging.status().ToString();
    fs::create_directories(fs::path(*staging) / "tower");
    WriteFile(fs::path(*staging) / "tower" / "model.pt", StrCat("weights ", recall));
    EXPECT_TRUE(WriteManifest(*staging, SampleManifest(kind, recall)).ok());
    StatusOr<std::string> version = reg.CommitVersion(*staging);
    EXPECT_TRUE(version.ok()) << version.status().ToString();
    return version.ok() ? *version : "";
  }

  std::optional<std::string> Production(const ModelRegistry& reg) {
    auto p = reg.ProductionVersion();
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? *p : std::nullopt;
  }

  std::string dir_;
  std::string root_;
};

TEST_F(RegistryTest, OpenCreatesTheLayout) {
  ModelRegistry reg = OpenOrDie();
  EXPECT_TRUE(fs::is_directory(fs::path(root_) / "versions"));
  EXPECT_TRUE(fs::is_directory(fs::path(root_) / "staging"));
  EXPECT_TRUE(fs::is_regular_file(fs::path(root_) / "history.jsonl"));
  EXPECT_FALSE(fs::exists(fs::path(root_) / "production"));
  EXPECT_EQ(Production(reg), std::nullopt);
  auto list = reg.List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  // Opening an existing registry is fine; a file where the root should be is not.
  EXPECT_TRUE(ModelRegistry::Open(root_).ok());
  WriteFile(fs::path(dir_) / "file", "x");
  EXPECT_EQ(ModelRegistry::Open((fs::path(dir_) / "file").string()).status().code(), StatusCode::kInternal);
  EXPECT_EQ(ModelRegistry::Open("").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RegistryTest, BeginVersionHandsOutDistinctStagingFolders) {
  ModelRegistry reg = OpenOrDie();
  auto a = reg.BeginVersion();
  auto b = reg.BeginVersion();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(fs::is_directory(*a));
  EXPECT_EQ(fs::path(*a).parent_path(), fs::path(root_) / "staging");
}

TEST_F(RegistryTest, BeginVersionRemovesStagingFoldersAbandonedForADay) {
  ModelRegistry reg = OpenOrDie();
  auto abandoned = reg.BeginVersion();
  auto recent = reg.BeginVersion();
  ASSERT_TRUE(abandoned.ok() && recent.ok());
  WriteFile(fs::path(*abandoned) / "catalog.csv", "half-written");
  fs::last_write_time(*abandoned, fs::file_time_type::clock::now() - std::chrono::hours(25));
  fs::last_write_time(*recent, fs::file_time_type::clock::now() - std::chrono::hours(23));
  auto next = reg.BeginVersion();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(fs::exists(*abandoned));
  EXPECT_TRUE(fs::is_directory(*recent));
  EXPECT_TRUE(fs::is_directory(*next));
  // Explicit calls report what they removed.
  auto removed = reg.RemoveAbandonedStaging(std::chrono::hours(22));
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 1);
  EXPECT_FALSE(fs::exists(*recent));
  EXPECT_TRUE(fs::is_directory(*next));
}

TEST_F(RegistryTest, CommitNumbersVersionsAndMakesThemReadOnly) {
  ModelRegistry reg = OpenOrDie();
  auto staging = reg.BeginVersion();
  ASSERT_TRUE(staging.ok());
  EXPECT_EQ(CommitSample(reg, 0.1), "v000001");
  EXPECT_EQ(CommitSample(reg, 0.2), "v000002");
  EXPECT_EQ(CommitSample(reg, 0.3), "v000003");

  const fs::path v2 = reg.VersionPath("v000002");
  EXPECT_EQ(v2, fs::path(root_) / "versions" / "v000002");
  EXPECT_EQ(ReadFile(v2 / "tower" / "model.pt"), "weights 0.2");
  auto m = ReadManifest(v2.string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->metrics.at("recall@100"), 0.2);
  struct stat st {};
  ASSERT_EQ(stat((v2 / "tower" / "model.pt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0444u);
  ASSERT_EQ(stat(v2.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  ASSERT_EQ(stat((v2 / "tower").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0555u);
  // The committed staging folders are gone; the one never committed stays.
  std::vector<fs::path> left;
  for (const auto& e : fs::directory_iterator(fs::path(root_) / "staging")) left.push_back(e.path());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0], fs::path(*staging));
}

TEST_F(RegistryTest, CommitRejectsAFolderWithoutAValidManifest) {
  ModelRegistry reg = OpenOrDie();
  auto staging = reg.BeginVersion();
  ASSERT_TRUE(staging.ok());
  WriteFile(fs::path(*staging) / "model.pt", "weights");
  EXPECT_EQ(reg.CommitVersion(*staging).status().code(), StatusCode::kNotFound);
  WriteFile(fs::path(*staging) / "manifest.json", "{ not json");
  EXPECT_EQ(reg.CommitVersion(*staging).status().code(), StatusCode::kDataLoss);
  // Left as it was, and nothing committed.
  EXPECT_EQ(ReadFile(fs::path(*staging) / "model.pt"), "weights");
  struct stat st {};
  ASSERT_EQ(stat(staging->c_str(), &st), 0);
  EXPECT_NE(st.st_mode & 0200, 0u);
  auto list = reg.List();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
  // Once the manifest is fixed the same folder commits.
  ASSERT_TRUE(WriteManifest(*staging, SampleManifest("ranker", 0.4)).ok());
  auto v = reg.CommitVersion(*staging);
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(*v, "v000001");
}

TEST_F(RegistryTest, CommitRejectsFoldersOutsideStagingAndSymlinks) {
  ModelRegistry reg = OpenOrDie();
  const fs::path outside = fs::path(dir_) / "my_model";
  fs::create_directories(outside);
  ASSERT_TRUE(WriteManifest(outside.string(), SampleManifest("ranker", 0.4)).ok());
  EXPECT_EQ(reg.CommitVersion(outside.string()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(outside / "manifest.json"));
  EXPECT_EQ(reg.CommitVersion((fs::path(root_) / "staging").string()).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.CommitVersion((fs::path(root_) / "staging" / "nope").string()).status().code(),
            StatusCode::kNotFound);

  auto staging = reg.BeginVersion();
  ASSERT_TRUE(staging.ok());
  ASSERT_TRUE(WriteManifest(*staging, SampleManifest("ranker", 0.4)).ok());
  fs::create_symlink(outside / "manifest.json", fs::path(*staging) / "link");
  EXPECT_EQ(reg.CommitVersion(*staging).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::exists(*staging));
}

TEST_F(RegistryTest, NumbersAreNotReusedAfterADeletion) {
  ModelRegistry reg = OpenOrDie();
  CommitSample(reg);
  const std::string v2 = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(v2, "").ok());
  MakeWritable(reg.VersionPath(v2));
  fs::remove_all(reg.VersionPath(v2));
  // v000002 is named in the pointer and the history, so the next commit skips it.
  EXPECT_EQ(CommitSample(reg), "v000003");
}

TEST_F(RegistryTest, ListIsSortedByNumberAndMarksProduction) {
  ModelRegistry reg = OpenOrDie();
  CommitSample(reg, 0.1, "two-tower");
  CommitSample(reg, 0.2, "ranker");
  ASSERT_TRUE(reg.Promote("v000002", "better").ok());
  // A version past v999999 must sort after it, not between v000001 and v000002.
  for (const char* name : {"v1000000", "v999999"}) {
    const fs::path p = fs::path(root_) / "versions" / name;
    fs::create_directories(p);
    ASSERT_TRUE(WriteManifest(p.string(), SampleManifest("two-tower", 0.9)).ok());
  }
  // A version whose manifest broke is still listed.
  WriteFile(fs::path(reg.VersionPath("v000001")) / "manifest.json", "garbage");
  // Stray entries that are not versions are ignored.
  fs::create_directories(fs::path(root_) / "versions" / "notes");
  WriteFile(fs::path(root_) / "versions" / "v000777", "a file, not a folder");

  auto list = reg.List();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->size(), 4u);
  EXPECT_EQ((*list)[0].version, "v000001");
  EXPECT_EQ((*list)[1].version, "v000002");
  EXPECT_EQ((*list)[2].version, "v999999");
  EXPECT_EQ((*list)[3].version, "v1000000");
  EXPECT_EQ((*list)[0].manifest_status.code(), StatusCode::kDataLoss);
  EXPECT_FALSE((*list)[0].production);
  EXPECT_TRUE((*list)[1].production);
  EXPECT_TRUE((*list)[1].manifest_status.ok());
  EXPECT_EQ((*list)[1].model_kind, "ranker");
  EXPECT_EQ((*list)[1].metrics.at("recall@100"), 0.2);
  EXPECT_FALSE((*list)[1].created_at.empty());
  EXPECT_EQ((*list)[1].path, reg.VersionPath("v000002"));
  EXPECT_FALSE((*list)[3].production);
  EXPECT_EQ(CommitSample(reg), "v1000001");

  nlohmann::json j = nlohmann::json::parse(VersionInfosToJson(*list));
  ASSERT_EQ(j.size(), 4u);
  EXPECT_EQ(j[1]["version"], "v000002");
  EXPECT_EQ(j[1]["production"], true);
  EXPECT_EQ(j[1]["metrics"]["recall@100"], 0.2);
  EXPECT_FALSE(j[1].contains("error"));
  EXPECT_TRUE(j[0].contains("error"));
}

TEST_F(RegistryTest, PromoteOfAnUnknownVersionIsNotFoundAndKeepsProduction) {
  ModelRegistry reg = OpenOrDie();
  const std::string v1 = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(v1, "first").ok());
  EXPECT_EQ(reg.Promote("v000042", "typo").code(), StatusCode::kNotFound);
  EXPECT_EQ(reg.Promote("../versions/v000001", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg.Promote("v1", "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Production(reg), v1);
  auto history = reg.History();
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 1u);
}

TEST_F(RegistryTest, PromoteRefusesAVersionWhoseManifestBroke) {
  ModelRegistry reg = OpenOrDie();
  const std::string v1 = CommitSample(reg);
  WriteFile(fs::path(reg.VersionPath(v1)) / "manifest.json", "{}");
  EXPECT_EQ(reg.Promote(v1, "").code(), StatusCode::kDataLoss);
  EXPECT_EQ(Production(reg), std::nullopt);
}

// Found in review: `vrec models promote` moved the pointer to a version it never loaded.
TEST_F(RegistryTest, PromoteAndRollbackRunTheValidatorBeforeMovingThePointer) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg), b = CommitSample(reg);
  std::vector<std::string> checked;
  const auto refuse_b = [&](const std::string& version, const std::string& path) -> Status {
    checked.push_back(version);
    EXPECT_EQ(path, reg.VersionPath(version));
    return version == b ? FailedPreconditionError("does not load") : OkStatus();
  };
  ASSERT_TRUE(reg.Promote(a, "", refuse_b).ok());
  const Status s = reg.Promote(b, "", refuse_b);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "does not load");
  EXPECT_EQ(Production(reg), a);
  EXPECT_EQ(checked, (std::vector<std::string>{a, b}));
  ASSERT_TRUE(reg.Promote(b, "").ok());  // no validator: the manifest check only
  // Rolling back to a version that fails validation leaves b in production.
  const auto refuse_a = [&](const std::string& version, const std::string&) -> Status {
    return version == a ? DataLossError("corrupt") : OkStatus();
  };
  EXPECT_EQ(reg.Rollback("", refuse_a).code(), StatusCode::kDataLoss);
  EXPECT_EQ(Production(reg), b);
  auto stack = reg.ProductionStack();
  ASSERT_TRUE(stack.ok());
  EXPECT_EQ(*stack, (std::vector<std::string>{b, a}));
  ASSERT_TRUE(reg.Rollback("", refuse_b).ok());
  EXPECT_EQ(Production(reg), a);
}

TEST_F(RegistryTest, RollbackWalksBackThroughEarlierProductionVersions) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg, 0.1), b = CommitSample(reg, 0.2), c = CommitSample(reg, 0.3);
  ASSERT_TRUE(reg.Promote(a, "initial").ok());
  ASSERT_TRUE(reg.Promote(b, "better recall").ok());
  ASSERT_TRUE(reg.Promote(c, "even better").ok());
  EXPECT_EQ(Production(reg), c);
  ASSERT_TRUE(reg.Rollback("c regressed").ok());
  EXPECT_EQ(Production(reg), b);
  ASSERT_TRUE(reg.Rollback("b too").ok());
  EXPECT_EQ(Production(reg), a);
  EXPECT_EQ(reg.Rollback("nothing left").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Production(reg), a);

  auto h = reg.History();
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 5u);
  EXPECT_EQ((*h)[0].action, "promote");
  EXPECT_EQ((*h)[0].from, "");
  EXPECT_EQ((*h)[0].to, a);
  EXPECT_EQ((*h)[0].reason, "initial");
  EXPECT_EQ((*h)[2].from, b);
  EXPECT_EQ((*h)[2].to, c);
  EXPECT_EQ((*h)[3].action, "rollback");
  EXPECT_EQ((*h)[3].from, c);
  EXPECT_EQ((*h)[3].to, b);
  EXPECT_EQ((*h)[3].reason, "c regressed");
  EXPECT_EQ((*h)[4].from, b);
  EXPECT_EQ((*h)[4].to, a);
  EXPECT_EQ((*h)[4].time.size(), std::string("2026-11-26T10:30:00Z").size());
}

TEST_F(RegistryTest, RollbackUndoesTheMostRecentChange) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg), b = CommitSample(reg), c = CommitSample(reg),
                    d = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(a, "").ok());
  ASSERT_TRUE(reg.Promote(b, "").ok());
  ASSERT_TRUE(reg.Promote(c, "").ok());
  ASSERT_TRUE(reg.Rollback("").ok());  // back to b; c is off the stack
  ASSERT_TRUE(reg.Promote(d, "").ok());
  ASSERT_TRUE(reg.Rollback("").ok());
  EXPECT_EQ(Production(reg), b);
  // Re-promoting an older version is a change like any other: rollback returns from it.
  ASSERT_TRUE(reg.Promote(a, "").ok());
  ASSERT_TRUE(reg.Rollback("").ok());
  EXPECT_EQ(Production(reg), b);
  ASSERT_TRUE(reg.Rollback("").ok());
  EXPECT_EQ(Production(reg), a);
  EXPECT_EQ(reg.Rollback("").code(), StatusCode::kFailedPrecondition);
}

TEST_F(RegistryTest, PromotingTheProductionVersionChangesNothing) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg), b = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(a, "").ok());
  ASSERT_TRUE(reg.Promote(b, "").ok());
  ASSERT_TRUE(reg.Promote(b, "retry").ok());
  auto h = reg.History();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size(), 2u);
  ASSERT_TRUE(reg.Rollback("").ok());
  EXPECT_EQ(Production(reg), a);
}

TEST_F(RegistryTest, RollbackWithoutAnEarlierVersionIsFailedPrecondition) {
  ModelRegistry reg = OpenOrDie();
  EXPECT_EQ(reg.Rollback("").code(), StatusCode::kFailedPrecondition);
  const std::string a = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(a, "").ok());
  EXPECT_EQ(reg.Rollback("").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Production(reg), a);
  auto h = reg.History();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size(), 1u);
}

TEST_F(RegistryTest, RollbackSkipsDeletedVersions) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg), b = CommitSample(reg), c = CommitSample(reg);
  for (const std::string& v : {a, b, c}) ASSERT_TRUE(reg.Promote(v, "").ok());
  MakeWritable(reg.VersionPath(b));
  fs::remove_all(reg.VersionPath(b));
  ASSERT_TRUE(reg.Rollback("").ok());
  EXPECT_EQ(Production(reg), a);
  auto h = reg.History();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->back().from, c);
  EXPECT_EQ(h->back().to, a);
  // All earlier versions gone: nothing to roll back to, production unchanged.
  ASSERT_TRUE(reg.Promote(c, "").ok());
  MakeWritable(reg.VersionPath(a));
  fs::remove_all(reg.VersionPath(a));
  EXPECT_EQ(reg.Rollback("").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Production(reg), c);
}

TEST_F(RegistryTest, ACrashMidPromoteLeavesTheOldPointer) {
  {
    ModelRegistry reg = OpenOrDie();
    const std::string a = CommitSample(reg);
    CommitSample(reg);
    ASSERT_TRUE(reg.Promote(a, "").ok());
  }
  // What a writer that died after writing part of production.tmp leaves behind.
  WriteFile(fs::path(root_) / "production.tmp", "v0000\xff garbage");
  // And a history line torn by a crash mid-append.
  {
    std::ofstream h(fs::path(root_) / "history.jsonl", std::ios::app);
    h << R"({"time":"2026-11-26T10:30:00Z","act)";
  }
  ModelRegistry reg = OpenOrDie();
  EXPECT_EQ(Production(reg), "v000001");
  EXPECT_FALSE(fs::exists(fs::path(root_) / "production.tmp"));
  auto h = reg.History();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->size(), 1u);
  // Writers carry on, and the torn line does not swallow the next entry.
  ASSERT_TRUE(reg.Promote("v000002", "after crash").ok());
  EXPECT_EQ(Production(reg), "v000002");
  h = reg.History();
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(h->size(), 2u);
  EXPECT_EQ(h->back().reason, "after crash");
  ASSERT_TRUE(reg.Rollback("").ok());
  EXPECT_EQ(Production(reg), "v000001");
}

TEST_F(RegistryTest, StaleTmpIsHarmlessEvenWithoutReopening) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg), b = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(a, "").ok());
  WriteFile(fs::path(root_) / "production.tmp", "junk\n");
  EXPECT_EQ(Production(reg), a);
  ASSERT_TRUE(reg.Promote(b, "").ok());
  EXPECT_EQ(Production(reg), b);
}

TEST_F(RegistryTest, ACorruptPointerIsDataLossNotAGuess) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg);
  ASSERT_TRUE(reg.Promote(a, "").ok());
  WriteFile(fs::path(root_) / "production", "v00000");
  EXPECT_EQ(reg.ProductionVersion().status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(reg.List().status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(reg.Promote(a, "").code(), StatusCode::kDataLoss);
  EXPECT_EQ(reg.Rollback("").code(), StatusCode::kDataLoss);
  WriteFile(fs::path(root_) / "production", "");
  EXPECT_EQ(reg.ProductionVersion().status().code(), StatusCode::kDataLoss);
}

TEST_F(RegistryTest, ConcurrentPromotesSerialiseAndNeverCorruptThePointer) {
  ModelRegistry reg = OpenOrDie();
  std::vector<std::string> versions;
  for (int i = 0; i < 3; ++i) versions.push_back(CommitSample(reg));
  ASSERT_TRUE(reg.Promote(versions[0], "").ok());
  const std::set<std::string> valid(versions.begin(), versions.end());

  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0};
  std::thread reader([&] {
    // A separate instance, as a server in another process would have.
    ModelRegistry server = *ModelRegistry::Open(root_);
    while (!done.load()) {
      auto p = server.ProductionVersion();
      if (!p.ok() || !p->has_value() || !valid.count(**p)) bad_reads.fetch_add(1);
    }
  });
  std::atomic<int> failures{0};
  auto writer = [&](int id) {
    ModelRegistry mine = *ModelRegistry::Open(root_);
    for (int i = 0; i < 40; ++i) {
      Status s = (i % 5 == 4) ? mine.Rollback("t") : mine.Promote(versions[(id + i) % 3], "t");
      if (!s.ok() && s.code() != StatusCode::kFailedPrecondition) failures.fetch_add(1);
    }
  };
  std::thread w1(writer, 1), w2(writer, 2);
  w1.join();
  w2.join();
  done.store(true);
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(bad_reads.load(), 0);
  // Serialised writers form a chain: each change starts where the previous one ended. Two writers
  // racing on the pointer would both start from the same version.
  auto h = reg.History();
  ASSERT_TRUE(h.ok());
  ASSERT_GT(h->size(), 40u);
  for (size_t i = 1; i < h->size(); ++i) {
    EXPECT_EQ((*h)[i].from, (*h)[i - 1].to) << "entry " << i;
  }
  EXPECT_EQ(Production(reg), h->back().to);
}

TEST_F(RegistryTest, ConcurrentCommitsGetDistinctVersions) {
  ModelRegistry reg = OpenOrDie();
  std::vector<std::string> got[2];
  auto committer = [&](int id) {
    ModelRegistry mine = *ModelRegistry::Open(root_);
    for (int i = 0; i < 6; ++i) got[id].push_back(CommitSample(mine, id + i / 10.0));
  };
  std::thread t0(committer, 0), t1(committer, 1);
  t0.join();
  t1.join();
  std::set<std::string> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  EXPECT_EQ(all.size(), 12u);
  EXPECT_EQ(*all.begin(), "v000001");
  EXPECT_EQ(*all.rbegin(), "v000012");
}

TEST_F(RegistryTest, WritersWaitForTheLockHeldByAnotherProcess) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg);
  // Stands in for another process holding the writer lock.
  const std::string lock_path = (fs::path(root_) / "LOCK").string();
  int fd = open(lock_path.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX), 0);
  std::atomic<bool> finished{false};
  std::thread promoter([&] {
    EXPECT_TRUE(reg.Promote(a, "").ok());
    finished.store(true);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(finished.load());
  EXPECT_EQ(Production(reg), std::nullopt);
  // Open neither blocks nor removes a production.tmp while a writer holds the lock.
  WriteFile(fs::path(root_) / "production.tmp", "in flight");
  EXPECT_TRUE(ModelRegistry::Open(root_).ok());
  EXPECT_TRUE(fs::exists(fs::path(root_) / "production.tmp"));
  close(fd);
  promoter.join();
  EXPECT_TRUE(finished.load());
  EXPECT_EQ(Production(reg), a);
}

TEST_F(RegistryTest, AReopenedRegistrySeesTheSameState) {
  {
    ModelRegistry reg = OpenOrDie();
    const std::string a = CommitSample(reg), b = CommitSample(reg);
    ASSERT_TRUE(reg.Promote(a, "").ok());
    ASSERT_TRUE(reg.Promote(b, "").ok());
  }
  // Through a relative path this time.
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  StatusOr<ModelRegistry> reopened = ModelRegistry::Open("reg");
  fs::current_path(cwd);
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(reopened->root(), root_);
  EXPECT_EQ(Production(*reopened), "v000002");
  auto list = reopened->List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_TRUE((*list)[1].production);
  // The rollback stack survives too.
  ASSERT_TRUE(reopened->Rollback("").ok());
  EXPECT_EQ(Production(*reopened), "v000001");
  EXPECT_EQ(CommitSample(*reopened), "v000003");
}

TEST_F(RegistryTest, RecentRunsAreTheNewestRecordsNewestFirst) {
  ModelRegistry reg = OpenOrDie();
  auto none = reg.RecentRuns(5);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  for (const char* id : {"2026-01-02T00-00-00Z-b", "2026-01-01T00-00-00Z-a", "2026-01-03T00-00-00Z-c"}) {
    const std::string path = reg.RunRecordPath(id);
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << "{\"run_id\":\"" << id << "\"}";
  }
  std::ofstream(fs::path(reg.RunRecordPath("x")).parent_path() / "notes.txt") << "not a record";
  auto runs = reg.RecentRuns(2);
  ASSERT_TRUE(runs.ok());
  ASSERT_EQ(runs->size(), 2u);
  EXPECT_EQ((*runs)[0], R"({"run_id":"2026-01-03T00-00-00Z-c"})");
  EXPECT_EQ((*runs)[1], R"({"run_id":"2026-01-02T00-00-00Z-b"})");
}

TEST_F(RegistryTest, ACanaryTrialEndsPromotedOrRolledBackWithItsReasonInTheHistory) {
  ModelRegistry reg = OpenOrDie();
  const std::string a = CommitSample(reg), b = CommitSample(reg), c = CommitSample(reg);
  EXPECT_EQ(reg.StartCanary({.version = b}).code(), StatusCode::kFailedPrecondition)
      << "nothing in production";
  ASSERT_TRUE(reg.Promote(a, "").ok());
  EXPECT_FALSE(reg.Canary()->has_value());
  EXPECT_EQ(reg.StartCanary({.version = a}).code(), StatusCode::kFailedPrecondition) << "already production";
  EXPECT_EQ(reg.StartCanary({.version = "v999999"}).code(), StatusCode::kNotFound);
  EXPECT_EQ(reg.StartCanary({.version = "nope"}).code(), StatusCode::kInvalidArgument);
  for (double share : {0.0, -0.1, 1.5, std::nan("")}) {
    EXPECT_EQ(reg.StartCanary({.version = b, .share = share}).code(), StatusCode::kInvalidArgument) << share;
  }
  EXPECT_FALSE(reg.Canary()->has_value()) << "refused trials change nothing";

  ASSERT_TRUE(reg.StartCanary({.version = b, .share = 0.1, .reason = "run r1"}).ok());
  auto canary = reg.Canary();
  ASSERT_TRUE(canary.ok() && canary->has_value());
  EXPECT_EQ((*canary)->version, b);
  EXPECT_EQ((*canary)->baseline, a);
  EXPECT_DOUBLE_EQ((*canary)->share, 0.1);
  EXPECT_GT((*canary)->started_unix, 1'700'000'000);
  EXPECT_EQ(Production(reg), a) << "a trial does not move production";
  EXPECT_EQ(reg.FinishCanary(c, false, "").code(), StatusCode::kNotFound) << "not the trial running";
  ASSERT_TRUE(reg.FinishCanary(b, false, "ctr -12% [-15%, -9%] below production").ok());
  EXPECT_FALSE(reg.Canary()->has_value());
  EXPECT_EQ(Production(reg), a);
  EXPECT_EQ(reg.FinishCanary(b, true, "").code(), StatusCode::kNotFound) << "ended already";

  ASSERT_TRUE(reg.StartCanary({.version = c, .share = 0.05, .shadow = true}).ok());
  ASSERT_TRUE(reg.FinishCanary(c, true, "ctr +4% [+1%, +7%]").ok());
  EXPECT_EQ(Production(reg), c);
  ASSERT_TRUE(reg.Rollback("").ok()) << "a promoted trial is on the rollback stack";
  EXPECT_EQ(Production(reg), a);

  auto history = reg.History();
  ASSERT_TRUE(history.ok());
  std::vector<std::string> actions;
  for (const HistoryEntry& e : *history) actions.push_back(e.action);
  EXPECT_EQ(actions, (std::vector<std::string>{"promote", "canary", "canary_rollback", "canary", "promote",
                                               "rollback"}));
  EXPECT_EQ((*history)[2].reason, "ctr -12% [-15%, -9%] below production");
  EXPECT_EQ((*history)[2].from, b);
  EXPECT_EQ((*history)[2].to, a);
  EXPECT_EQ((*history)[1].reason, "10% of users: run r1");

  // A corrupt trial file is reported, not taken for "no trial".
  std::ofstream(fs::path(reg.root()) / "canary") << "{";
  EXPECT_EQ(reg.Canary().status().code(), StatusCode::kDataLoss);
}

}  // namespace
}  // namespace vrec::registry
