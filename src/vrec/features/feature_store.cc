#include "vrec/features/feature_store.h"

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "vrec/common/hash.h"
#include "vrec/common/strings.h"

namespace vrec::features {

namespace {

constexpr std::string_view kFormatKey = "m/format";
constexpr std::string_view kPrunedThroughKey = "m/pruned_through";
constexpr std::string_view kLastSeqKey = "m/last_seq";
constexpr std::string_view kLastChangeKey = "m/last_change";
constexpr std::string_view kChangesPrunedKey = "m/changes_pruned";
constexpr std::string_view kEventPrefix = "e/";
constexpr std::string_view kChangePrefix = "x/";
constexpr std::string_view kHistoryPrefix = "h/";
constexpr std::string_view kVideoPrefix = "v/";
constexpr std::string_view kEventIdPrefix = "d/";
constexpr std::string_view kVideoRecordPrefix = "c/v/";
constexpr std::string_view kUserRecordPrefix = "c/u/";
constexpr uint8_t kVideoRecordV1 = 1;
constexpr uint8_t kUserRecordV1 = 1;
constexpr size_t kMaxRecordString = 1 << 20;
constexpr std::string_view kEventIdTimePrefix = "t/";
constexpr std::string_view kSumPrefix = "s/";

// First byte of every record: bump it when a record's layout changes, and keep decoding the old one.
constexpr uint8_t kEventRecordV1 = 1;
constexpr uint8_t kEventRecordV2 = 2;  // v1 + event id
constexpr uint8_t kHistoryRecordV1 = 1;
constexpr uint8_t kFlagsRecordV1 = 1;
constexpr uint8_t kChangeRecordV1 = 1;

constexpr uint8_t kFlagUnavailable = 1;
constexpr uint8_t kFlagAgeRestricted = 2;

// ---- keys ------------------------------------------------------------------------------------

std::string KeyWithId(std::string_view prefix, uint64_t id) {
  std::string key(prefix);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((id >> shift) & 0xff));
  return key;
}

// The id of a key made by KeyWithId, or nullopt when the key does not have that shape.
std::optional<uint64_t> IdOfKey(std::string_view key, std::string_view prefix) {
  if (key.size() != prefix.size() + 8 || !key.starts_with(prefix)) return std::nullopt;
  uint64_t id = 0;
  for (size_t i = prefix.size(); i < key.size(); ++i) id = (id << 8) | static_cast<unsigned char>(key[i]);
  return id;
}

// A key for messages: "h/42" rather than eight raw bytes.
std::string DescribeKey(std::string_view key) {
  for (std::string_view prefix :
       {kEventPrefix, kHistoryPrefix, kVideoPrefix, kVideoRecordPrefix, kUserRecordPrefix, kChangePrefix}) {
    if (auto id = IdOfKey(key, prefix)) return StrCat(prefix, *id);
  }
  std::string out;
  for (unsigned char c : key) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out += StrCat("\\x", "0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 15]);
    }
  }
  return out;
}

// ---- records ---------------------------------------------------------------------------------

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      Byte(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    Byte(static_cast<uint8_t>(v));
  }
  void SignedVarint(int64_t v) {  // zigzag: small magnitudes of either sign take few bytes
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Float(float f) {  // little-endian IEEE bits; NaN (absent) round-trips
    const uint32_t bits = std::bit_cast<uint32_t>(f);
    for (int shift = 0; shift < 32; shift += 8) Byte(static_cast<uint8_t>(bits >> shift));
  }
  void String(std::string_view v) {
    Varint(v.size());
    out_.append(v);
  }

 private:
  std::string& out_;
};

