#include <cstdio>

#include "apps/vrec/commands.h"
#include "vrec/common/strings.h"
#include "vrec/common/sys.h"
#include "vrec/data/generic_csv.h"
#include "vrec/data/movielens.h"
#include "vrec/data/synth.h"

namespace vrec::app {

void DataSource::AddFlags(CLI::App& cmd) {
  auto* ml = cmd.add_option("--movielens", movielens_dir,
                            "MovieLens folder of any release: 100K (u.data), 1M/10M (ratings.dat), "
                            "20M/25M/latest (ratings.csv)");
  auto* generic =
      cmd.add_option("--data", generic_dir, "folder in the generic CSV format (docs/data-format.md)");
  ml->excludes(generic);
  generic->excludes(ml);
}

StatusOr<data::Dataset> DataSource::Load() const {
  if (!movielens_dir.empty()) return data::LoadMovieLens(movielens_dir);
  if (!generic_dir.empty()) return data::LoadGenericCsv(generic_dir);
  return InvalidArgumentError("give a data source: --movielens DIR or --data DIR");
}

namespace {

void PrintSummary(const data::Dataset& ds) {
  std::printf("users=%zu videos=%zu interactions=%zu categories=%zu\n", ds.users.size(), ds.videos.size(),
              ds.interactions.size(), ds.categories.size());
}

}  // namespace

void AddDataCommands(CLI::App& app, std::function<Status()>& run) {
  auto* data_cmd = app.add_subcommand("data", "generate, import and convert datasets");
  data_cmd->require_subcommand(1);

  auto synth = std::make_shared<data::SynthConfig>();
  auto synth_out = std::make_shared<std::string>();
  auto* s =
      data_cmd->add_subcommand("synth", "generate a synthetic video platform in the generic CSV format");
  s->add_option("--out", *synth_out, "output folder (must not exist or be empty)")->required();
  s->add_option("--users", synth->num_users, "number of users")->capture_default_str();
  s->add_option("--videos", synth->num_videos, "number of videos")->capture_default_str();
  s->add_option("--interactions", synth->num_interactions, "number of interaction rows")
      ->capture_default_str();
  s->add_option("--seed", synth->seed, "random seed (same seed, same data)")->capture_default_str();
  s->add_option("--days", synth->days, "length of the simulated period in days")->capture_default_str();
  s->add_option(
      "--calibration", synth->calibration_dir,
      "KuaiRand features folder to calibrate durations, tags and upload times (default: built-in tables)");
  s->add_option("--threads", synth->threads, "worker threads")->capture_default_str();
  s->callback([&run, synth, synth_out] {
    run = [synth, synth_out]() -> Status {
      VREC_RETURN_IF_ERROR(data::CheckOutputFolder(*synth_out));
      Stopwatch total;
      VREC_ASSIGN_OR_RETURN(data::Dataset ds, data::GenerateSynthetic(*synth));
      const double gen_s = total.Seconds();
      Stopwatch write;
      VREC_RETURN_IF_ERROR(data::WriteGenericCsv(ds, *synth_out));
      PrintSummary(ds);
      std::printf("generate_s=%.2f write_s=%.2f total_s=%.2f peak_rss_mb=%.0f out=%s\n", gen_s,
                  write.Seconds(), total.Seconds(), static_cast<double>(PeakRssBytes()) / (1 << 20),
                  synth_out->c_str());
      return OkStatus();
    };
  });

  auto source = std::make_shared<DataSource>();
  auto import_out = std::make_shared<std::string>();
  auto* im = data_cmd->add_subcommand("import", "validate a dataset and write it in the generic CSV format");
  source->AddFlags(*im);
  im->add_option("--out", *import_out, "output folder (must not exist or be empty)")->required();
  im->callback([&run, source, import_out] {
    run = [source, import_out]() -> Status {
      VREC_RETURN_IF_ERROR(data::CheckOutputFolder(*import_out));
      VREC_ASSIGN_OR_RETURN(data::Dataset ds, source->Load());
      VREC_RETURN_IF_ERROR(ds.Validate());
      VREC_RETURN_IF_ERROR(data::WriteGenericCsv(ds, *import_out));
      PrintSummary(ds);
      std::printf("out=%s\n", import_out->c_str());
      return OkStatus();
    };
  });
}

}  // namespace vrec::app
