#include "vrec/offline/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "vrec/common/gzip.h"
#include "vrec/common/hash.h"
#include "vrec/data/generic_csv.h"
#include "vrec/data/test_util.h"
#include "vrec/events/segments.h"
#include "vrec/offline/platform_data.h"
#include "vrec/registry/model_layout.h"
#include "vrec/registry/registry.h"

namespace vrec::offline {
namespace {

namespace fs = std::filesystem;
using ::vrec::data::testing::TempDir;

constexpr int64_t kDay = 86400;

void WriteGzip(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  auto w = GzipFileWriter::Create(path.string());
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Write(text).ok());
  ASSERT_TRUE((*w)->Finish().ok());
}

// Registers `ds` as a version (its catalog snapshot and a manifest with `params`) and promotes it,
// as the pipeline's deploy step does.
StatusOr<std::string> Deploy(const std::string& root, const data::Dataset& ds,
                             const std::map<std::string, std::string>& params) {
  VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(root));
  VREC_ASSIGN_OR_RETURN(std::string staging, reg.BeginVersion());
  VREC_RETURN_IF_ERROR(data::WriteGenericCsv(ds, (fs::path(staging) / registry::kCatalogDir).string()));
  registry::Manifest m;
  m.model_kind = registry::kModelKind;
  m.created_at = registry::NowUtcIso8601();
  m.feature_schema = "test";
  m.feature_schema_hash = HashHex(m.feature_schema);
  m.params = params;
  VREC_RETURN_IF_ERROR(registry::WriteManifest(staging, m));
  VREC_ASSIGN_OR_RETURN(std::string version, reg.CommitVersion(staging));
  VREC_RETURN_IF_ERROR(reg.Promote(version, "test"));
  return version;
}

class TrainerTest : public ::testing::Test {
 protected:
  void SetUp() override { now_ = time(nullptr); }
  std::string Registry() const { return (dir_.path() / "registry").string(); }
  std::string Export() const { return (fs::path(Registry()) / "events").string(); }

  TrainerOptions Options() {
    TrainerOptions o;
    o.config.min_new_events = 10;
    o.config.interval = std::chrono::hours(24 * 7);
    o.pipeline.registry = Registry();
    o.clock = [this] { return now_; };
    o.log = [this](std::string_view line) { log_ += std::string(line) + "\n"; };
    o.run_pipeline = [this](const data::Dataset& ds, const PipelineOptions& po) -> StatusOr<PipelineRecord> {
      ++pipeline_runs_;
      last_rows_ = ds.interactions.size();
      if (pipeline_error_) return InternalError("disk full");
      PipelineRecord r;
      r.record_path = StrCat(po.registry, "/runs/fake-", pipeline_runs_, ".json");
      r.gates_passed = gates_pass_;
      VREC_ASSIGN_OR_RETURN(registry::ModelRegistry reg, registry::ModelRegistry::Open(po.registry));
      VREC_ASSIGN_OR_RETURN(r.production_before, reg.ProductionVersion());
      if (!gates_pass_) {
        r.gates.push_back(
            GateVerdict{.name = "two_stage_ndcg@10", .value = 0.01, .threshold = 0.3, .passed = false});
        return r;
      }
      VREC_ASSIGN_OR_RETURN(std::string version, Deploy(po.registry, ds, po.manifest_params));
      r.version = version;
      r.promoted = true;
      return r;
    };
    return o;
  }
  std::unique_ptr<Trainer> OpenTrainer() {
    auto t = Trainer::Open(Options());
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? std::move(*t) : nullptr;
  }
  void DeployBase() {
    data::Dataset ds;
    const uint32_t u = ds.InternUser(UserId{1});
    const uint32_t v = ds.InternVideo(VideoId{1});
    ds.interactions.push_back(data::Interaction{.user = u, .video = v, .timestamp = 100});
    ASSERT_TRUE(Deploy(Registry(), ds, {}).ok());
  }
  // Exports `n` more events as one segment.
  void ExportEvents(uint64_t n) {
    std::string rows = events::kSegmentHeader;
    for (uint64_t i = 0; i < n; ++i)
      rows += StrCat(i % 5 + 1, ",", i % 7 + 1, ",", 1000 + seq_ + i, ",play,,,,,\n");
    WriteGzip(fs::path(Export()) / events::SegmentRelativePath(now_, seq_ + 1, seq_ + n), rows);
    seq_ += n;
  }

  TempDir dir_;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::string log_;
  int pipeline_runs_ = 0;
  size_t last_rows_ = 0;
  bool gates_pass_ = true;
  bool pipeline_error_ = false;
};

TEST_F(TrainerTest, NothingToTrainOnIsNotDue) {
  auto t = OpenTrainer();
  auto run = t->RunOnce();
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_FALSE(run->ran);
  EXPECT_NE(run->decision.reason.find("nothing to train on"), std::string::npos);
}