// Reads a record; every read fails (returns false) instead of running past the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Byte(uint8_t& b) {
    if (pos_ >= in_.size()) return false;
    b = static_cast<uint8_t>(in_[pos_++]);
    return true;
  }
  bool Varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!Byte(b)) return false;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return shift < 63 || b <= 1;
    }
    return false;
  }
  bool SignedVarint(int64_t& v) {
    uint64_t u = 0;
    if (!Varint(u)) return false;
    v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }
  bool Float(float& f) {
    uint32_t bits = 0;
    for (int shift = 0; shift < 32; shift += 8) {
      uint8_t b = 0;
      if (!Byte(b)) return false;
      bits |= static_cast<uint32_t>(b) << shift;
    }
    f = std::bit_cast<float>(bits);
    return true;
  }
  bool String(std::string& v) {
    uint64_t n = 0;
    if (!Varint(n) || n > remaining()) return false;
    v.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool AtEnd() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

bool DecodeEventType(uint8_t b, data::EventType& type) {
  if (b > static_cast<uint8_t>(data::EventType::kRating)) return false;
  type = static_cast<data::EventType>(b);
  return true;
}

bool DecodeDevice(uint8_t b, data::Device& device) {
  if (b > static_cast<uint8_t>(data::Device::kTv)) return false;
  device = static_cast<data::Device>(b);
  return true;
}

Status Corrupt(std::string_view key, std::string_view what) {
  return DataLossError(StrCat("feature store record ", DescribeKey(key), ": ", what));
}

// Event record v2: version, user (varint), video (varint), type, device, time (zigzag varint),
// watch ratio (float32 LE), event id (varint length + bytes). v1 is the same without the id.
std::string EncodeEvent(const Event& e) {
  std::string out;
  Writer w(out);
  w.Byte(kEventRecordV2);
  w.Varint(e.user.value);
  w.Varint(e.video.value);
  w.Byte(static_cast<uint8_t>(e.type));
  w.Byte(static_cast<uint8_t>(e.device));
  w.SignedVarint(e.time);
  w.Float(e.watch_ratio);
  w.Varint(e.event_id.size());
  out.append(e.event_id);
  return out;
}

StatusOr<Event> DecodeEvent(std::string_view key, std::string_view value) {
  Reader r(value);
  uint8_t version = 0, type = 0, device = 0;
  if (!r.Byte(version)) return Corrupt(key, "empty event record");
  if (version != kEventRecordV1 && version != kEventRecordV2) {
    return Corrupt(key, StrCat("unknown event record version ", int{version}));
  }
  Event e;
  if (!r.Varint(e.user.value) || !r.Varint(e.video.value) || !r.Byte(type) || !r.Byte(device) ||
      !r.SignedVarint(e.time) || !r.Float(e.watch_ratio)) {
    return Corrupt(key, "truncated event record");
  }
  if (version == kEventRecordV2) {
    uint64_t n = 0;
    if (!r.Varint(n) || n > kMaxEventIdBytes || n != r.remaining()) return Corrupt(key, "bad event id");
    e.event_id.assign(value.substr(value.size() - n));
  } else if (!r.AtEnd()) {
    return Corrupt(key, "overlong event record");
  }
  if (!DecodeEventType(type, e.type)) return Corrupt(key, StrCat("bad event type ", int{type}));
  if (!DecodeDevice(device, e.device)) return Corrupt(key, StrCat("bad device ", int{device}));
  return e;
}

// History record v1: version, count (varint), then per entry, oldest first: video (varint), time
// minus the previous entry's time (zigzag varint; the first from 0), type, watch ratio (float32).
// ~15 bytes per entry.
std::string EncodeHistory(std::span<const HistoryEntry> entries) {
  std::string out;
  out.reserve(2 + entries.size() * 15);
  Writer w(out);
  w.Byte(kHistoryRecordV1);
  w.Varint(entries.size());
  int64_t prev = 0;
  for (const HistoryEntry& h : entries) {
    w.Varint(h.video.value);
    // Wrapping subtraction: any pair of int64 times round-trips (DecodeHistory adds it back).
    w.SignedVarint(static_cast<int64_t>(static_cast<uint64_t>(h.time) - static_cast<uint64_t>(prev)));
    w.Byte(static_cast<uint8_t>(h.type));
    w.Float(h.watch_ratio);
    prev = h.time;
  }
  return out;
}

StatusOr<std::vector<HistoryEntry>> DecodeHistory(std::string_view key, std::string_view value) {
  Reader r(value);
  uint8_t version = 0;
  if (!r.Byte(version)) return Corrupt(key, "empty history record");
  if (version != kHistoryRecordV1)
    return Corrupt(key, StrCat("unknown history record version ", int{version}));
  uint64_t count = 0;
  if (!r.Varint(count)) return Corrupt(key, "truncated history record");
  // Every entry takes at least 7 bytes: a count beyond that is corruption, not a huge allocation.
  if (count > r.remaining() / 7) return Corrupt(key, StrCat("history record claims ", count, " entries"));
  std::vector<HistoryEntry> entries(count);
  int64_t prev = 0;
  for (HistoryEntry& h : entries) {
    int64_t delta = 0;
    uint8_t type = 0;
    if (!r.Varint(h.video.value) || !r.SignedVarint(delta) || !r.Byte(type) || !r.Float(h.watch_ratio)) {
      return Corrupt(key, "truncated history record");
    }
    if (!DecodeEventType(type, h.type)) return Corrupt(key, StrCat("bad event type ", int{type}));
    h.time = static_cast<int64_t>(static_cast<uint64_t>(prev) + static_cast<uint64_t>(delta));
    prev = h.time;
  }
  if (!r.AtEnd()) return Corrupt(key, "trailing bytes after history record");
  return entries;
}

std::string EncodeFlags(VideoFlags f) {
  uint8_t bits = (f.unavailable ? kFlagUnavailable : 0) | (f.age_restricted ? kFlagAgeRestricted : 0);
  return std::string{static_cast<char>(kFlagsRecordV1), static_cast<char>(bits)};
}

StatusOr<VideoFlags> DecodeFlags(std::string_view key, std::string_view value) {
  if (value.size() != 2 || static_cast<uint8_t>(value[0]) != kFlagsRecordV1) {
    return Corrupt(key, "bad video flags record");
  }
  const auto bits = static_cast<uint8_t>(value[1]);
  if ((bits & ~(kFlagUnavailable | kFlagAgeRestricted)) != 0) {
    return Corrupt(key, StrCat("unknown video flag bits ", int{bits}));
  }
  return VideoFlags{(bits & kFlagUnavailable) != 0, (bits & kFlagAgeRestricted) != 0};
}

bool TooLong(std::string_view v) { return v.size() > kMaxRecordString; }

// Video record v1: version, flags (1 age_restricted, 2 available), duration (float32), upload time
// and update time (zigzag varints), language, title, categories and tags (count + strings).
StatusOr<std::string> EncodeVideoRecord(const VideoRecord& r) {
  bool too_long = TooLong(r.language) || TooLong(r.title);
  for (const auto* list : {&r.categories, &r.tags}) {
    for (const std::string& x : *list) too_long = too_long || TooLong(x);
  }
  if (too_long) return InvalidArgumentError("video record: a string is longer than 1 MiB");
  std::string out;
  Writer w(out);
  w.Byte(kVideoRecordV1);
  w.Byte(static_cast<uint8_t>((r.age_restricted ? 1 : 0) | (r.available ? 2 : 0)));
  w.Float(r.duration_s);
  w.SignedVarint(r.upload_time);
  w.SignedVarint(r.updated_at);
  w.String(r.language);
  w.String(r.title);
  for (const auto* list : {&r.categories, &r.tags}) {
    w.Varint(list->size());
    for (const std::string& x : *list) w.String(x);
  }
  return out;
}

StatusOr<VideoRecord> DecodeVideoRecord(std::string_view key, std::string_view value, VideoId id) {
  Reader r(value);
  VideoRecord v;
  v.id = id;
  uint8_t version = 0, flags = 0;
  if (!r.Byte(version) || version != kVideoRecordV1) return Corrupt(key, "unknown video record version");
  if (!r.Byte(flags) || (flags & ~3) != 0 || !r.Float(v.duration_s) || !r.SignedVarint(v.upload_time) ||
      !r.SignedVarint(v.updated_at) || !r.String(v.language) || !r.String(v.title)) {
    return Corrupt(key, "truncated video record");
  }
  v.age_restricted = (flags & 1) != 0;
  v.available = (flags & 2) != 0;
  for (auto* list : {&v.categories, &v.tags}) {
    uint64_t n = 0;
    if (!r.Varint(n) || n > r.remaining()) return Corrupt(key, "truncated video record");
    list->resize(n);
    for (std::string& x : *list) {
      if (!r.String(x)) return Corrupt(key, "truncated video record");
    }
  }
  if (!r.AtEnd()) return Corrupt(key, "trailing bytes after video record");
  return v;
}

// User record v1: version, gender, age (zigzag), update time (zigzag), country, language.
std::string EncodeUserRecord(const UserRecord& u) {
  std::string out;
  Writer w(out);
  w.Byte(kUserRecordV1);
  w.Byte(static_cast<uint8_t>(u.gender));
  w.SignedVarint(u.age);
  w.SignedVarint(u.updated_at);
  w.String(u.country);
  w.String(u.language);
  return out;
}

StatusOr<UserRecord> DecodeUserRecord(std::string_view key, std::string_view value, UserId id) {
  Reader r(value);
  UserRecord u;
  u.id = id;
  uint8_t version = 0, gender = 0;
  int64_t age = 0;
  if (!r.Byte(version) || version != kUserRecordV1) return Corrupt(key, "unknown user record version");
  if (!r.Byte(gender) || gender > static_cast<uint8_t>(data::Gender::kOther) || !r.SignedVarint(age) ||
      age < -1 || age > 150 || !r.SignedVarint(u.updated_at) || !r.String(u.country) ||
      !r.String(u.language) || !r.AtEnd()) {
    return Corrupt(key, "bad user record");
  }
  u.gender = static_cast<data::Gender>(gender);
  u.age = static_cast<int16_t>(age);
  return u;
}

std::string EncodeChange(Change::Kind kind, uint64_t id, int64_t time) {
  std::string out;
  Writer w(out);
  w.Byte(kChangeRecordV1);
  w.Byte(static_cast<uint8_t>(kind));
  w.Varint(id);
  w.SignedVarint(time);
  return out;
}

StatusOr<Change> DecodeChange(std::string_view key, std::string_view value, uint64_t seq) {
  Reader r(value);
  Change c;
  c.seq = seq;
  uint8_t version = 0, kind = 0;
  if (!r.Byte(version) || version != kChangeRecordV1) return Corrupt(key, "unknown change record version");
  if (!r.Byte(kind) || kind < 1 || kind > 3 || !r.Varint(c.id) || !r.SignedVarint(c.time) || !r.AtEnd()) {
    return Corrupt(key, "bad change record");
  }
  c.kind = static_cast<Change::Kind>(kind);
  return c;
}

// An 8-byte counter (m/last_seq, m/last_change...) as stored; nullopt for an absent key.
StatusOr<uint64_t> DecodeCounter(std::string_view key, const std::optional<std::string>& value) {
  if (!value) return uint64_t{0};
  std::optional<uint64_t> n = IdOfKey(StrCat(kEventPrefix, *value), kEventPrefix);
  if (!n) return Corrupt(key, "malformed counter");
  return *n;
}

// The counter stored under `key` (0 when absent).
StatusOr<uint64_t> ReadCounter(KeyValueStore& kv, std::string_view key) {
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> value, kv.Get(key));
  return DecodeCounter(key, value);
}

