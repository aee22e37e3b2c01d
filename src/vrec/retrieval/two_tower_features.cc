#include "vrec/retrieval/two_tower_features.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"

namespace vrec::retrieval::two_tower_features {

int64_t HashBucket(std::string_view prefix, std::string_view s, int64_t buckets) {
  Hasher h;
  h.Update(prefix);
  h.Update(s);
  return 1 + static_cast<int64_t>(h.Value() % static_cast<uint64_t>(buckets - 1));
}

int64_t AgeBucket(int age) { return age < 0 ? 0 : 1 + std::min(age, 104) / 5; }

int64_t GenderBucket(data::Gender g) {
  const auto b = static_cast<int64_t>(g);
  return b < kGenderBuckets ? b : 0;
}

int64_t CountryBucket(std::string_view country) {
  return country.empty() ? 0 : HashBucket("c:", country, kLanguageBuckets);
}

int64_t UserLanguageBucket(std::string_view language) {
  return language.empty() ? 0 : HashBucket("l:", language, kLanguageBuckets);
}

int64_t VideoLanguageBucket(std::string_view language) {
  return language.empty() ? 0 : HashBucket("", language, kLanguageBuckets);
}

int64_t DurationBucket(float seconds) {
  if (data::IsMissing(seconds) || seconds < 0) return 0;
  return 1 + std::min<int64_t>(static_cast<int64_t>(std::log2(1.0 + seconds)), kDurationBuckets - 2);
}

int64_t YearBucket(int64_t upload_time) {
  if (upload_time == data::kUnknownTime) return 0;
  const int64_t year = 1970 + static_cast<int64_t>(std::floor(static_cast<double>(upload_time) / 31556952.0));
  return 1 + std::clamp<int64_t>(year - 1900, 0, kYearBuckets - 2);
}

int64_t PopularityBucket(int64_t positives) {
  return 1 + std::min<int64_t>(
                 static_cast<int64_t>(std::log2(1.0 + static_cast<double>(std::max<int64_t>(positives, 0)))),
                 kPopularityBuckets - 2);
}

std::vector<std::string> Words(std::string_view s) {
  std::vector<std::string> words;
  std::string cur;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) {
      cur.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

void AppendTextBuckets(std::string_view title, std::span<const std::string> tags, int64_t text_buckets,
                       std::vector<int64_t>& out) {
  for (const std::string& word : Words(title)) {
    out.push_back(HashBucket("w:", word, text_buckets));
    const std::string padded = StrCat("<", word, ">");
    for (size_t i = 0; i + 3 <= padded.size(); ++i) {
      out.push_back(HashBucket("t:", std::string_view(padded).substr(i, 3), text_buckets));
    }
  }
  for (const std::string& tag : tags) out.push_back(HashBucket("g:", AsciiStrToLower(tag), text_buckets));
}

}  // namespace vrec::retrieval::two_tower_features
