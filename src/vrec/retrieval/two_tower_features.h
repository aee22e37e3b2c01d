// Feature extraction of the two-tower model as plain C++ (no Torch): bucket functions, hashing and
// the text bag of a video. The trainer (two_tower.cc) and the inference model (two_tower_model.cc)
// both call these, so training and serving cannot compute features differently.
//
// Every bucket function reserves 0 for "missing/unknown". Hashing is FNV-1a 64 (vrec::Hasher) of a
// short prefix plus the value, reduced to [1, buckets). Changing anything here changes the model's
// inputs: update FeatureSchema() in two_tower_model.cc (and so the schema hash stored in manifests)
// in the same change. All functions are pure and thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vrec/data/dataset.h"

namespace vrec::retrieval::two_tower_features {

inline constexpr int64_t kAgeBuckets = 22;  // 0 unknown, 1 + min(age, 104) / 5
inline constexpr int64_t kGenderBuckets = 4;
inline constexpr int64_t kLanguageBuckets = 256;   // hashed ISO codes (country and language)
inline constexpr int64_t kDurationBuckets = 24;    // 0 unknown, 1 + floor(log2(1 + seconds))
inline constexpr int64_t kYearBuckets = 152;       // 0 unknown, 1 + clamp(year - 1900, 0, 150)
inline constexpr int64_t kPopularityBuckets = 32;  // 1 + floor(log2(1 + training positives))

// Bucket in [1, buckets) of FNV-1a 64 of `prefix` followed by `s`; 0 is reserved for "missing".
// `buckets` must be at least 2.
int64_t HashBucket(std::string_view prefix, std::string_view s, int64_t buckets);

int64_t AgeBucket(int age);
int64_t GenderBucket(data::Gender g);
int64_t CountryBucket(std::string_view country);         // "c:" + code; 0 when empty
int64_t UserLanguageBucket(std::string_view language);   // "l:" + code; 0 when empty
int64_t VideoLanguageBucket(std::string_view language);  // the bare code; 0 when empty
int64_t DurationBucket(float seconds);
int64_t YearBucket(int64_t upload_time);
int64_t PopularityBucket(int64_t positives);

// Lower-cased alphanumeric words of a UTF-8 string (bytes >= 0x80 are kept inside words).
std::vector<std::string> Words(std::string_view s);

// Appends the hashed text bag of a video to `out`, each in [1, text_buckets): for each title word,
// "w:" + word and "t:" + every character trigram of "<word>"; for each tag, "g:" + lower-cased tag.
void AppendTextBuckets(std::string_view title, std::span<const std::string> tags, int64_t text_buckets,
                       std::vector<int64_t>& out);

}  // namespace vrec::retrieval::two_tower_features