// Runs `attempt` (a read, then a conditional write) until it does not lose a race to another
// writer, at most FeatureStore::kMaxCommitAttempts times, with a short random pause between
// attempts that spreads the retries of writers that collided. Its status, or Aborted saying
// `what` lost every time.
Status RetryWhileAborted(std::string_view what, const std::function<Status()>& attempt) {
  thread_local std::minstd_rand rng(
      static_cast<unsigned>(std::hash<std::thread::id>()(std::this_thread::get_id())));
  for (int n = 0; n < FeatureStore::kMaxCommitAttempts; ++n) {
    if (n > 0) {
      const int max_us = std::min(2000, 50 << std::min(n, 5));
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_us)(rng)));
    }
    Status s = attempt();
    if (s.code() != StatusCode::kAborted) return s;
  }
  return AbortedError(StrCat(what, ": other writers won the race ", FeatureStore::kMaxCommitAttempts,
                             " times in a row; retry"));
}

// Keeps the newest `max` entries of a history that is ordered oldest first.
void KeepNewest(std::vector<HistoryEntry>& entries, size_t max) {
  if (entries.size() > max) entries.erase(entries.begin(), entries.end() - static_cast<ptrdiff_t>(max));
}

}  // namespace

// ---- FeatureStore ----------------------------------------------------------------------------

FeatureStore::FeatureStore(std::unique_ptr<KeyValueStore> kv, const FeatureStoreOptions& options,
                           uint64_t last_seq, uint64_t pruned_through)
    : kv_(std::move(kv)),
      options_(options),
      clock_(options.clock ? options.clock : std::function<int64_t()>([] {
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
      })),
      last_seq_(last_seq),
      pruned_through_(pruned_through) {}

