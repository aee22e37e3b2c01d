// Fuzzes the importers of `vrec data import`: the generic CSV format (vrec::data::LoadGenericCsv,
// docs/data-format.md) and MovieLens 100K (vrec::data::LoadMovieLens100K).
//
// Input: the files of one folder, separated by lines holding only "%%":
//   interactions.csv %% users.csv %% videos.csv        (fewer parts: the later files are absent)
//   "movielens" line, then u.data %% u.user %% u.item %% u.genre
//
// Invariants: errors are InvalidArgument or NotFound with a message; an accepted dataset passes
// Dataset::Validate; written out in the generic format it loads again with the same users, videos,
// categories and interactions, and writing that again gives the same bytes (a fixed point).
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_util.h"
#include "vrec/data/generic_csv.h"
#include "vrec/data/movielens.h"

namespace {

namespace fs = std::filesystem;

const std::string& Root() {
  static const std::string root = vrec::fuzz::MakeTempDir("vrec_csv_fuzz_");
  return root;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

void CheckRoundTrip(const vrec::data::Dataset& ds) {
  const std::string out1 = Root() + "/out1", out2 = Root() + "/out2";
  std::error_code ec;
  fs::remove_all(out1, ec);
  fs::remove_all(out2, ec);
  const vrec::Status w1 = vrec::data::WriteGenericCsv(ds, out1);
  FUZZ_CHECK(w1.ok(), "writing an accepted dataset: ", w1.ToString());
  auto again = vrec::data::LoadGenericCsv(out1);
  FUZZ_CHECK(again.ok(), "an accepted dataset written out does not load: ", again.status().ToString());
  FUZZ_CHECK(again->users.size() == ds.users.size() && again->videos.size() == ds.videos.size() &&
                 again->interactions.size() == ds.interactions.size(),
             "reloaded: ", again->users.size(), " users, ", again->videos.size(), " videos, ",
             again->interactions.size(), " interactions; was ", ds.users.size(), ", ", ds.videos.size(), ", ",
             ds.interactions.size());
  for (size_t i = 0; i < ds.users.size(); ++i) FUZZ_CHECK(again->users[i].id == ds.users[i].id, "user ", i);
  for (size_t i = 0; i < ds.videos.size(); ++i)
    FUZZ_CHECK(again->videos[i].id == ds.videos[i].id, "video ", i);
  const vrec::Status w2 = vrec::data::WriteGenericCsv(*again, out2);
  FUZZ_CHECK(w2.ok(), w2.ToString());
  for (const char* name : {"interactions.csv", "users.csv", "videos.csv"}) {
    FUZZ_CHECK(ReadAll(fs::path(out1) / name) == ReadAll(fs::path(out2) / name), name,
               " differs after a second write");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string dir = Root() + "/in";
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir);

  constexpr std::string_view kMovieLens = "movielens\n";
  const bool movielens = input.starts_with(kMovieLens);
  if (movielens) input.remove_prefix(kMovieLens.size());
  static const char* const kGeneric[] = {"interactions.csv", "users.csv", "videos.csv"};
  static const char* const kMovieLensFiles[] = {"u.data", "u.user", "u.item", "u.genre"};
  const std::vector<std::string_view> parts = vrec::fuzz::SplitAtLines(input, "%%");
  const size_t files = movielens ? std::size(kMovieLensFiles) : std::size(kGeneric);
  for (size_t i = 0; i < parts.size() && i < files; ++i) {
    vrec::fuzz::WriteFile(dir + "/" + (movielens ? kMovieLensFiles[i] : kGeneric[i]), parts[i]);
  }

  auto ds = movielens ? vrec::data::LoadMovieLens100K(dir) : vrec::data::LoadGenericCsv(dir);
  if (!ds.ok()) {
    const vrec::StatusCode code = ds.status().code();
    FUZZ_CHECK(code == vrec::StatusCode::kInvalidArgument || code == vrec::StatusCode::kNotFound,
               ds.status().ToString());
    FUZZ_CHECK(!ds.status().message().empty(), "an error without a message");
    return 0;
  }
  const vrec::Status valid = ds->Validate();
  FUZZ_CHECK(valid.ok(), "an accepted dataset is invalid: ", valid.ToString());
  CheckRoundTrip(*ds);
  return 0;
}