TEST_F(TrainerTest, RunsAfterMinNewEventsAndRecordsWhatItTrainedOn) {
  DeployBase();
  ExportEvents(6);
  auto t = OpenTrainer();
  auto d = t->Decide();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_FALSE(d->due);
  EXPECT_EQ(d->new_events, 6u);
  EXPECT_NE(d->reason.find("6 new events of 10; next scheduled run in"), std::string::npos) << d->reason;

  ExportEvents(5);
  auto run = t->RunOnce();
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->ran);
  EXPECT_TRUE(run->status.ok()) << run->status.ToString();
  EXPECT_EQ(run->outcome, "promoted v000002");
  EXPECT_EQ(last_rows_, 12u);  // the base's row + 11 exported
  auto reg = registry::ModelRegistry::Open(Registry());
  auto manifest = registry::ReadManifest(reg->VersionPath("v000002"));
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->params.at(kThroughSeqParam), "11");
  EXPECT_EQ(t->state().last_run_through, 11u);
  EXPECT_EQ(t->state().runs, 1);

  // Nothing new now; a restarted trainer reads its state and does not retrain at once.
  EXPECT_FALSE(t->Decide()->due);
  t.reset();
  t = OpenTrainer();
  EXPECT_EQ(t->state().last_outcome, "promoted v000002");
  EXPECT_FALSE(t->RunOnce()->ran);
  // The audit line.
  std::ifstream lines(fs::path(t->state_file()).parent_path() / "runs.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(lines, line));
  const auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j.at("outcome"), "promoted v000002");
  EXPECT_EQ(j.at("through_seq"), 11u);

  // The next run takes only the newer segments over the new snapshot.
  ExportEvents(10);
  run = t->RunOnce();
  ASSERT_TRUE(run->ran);
  EXPECT_EQ(last_rows_, 22u);
  EXPECT_EQ(run->outcome, "promoted v000003");
}

TEST_F(TrainerTest, TheScheduleNeedsSomethingNew) {
  DeployBase();
  auto t = OpenTrainer();
  EXPECT_FALSE(t->Decide()->due);  // the model is fresh
  now_ += 8 * kDay;
  auto d = t->Decide();
  EXPECT_FALSE(d->due);
  EXPECT_NE(d->reason.find("nothing new"), std::string::npos) << d->reason;
  ExportEvents(1);
  d = t->Decide();
  EXPECT_TRUE(d->due);
  EXPECT_NE(d->reason.find("scheduled (trainer.interval = 7d0h"), std::string::npos) << d->reason;
  ASSERT_TRUE(t->RunOnce()->ran);
  // Catalog updates alone are something new for the schedule.
  now_ += 8 * kDay;
  EXPECT_FALSE(t->Decide()->due);
  WriteGzip(fs::path(Export()) / events::kCatalogExportDir / events::kVideosExportFile,
            "video_id,title\n1,renamed\n");
  d = t->Decide();
  EXPECT_TRUE(d->due);
  EXPECT_TRUE(d->catalog_changed);
}

TEST_F(TrainerTest, FailedGatesAndErrorsAreRecordedAndNotRetriedInALoop) {
  DeployBase();
  ExportEvents(10);
  gates_pass_ = false;
  auto t = OpenTrainer();
  auto run = t->RunOnce();
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(run->ran);
  EXPECT_EQ(run->outcome, "gates failed (two_stage_ndcg@10); production stays v000001") << run->outcome;
  EXPECT_FALSE(t->RunOnce()->ran);  // waits for 10 further events
  ExportEvents(10);
  pipeline_error_ = true;
  run = t->RunOnce();
  ASSERT_TRUE(run->ran);
  EXPECT_EQ(run->status.code(), StatusCode::kInternal);
  EXPECT_EQ(t->state().last_outcome, "failed: disk full");
  EXPECT_FALSE(t->RunOnce()->ran);
  EXPECT_EQ(pipeline_runs_, 2);
  auto reg = registry::ModelRegistry::Open(Registry());
  EXPECT_EQ(*reg->ProductionVersion(), "v000001");
  // --force runs whatever the decision.
  pipeline_error_ = false;
  gates_pass_ = true;
  run = t->RunOnce(/*force=*/true);
  ASSERT_TRUE(run->ran);
  EXPECT_EQ(run->outcome, "promoted v000002");
}

TEST_F(TrainerTest, OneTrainerPerStateFileAndCorruptStateIsReported) {
  auto t = OpenTrainer();
  EXPECT_EQ(Trainer::Open(Options()).status().code(), StatusCode::kUnavailable);
  const std::string state = t->state_file();
  t.reset();
  std::ofstream(state) << "{\"last_run_at\": \"yesterday\"}";
  EXPECT_EQ(Trainer::Open(Options()).status().code(), StatusCode::kDataLoss);
  TrainerOptions o = Options();
  o.run_pipeline = nullptr;
  EXPECT_EQ(Trainer::Open(o).status().code(), StatusCode::kInvalidArgument);
}

TEST(ParseUtcIso8601, ReadsTheRegistryFormat) {
  EXPECT_EQ(ParseUtcIso8601("2026-01-31T07:00:00Z"), 1769842800);
  EXPECT_FALSE(ParseUtcIso8601("2026-01-31 07:00:00").has_value());
  EXPECT_FALSE(ParseUtcIso8601("").has_value());
}

}  // namespace
}  // namespace vrec::offline