StatusOr<std::unique_ptr<FeatureStore>> FeatureStore::Open(std::unique_ptr<KeyValueStore> kv,
                                                           const FeatureStoreOptions& options) {
  if (options.max_history == 0) return InvalidArgumentError("feature store: max_history must be positive");

  VREC_ASSIGN_OR_RETURN(std::optional<std::string> format, kv->Get(kFormatKey));
  if (!format) {
    WriteBatch batch;
    batch.Put(kFormatKey, std::to_string(kFeatureStoreFormatVersion));
    VREC_RETURN_IF_ERROR(kv->Write(batch, WriteOptions{.sync = true}));
  } else {
    int version = 0;
    auto [p, ec] = std::from_chars(format->data(), format->data() + format->size(), version);
    if (ec != std::errc() || p != format->data() + format->size()) {
      return DataLossError(StrCat(kv->uri(), ": feature store key ", kFormatKey, " holds '",
                                  DescribeKey(*format), "', not a version number"));
    }
    if (version > kFeatureStoreFormatVersion) {
      return FailedPreconditionError(StrCat(kv->uri(), ": feature store layout version ", version,
                                            " is newer than this build understands (",
                                            kFeatureStoreFormatVersion, "); upgrade vrec"));
    }
    if (version < kFeatureStoreFormatVersion) {
      // Older records keep decoding; the marker makes older builds refuse the newer records whole.
      WriteBatch batch;
      batch.Put(kFormatKey, std::to_string(kFeatureStoreFormatVersion));
      VREC_RETURN_IF_ERROR(kv->Write(batch, WriteOptions{.sync = true}));
    }
  }

  VREC_ASSIGN_OR_RETURN(const uint64_t pruned_through, ReadCounter(*kv, kPrunedThroughKey));
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> last_seq, kv->Get(kLastSeqKey));
  if (!last_seq) {
    // A store of layout 2 kept its sequence in the process: it continues after the last log key
    // (or the pruning mark). Several handles opening it at once write the same value; the first
    // write wins and the others find it written.
    uint64_t seq = pruned_through;
    VREC_ASSIGN_OR_RETURN(std::optional<KeyValue> last, kv->Last(kEventPrefix));
    if (last) {
      std::optional<uint64_t> s = IdOfKey(last->key, kEventPrefix);
      if (!s || *s == UINT64_MAX) return Corrupt(last->key, "malformed event log key");
      seq = std::max(seq, *s);
    }
    WriteBatch batch;
    batch.Expect(kLastSeqKey, std::nullopt);
    batch.Put(kLastSeqKey, KeyWithId("", seq));
    if (Status s = kv->Write(batch, WriteOptions{.sync = true});
        !s.ok() && s.code() != StatusCode::kAborted) {
      return s;
    }
    VREC_ASSIGN_OR_RETURN(last_seq, kv->Get(kLastSeqKey));
  }
  VREC_ASSIGN_OR_RETURN(const uint64_t seq, DecodeCounter(kLastSeqKey, last_seq));
  return std::unique_ptr<FeatureStore>(new FeatureStore(std::move(kv), options, seq, pruned_through));
}

StatusOr<std::unique_ptr<FeatureStore>> FeatureStore::Open(std::string_view uri,
                                                           const FeatureStoreOptions& options) {
  VREC_ASSIGN_OR_RETURN(std::unique_ptr<KeyValueStore> kv, OpenKeyValueStore(uri));
  return Open(std::move(kv), options);
}

StatusOr<std::vector<HistoryEntry>> FeatureStore::History(UserId user) const {
  const std::string key = KeyWithId(kHistoryPrefix, user.value);
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(key));
  if (!value) return std::vector<HistoryEntry>();
  VREC_ASSIGN_OR_RETURN(std::vector<HistoryEntry> entries, DecodeHistory(key, *value));
  KeepNewest(entries, options_.max_history);
  return entries;
}

StatusOr<FeatureStore::UserState> FeatureStore::ReadUserState(UserId user) const {
  const std::vector<std::string> keys = {KeyWithId(kHistoryPrefix, user.value), std::string(kLastChangeKey)};
  VREC_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> read, kv_->MultiGet(keys));
  UserState state;
  if (read[0]) {
    VREC_ASSIGN_OR_RETURN(state.history, DecodeHistory(keys[0], *read[0]));
    KeepNewest(state.history, options_.max_history);
  }
  VREC_ASSIGN_OR_RETURN(state.last_change, DecodeCounter(kLastChangeKey, read[1]));
  return state;
}

void FeatureStore::SawSequence(uint64_t seq) const {
  uint64_t seen = last_seq_.load();
  while (seen < seq && !last_seq_.compare_exchange_weak(seen, seq)) {
  }
}

uint64_t FeatureStore::LastSequence() const { return last_seq_.load(); }

StatusOr<uint64_t> FeatureStore::ReadLastSequence() const {
  VREC_ASSIGN_OR_RETURN(const uint64_t seq, ReadCounter(*kv_, kLastSeqKey));
  SawSequence(seq);
  return seq;
}

Status FeatureStore::AppendEvents(std::span<const Event> events, std::vector<Event>* appended) {
  if (appended) appended->clear();
  if (events.empty()) return OkStatus();
  for (const Event& e : events) {
    if (e.event_id.size() > kMaxEventIdBytes) {
      return InvalidArgumentError(StrCat("event id longer than ", kMaxEventIdBytes, " bytes"));
    }
  }
  PendingAppend self{.events = events, .appended = appended};
  std::unique_lock lock(queue_mu_);
  queue_.push_back(&self);  // may throw (bad_alloc): then nothing was queued
  // Wait until a leader has committed this append, or until no commit runs: then lead one. Only
  // a leader takes appends off the queue, and it marks them done before it clears committing_,
  // so an append that is not done when no commit runs is still queued.
  queue_cv_.wait(lock, [&] { return self.done || !committing_; });
  if (!self.done) {
    // Lead: every queued append (this one among them) forms the group. From here on nothing may
    // throw before the group is marked done, or its callers would wait forever: swap is noexcept
    // and an exception of the commit is caught and handed to every caller of the group.
    std::vector<PendingAppend*> group;
    group.swap(queue_);
    committing_ = true;
    lock.unlock();
    std::exception_ptr error;
    try {
      std::lock_guard commit(commit_mu_);
      CommitGroup(group);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    for (PendingAppend* p : group) {
      if (error) {
        p->error = error;
        if (p->appended) p->appended->clear();
      }
      p->done = true;
    }
    committing_ = false;
    lock.unlock();
    // Wakes this group's callers, and the appends queued meanwhile: one of them leads next.
    queue_cv_.notify_all();
  }
  if (self.error) std::rethrow_exception(self.error);
  return self.status;
}

void FeatureStore::CommitGroup(std::span<PendingAppend* const> group) {
  const Status status = RetryWhileAborted(StrCat("appending events to ", kv_->uri()), [&] {
    for (PendingAppend* p : group) {
      p->status = OkStatus();
      if (p->appended) p->appended->clear();
    }
    return TryCommitGroup(group);
  });
  if (status.ok()) return;
  for (PendingAppend* p : group) {
    if (p->status.ok()) p->status = status;
    if (p->appended) p->appended->clear();
  }
}

Status FeatureStore::TryCommitGroup(std::span<PendingAppend* const> group) {
  // One read of everything the write depends on: the last sequence, which event ids are stored
  // already, and the histories of every user of the group.
  std::vector<std::string> keys = {std::string(kLastSeqKey)};
  std::vector<uint64_t> users;
  for (const PendingAppend* p : group) {
    for (const Event& e : p->events) users.push_back(e.user.value);
  }
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  for (uint64_t u : users) keys.push_back(KeyWithId(kHistoryPrefix, u));
  const size_t first_id = keys.size();
  for (const PendingAppend* p : group) {
    for (const Event& e : p->events) {
      if (!e.event_id.empty()) keys.push_back(StrCat(kEventIdPrefix, e.event_id));
    }
  }
  VREC_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> read, kv_->MultiGet(keys));
  VREC_ASSIGN_OR_RETURN(const uint64_t last_seq, DecodeCounter(kLastSeqKey, read[0]));
  SawSequence(last_seq);
  std::set<std::string_view> stored_ids;
  for (size_t k = first_id; k < keys.size(); ++k) {
    if (read[k]) stored_ids.insert(std::string_view(keys[k]).substr(kEventIdPrefix.size()));
  }
  // The histories, decoded once; a corrupt one fails only the appends that touch it.
  std::map<uint64_t, std::vector<HistoryEntry>> histories;
  std::map<uint64_t, Status> corrupt;
  for (size_t i = 0; i < users.size(); ++i) {
    const std::optional<std::string>& value = read[1 + i];
    if (!value) continue;
    auto decoded = DecodeHistory(keys[1 + i], *value);
    if (decoded.ok()) {
      histories[users[i]] = std::move(*decoded);
    } else {
      corrupt[users[i]] = decoded.status();
    }
  }

  // The appends in queue order, as if each ran alone after the ones before it.
  std::set<std::string_view> seen_ids;  // ids written by this group so far
  std::vector<std::vector<const Event*>> fresh(group.size());
  std::set<uint64_t> touched;
  size_t total = 0;
  for (size_t g = 0; g < group.size(); ++g) {
    PendingAppend& p = *group[g];
    std::set<std::string_view> batch_ids;
    for (const Event& e : p.events) {
      if (!e.event_id.empty()) {
        if (stored_ids.contains(e.event_id) || seen_ids.contains(e.event_id) ||
            !batch_ids.insert(e.event_id).second) {
          continue;
        }
      }
      fresh[g].push_back(&e);
    }
    for (const Event* e : fresh[g]) {
      if (auto it = corrupt.find(e->user.value); it != corrupt.end()) {
        p.status = it->second;
        break;
      }
    }
    if (!p.status.ok()) {
      fresh[g].clear();
      continue;
    }
    seen_ids.insert(batch_ids.begin(), batch_ids.end());
    for (const Event* e : fresh[g]) {
      std::vector<HistoryEntry>& entries = histories[e->user.value];
      // Oldest first by time; ties keep append order. Events usually arrive in time order, so the
      // insertion point is almost always the end.
      auto pos = std::upper_bound(entries.begin(), entries.end(), e->time,
                                  [](int64_t t, const HistoryEntry& h) { return t < h.time; });
      entries.insert(pos, HistoryEntry{e->video, e->time, e->type, e->watch_ratio});
      touched.insert(e->user.value);
    }
    total += fresh[g].size();
  }
  if (total == 0) return OkStatus();

  // Only appends write histories and event ids, and every append moves m/last_seq: the one key
  // unchanged means none of what was read changed (the read was one point in time). Pruning only
  // deletes ids, which cannot turn an id absent when read into a stored one.
  WriteBatch batch;
  batch.Expect(kLastSeqKey, read[0]);
  for (uint64_t user : touched) {
    std::vector<HistoryEntry>& entries = histories[user];
    KeepNewest(entries, options_.max_history);
    batch.Put(KeyWithId(kHistoryPrefix, user), EncodeHistory(entries));
  }
  // The ids, with their ingestion time (the value, and the order of the pruning index).
  const int64_t now = clock_();
  const std::string time_key =
      KeyWithId(kEventIdTimePrefix, static_cast<uint64_t>(std::max<int64_t>(0, now)));
  for (const auto& events : fresh) {
    for (const Event* e : events) {
      if (e->event_id.empty()) continue;
      batch.Put(StrCat(kEventIdPrefix, e->event_id), time_key.substr(kEventIdTimePrefix.size()));
      batch.Put(StrCat(time_key, e->event_id), "");
    }
  }
  // What each caller will have been told was written, filled now so that nothing after a
  // successful write can throw; cleared again when the write fails.
  for (size_t g = 0; g < group.size(); ++g) {
    if (group[g]->appended == nullptr) continue;
    group[g]->appended->reserve(fresh[g].size());
    for (const Event* e : fresh[g]) group[g]->appended->push_back(*e);
  }
  uint64_t seq = last_seq;
  for (const auto& events : fresh) {
    for (const Event* e : events) batch.Put(KeyWithId(kEventPrefix, ++seq), EncodeEvent(*e));
  }
  batch.Put(kLastSeqKey, KeyWithId("", seq));
  VREC_RETURN_IF_ERROR(kv_->Write(batch, WriteOptions{.sync = true}));
  SawSequence(seq);
  return OkStatus();
}

StatusOr<size_t> FeatureStore::PruneEventIds(int64_t before, size_t limit) {
  if (limit == 0) return InvalidArgumentError("PruneEventIds: limit must be positive");
  // Between two group commits: a retry racing with the pruning sees its id stored or gone, never
  // half removed. Pruning runs rarely and holds the commit lock for one write.
  std::lock_guard commit(commit_mu_);
  VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page, kv_->Scan(kEventIdTimePrefix, "", limit));
  WriteBatch batch;
  size_t removed = 0;
  for (const KeyValue& kv : page) {
    const std::string_view key = kv.key;
    const std::optional<uint64_t> time =
        key.size() < kEventIdTimePrefix.size() + 8
            ? std::nullopt
            : IdOfKey(key.substr(0, kEventIdTimePrefix.size() + 8), kEventIdTimePrefix);
    if (!time) return Corrupt(key, "malformed event id index key");
    if (*time >= static_cast<uint64_t>(std::max<int64_t>(0, before))) break;
    batch.Delete(StrCat(kEventIdPrefix, key.substr(kEventIdTimePrefix.size() + 8)));
    batch.Delete(key);
    ++removed;
  }
  VREC_RETURN_IF_ERROR(kv_->Write(batch, WriteOptions{.sync = false}));
  return removed;
}

StatusOr<uint64_t> FeatureStore::PruneEvents(uint64_t through_seq) {
  std::lock_guard prune(prune_mu_);
  // Only sequences already written (the log is written in sequence order, each append whole).
  VREC_ASSIGN_OR_RETURN(const uint64_t last_seq, ReadLastSequence());
  VREC_ASSIGN_OR_RETURN(const uint64_t pruned, ReadCounter(*kv_, kPrunedThroughKey));
  through_seq = std::min(through_seq, last_seq);
  if (through_seq <= pruned) {
    pruned_through_.store(std::max(pruned_through_.load(), pruned));
    return uint64_t{0};
  }
  constexpr size_t kPage = 10'000;
  uint64_t removed = 0;
  std::string after;
  while (true) {
    VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page, kv_->Scan(kEventPrefix, after, kPage));
    WriteBatch batch;
    bool done = page.size() < kPage;
    for (const KeyValue& kv : page) {
      std::optional<uint64_t> seq = IdOfKey(kv.key, kEventPrefix);
      if (!seq) return Corrupt(kv.key, "malformed event log key");
      if (*seq > through_seq) {
        done = true;
        break;
      }
      batch.Delete(kv.key);
      ++removed;
    }
    // The mark goes with the last batch, so that it is never ahead of the deletions.
    if (done) batch.Put(kPrunedThroughKey, KeyWithId("", through_seq));
    VREC_RETURN_IF_ERROR(kv_->Write(batch, WriteOptions{.sync = true}));
    if (done) break;
    after = page.back().key;
  }
  pruned_through_.store(std::max(pruned_through_.load(), through_seq));
  return removed;
}

uint64_t FeatureStore::PrunedThrough() const { return pruned_through_.load(); }

Status FeatureStore::ScanEvents(uint64_t after_seq, size_t limit,
                                std::vector<std::pair<uint64_t, Event>>& out) const {
  out.clear();
  if (limit == 0) return InvalidArgumentError("ScanEvents: limit must be positive");
  VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page,
                        kv_->Scan(kEventPrefix, KeyWithId(kEventPrefix, after_seq), limit));
  out.reserve(page.size());
  for (const KeyValue& kv : page) {
    std::optional<uint64_t> seq = IdOfKey(kv.key, kEventPrefix);
    if (!seq) return Corrupt(kv.key, "malformed event log key");
    VREC_ASSIGN_OR_RETURN(Event e, DecodeEvent(kv.key, kv.value));
    out.emplace_back(*seq, e);
  }
  if (!out.empty()) SawSequence(out.back().first);
  return OkStatus();
}

Status FeatureStore::SetVideoFlags(VideoId video, VideoFlags flags) {
  return UpdateVideoFlags(video, flags.unavailable, flags.age_restricted).status();
}

StatusOr<VideoFlags> FeatureStore::UpdateVideoFlags(VideoId video, std::optional<bool> unavailable,
                                                    std::optional<bool> age_restricted) {
  const std::string key = KeyWithId(kVideoPrefix, video.value);
  VideoFlags flags;
  VREC_RETURN_IF_ERROR(WriteWithChange(
      [&]() -> StatusOr<WriteBatch> {
        VREC_ASSIGN_OR_RETURN(std::optional<std::string> old, kv_->Get(key));
        flags = VideoFlags{};
        if (old) {
          VREC_ASSIGN_OR_RETURN(flags, DecodeFlags(key, *old));
        }
        if (unavailable) flags.unavailable = *unavailable;
        if (age_restricted) flags.age_restricted = *age_restricted;
        WriteBatch batch;
        batch.Expect(key, old);
        if (flags == VideoFlags{}) {
          batch.Delete(key);
        } else {
          batch.Put(key, EncodeFlags(flags));
        }
        return batch;
      },
      Change::Kind::kVideoFlags, video.value));
  return flags;
}

StatusOr<VideoFlags> FeatureStore::GetVideoFlags(VideoId video) const {
  const std::string key = KeyWithId(kVideoPrefix, video.value);
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(key));
  if (!value) return VideoFlags{};
  return DecodeFlags(key, *value);
}

StatusOr<std::vector<std::pair<VideoId, VideoFlags>>> FeatureStore::AllVideoFlags() const {
  constexpr size_t kPage = 4096;
  std::vector<std::pair<VideoId, VideoFlags>> out;
  std::string after;
  while (true) {
    VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page, kv_->Scan(kVideoPrefix, after, kPage));
    for (const KeyValue& kv : page) {
      std::optional<uint64_t> id = IdOfKey(kv.key, kVideoPrefix);
      if (!id) return Corrupt(kv.key, "malformed video flags key");
      VREC_ASSIGN_OR_RETURN(VideoFlags flags, DecodeFlags(kv.key, kv.value));
      out.emplace_back(VideoId{*id}, flags);
    }
    if (page.size() < kPage) break;
    after = page.back().key;
  }
  return out;
}

Status FeatureStore::PutVideo(const VideoRecord& video) {
  VREC_ASSIGN_OR_RETURN(std::string value, EncodeVideoRecord(video));
  WriteBatch batch;
  batch.Put(KeyWithId(kVideoRecordPrefix, video.id.value), value);
  return WriteWithChange([&] { return batch; }, Change::Kind::kVideo, video.id.value);
}

Status FeatureStore::PutUser(const UserRecord& user) {
  WriteBatch batch;
  batch.Put(KeyWithId(kUserRecordPrefix, user.id.value), EncodeUserRecord(user));
  return WriteWithChange([&] { return batch; }, Change::Kind::kUser, user.id.value);
}

StatusOr<std::optional<VideoRecord>> FeatureStore::GetVideo(VideoId id) const {
  const std::string key = KeyWithId(kVideoRecordPrefix, id.value);
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(key));
  if (!value) return std::optional<VideoRecord>();
  VREC_ASSIGN_OR_RETURN(VideoRecord v, DecodeVideoRecord(key, *value, id));
  return std::optional<VideoRecord>(std::move(v));
}

StatusOr<std::optional<UserRecord>> FeatureStore::GetUser(UserId id) const {
  const std::string key = KeyWithId(kUserRecordPrefix, id.value);
  VREC_ASSIGN_OR_RETURN(std::optional<std::string> value, kv_->Get(key));
  if (!value) return std::optional<UserRecord>();
  VREC_ASSIGN_OR_RETURN(UserRecord u, DecodeUserRecord(key, *value, id));
  return std::optional<UserRecord>(std::move(u));
}

Status FeatureStore::ScanVideos(std::optional<uint64_t> after, size_t limit,
                                std::vector<VideoRecord>& out) const {
  out.clear();
  if (limit == 0) return InvalidArgumentError("ScanVideos: limit must be positive");
  VREC_ASSIGN_OR_RETURN(
      std::vector<KeyValue> page,
      kv_->Scan(kVideoRecordPrefix, after ? KeyWithId(kVideoRecordPrefix, *after) : "", limit));
  for (const KeyValue& kv : page) {
    const std::optional<uint64_t> id = IdOfKey(kv.key, kVideoRecordPrefix);
    if (!id) return Corrupt(kv.key, "malformed video record key");
    VREC_ASSIGN_OR_RETURN(VideoRecord v, DecodeVideoRecord(kv.key, kv.value, VideoId{*id}));
    out.push_back(std::move(v));
  }
  return OkStatus();
}

Status FeatureStore::ScanUsers(std::optional<uint64_t> after, size_t limit,
                               std::vector<UserRecord>& out) const {
  out.clear();
  if (limit == 0) return InvalidArgumentError("ScanUsers: limit must be positive");
  VREC_ASSIGN_OR_RETURN(
      std::vector<KeyValue> page,
      kv_->Scan(kUserRecordPrefix, after ? KeyWithId(kUserRecordPrefix, *after) : "", limit));
  for (const KeyValue& kv : page) {
    const std::optional<uint64_t> id = IdOfKey(kv.key, kUserRecordPrefix);
    if (!id) return Corrupt(kv.key, "malformed user record key");
    VREC_ASSIGN_OR_RETURN(UserRecord u, DecodeUserRecord(kv.key, kv.value, UserId{*id}));
    out.push_back(std::move(u));
  }
  return OkStatus();
}

// ---- additive sums ----------------------------------------------------------------------------

namespace {

std::string EncodeSums(std::span<const double> values) {
  std::string out;
  char buf[32];
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    std::snprintf(buf, sizeof buf, "%.17g", values[i]);
    out += buf;
  }
  return out;
}

StatusOr<std::vector<double>> DecodeSums(std::string_view key, std::string_view value) {
  std::vector<double> out;
  if (value.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t comma = std::min(value.find(',', start), value.size());
    double v = 0;
    const char* end = value.data() + comma;
    const auto [ptr, ec] = std::from_chars(value.data() + start, end, v);
    if (ec != std::errc() || ptr != end || !std::isfinite(v)) return Corrupt(key, "malformed sum");
    out.push_back(v);
    if (comma == value.size()) return out;
    start = comma + 1;
  }
}

}  // namespace

Status FeatureStore::AddSums(std::span<const std::pair<std::string, std::vector<double>>> deltas) {
  std::vector<std::string> keys;
  keys.reserve(deltas.size());
  for (const auto& [name, values] : deltas) {
    if (name.empty() || name.size() > kMaxSumNameBytes ||
        std::any_of(name.begin(), name.end(), [](char c) { return c <= ' ' || c > '~'; })) {
      return InvalidArgumentError(StrCat("sum name '", name.substr(0, 40), "': 1 to ", kMaxSumNameBytes,
                                         " printable ASCII bytes without spaces"));
    }
    if (values.size() > kMaxSumValues) {
      return InvalidArgumentError(
          StrCat("sum ", name, ": ", values.size(), " values, at most ", kMaxSumValues));
    }
    if (!std::all_of(values.begin(), values.end(), [](double v) { return std::isfinite(v); })) {
      return InvalidArgumentError(StrCat("sum ", name, ": a value is not finite"));
    }
    keys.push_back(StrCat(kSumPrefix, name));
  }
  if (keys.empty()) return OkStatus();
  return RetryWhileAborted(StrCat("adding sums in ", kv_->uri()), [&]() -> Status {
    VREC_ASSIGN_OR_RETURN(std::vector<std::optional<std::string>> stored, kv_->MultiGet(keys));
    // Several deltas may name one sum: add them up first, one read and one write per key.
    std::map<std::string_view, std::pair<std::optional<std::string>*, std::vector<double>>> merged;
    for (size_t i = 0; i < keys.size(); ++i) {
      auto [it, inserted] = merged.try_emplace(keys[i], &stored[i], std::vector<double>{});
      std::vector<double>& sum = it->second.second;
      if (inserted && stored[i]) {
        VREC_ASSIGN_OR_RETURN(sum, DecodeSums(keys[i], *stored[i]));
      }
      const std::vector<double>& add = deltas[i].second;
      if (sum.size() < add.size()) sum.resize(add.size(), 0.0);
      for (size_t j = 0; j < add.size(); ++j) sum[j] += add[j];
    }
    WriteBatch b;
    for (const auto& [key, entry] : merged) {
      const std::optional<std::string>& old = *entry.first;
      b.Expect(key, old ? std::optional<std::string_view>(*old) : std::nullopt);
      b.Put(key, EncodeSums(entry.second));
    }
    return kv_->Write(b, WriteOptions{.sync = false});
  });
}

StatusOr<std::vector<std::pair<std::string, std::vector<double>>>> FeatureStore::ScanSums(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, std::vector<double>>> out;
  const std::string full = StrCat(kSumPrefix, prefix);
  std::string after;
  constexpr size_t kPage = 1000;
  while (true) {
    VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page, kv_->Scan(full, after, kPage));
    for (const KeyValue& kv : page) {
      VREC_ASSIGN_OR_RETURN(std::vector<double> values, DecodeSums(kv.key, kv.value));
      out.emplace_back(kv.key.substr(kSumPrefix.size()), std::move(values));
    }
    if (page.size() < kPage) break;
    after = page.back().key;
  }
  return out;
}

// ---- the change log ------------------------------------------------------------------------

Status FeatureStore::WriteWithChange(const std::function<StatusOr<WriteBatch>()>& build, Change::Kind kind,
                                     uint64_t id) {
  const std::string record = EncodeChange(kind, id, clock_());
  return RetryWhileAborted(StrCat("writing to ", kv_->uri()), [&]() -> Status {
    VREC_ASSIGN_OR_RETURN(std::optional<std::string> last, kv_->Get(kLastChangeKey));
    VREC_ASSIGN_OR_RETURN(const uint64_t seq, DecodeCounter(kLastChangeKey, last));
    VREC_ASSIGN_OR_RETURN(WriteBatch b, build());
    b.Expect(kLastChangeKey, last);
    b.Put(kLastChangeKey, KeyWithId("", seq + 1));
    b.Put(KeyWithId(kChangePrefix, seq + 1), record);
    return kv_->Write(b, WriteOptions{.sync = true});
  });
}

Status FeatureStore::ScanChanges(uint64_t after_seq, size_t limit, std::vector<Change>& out,
                                 uint64_t* pruned_through) const {
  out.clear();
  if (limit == 0) return InvalidArgumentError("ScanChanges: limit must be positive");
  if (pruned_through) {
    VREC_ASSIGN_OR_RETURN(*pruned_through, ReadCounter(*kv_, kChangesPrunedKey));
  }
  VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page,
                        kv_->Scan(kChangePrefix, KeyWithId(kChangePrefix, after_seq), limit));
  out.reserve(page.size());
  for (const KeyValue& kv : page) {
    const std::optional<uint64_t> seq = IdOfKey(kv.key, kChangePrefix);
    if (!seq) return Corrupt(kv.key, "malformed change log key");
    VREC_ASSIGN_OR_RETURN(Change c, DecodeChange(kv.key, kv.value, *seq));
    out.push_back(c);
  }
  return OkStatus();
}

StatusOr<uint64_t> FeatureStore::LastChange() const { return ReadCounter(*kv_, kLastChangeKey); }

StatusOr<size_t> FeatureStore::PruneChanges(int64_t before, size_t limit) {
  if (limit == 0) return InvalidArgumentError("PruneChanges: limit must be positive");
  VREC_ASSIGN_OR_RETURN(std::vector<KeyValue> page, kv_->Scan(kChangePrefix, "", limit));
  WriteBatch batch;
  uint64_t through = 0;
  for (const KeyValue& kv : page) {
    const std::optional<uint64_t> seq = IdOfKey(kv.key, kChangePrefix);
    if (!seq) return Corrupt(kv.key, "malformed change log key");
    VREC_ASSIGN_OR_RETURN(Change c, DecodeChange(kv.key, kv.value, *seq));
    if (c.time >= before) break;
    batch.Delete(kv.key);
    through = *seq;
  }
  if (through == 0) return size_t{0};
  // The mark with the deletions: a reader behind it knows it missed changes. Concurrent pruners
  // delete the same entries; the mark only grows (a lower one loses the race and retries).
  VREC_RETURN_IF_ERROR(RetryWhileAborted("pruning the change log", [&]() -> Status {
    VREC_ASSIGN_OR_RETURN(std::optional<std::string> mark, kv_->Get(kChangesPrunedKey));
    VREC_ASSIGN_OR_RETURN(const uint64_t old, DecodeCounter(kChangesPrunedKey, mark));
    WriteBatch b = batch;
    b.Expect(kChangesPrunedKey, mark);
    b.Put(kChangesPrunedKey, KeyWithId("", std::max(old, through)));
    return kv_->Write(b, WriteOptions{.sync = false});
  }));
  return batch.size();
}

}  // namespace vrec::features
