// The online state of the serving process, typed, over a KeyValueStore: the durable event log, each
// user's recent history (for the watched filter and the user tower) and the admin flags of videos.
//
// Key layout (all integers big-endian, so that byte order is numeric order):
//   m/format            layout version of this store (kFeatureStoreFormatVersion)
//   m/last_seq          the greatest sequence of the event log ever written (8 bytes)
//   m/pruned_through    greatest sequence PruneEvents removed (8 bytes)
//   m/last_change       the greatest sequence of the change log (8 bytes)
//   m/changes_pruned    greatest change sequence PruneChanges removed (8 bytes)
//   e/<seq:8>           one event of the log, seq = 1, 2, 3, ... in append order
//   x/<seq:8>           one change of the change log: which flag or catalog record was written
//   h/<user:8>          the user's history: the last `max_history` events, oldest first
//   v/<video:8>         a video's admin flags (only videos with a flag set)
//   c/v/<video:8>       a video uploaded or updated through the catalog API (VideoRecord)
//   c/u/<user:8>        a user created or updated through the catalog API (UserRecord)
//   d/<event id>        an ingested event's client-chosen id -> ingestion time (idempotency)
//   t/<time:8><event id>  the same ids ordered by ingestion time, for PruneEventIds
//   s/<name>            additive sums shared by every server (AddSums): comma-separated decimals
// Values are compact binary records whose first byte is a format version; a record that does not
// decode is reported as DataLoss naming its key.
//
// Several writers: every read-modify-write (the sequences, histories, event ids) is a conditional
// write (WriteBatch::Expect) retried when another writer got there first, so any number of
// FeatureStore handles, in one process or in several servers sharing one Redis, may write one
// store at once. The change log lets each of them follow what the others wrote.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vrec/common/ids.h"
#include "vrec/common/status.h"
#include "vrec/data/dataset.h"
#include "vrec/features/kv_store.h"

namespace vrec::features {

// Layout version written under m/format. Open refuses stores written by a newer layout and marks
// older ones as this version (their records still decode). 2: event records carry event ids.
// 3: the shared sequence m/last_seq and the change log (an older build would hand out sequences
// of its own).
inline constexpr int kFeatureStoreFormatVersion = 3;

// Longest client-chosen event id, in bytes.
inline constexpr size_t kMaxEventIdBytes = 128;

// One user event as the online path carries it (the ingestion API, the log, replay).
struct Event {
  UserId user;
  VideoId video;
  data::EventType type = data::EventType::kPlay;
  int64_t time = 0;                    // unix seconds
  float watch_ratio = data::kMissing;  // watch time / duration; NaN when absent
  data::Device device = data::Device::kUnknown;
  // Client-chosen id (1 to kMaxEventIdBytes bytes) making a retry harmless: an event whose id was
  // stored within the dedupe window is not stored again. Empty: no deduplication.
  std::string event_id;
  // Attribution, for the experiment ledger (not stored in the log): the recommendation response
  // the event answers (its request_id; empty: not from a recommendation), the video's 1-based
  // position in it (0: unknown) and the surface it was shown on (empty: unknown).
  std::string request_id;
  int position = 0;
  std::string surface;
};

// One entry of a user's history (the user is implied).
struct HistoryEntry {
  VideoId video;
  int64_t time = 0;  // unix seconds
  data::EventType type = data::EventType::kPlay;
  float watch_ratio = data::kMissing;  // NaN when absent
};

struct VideoFlags {
  bool unavailable = false;     // taken down: never recommend
  bool age_restricted = false;  // only for users known to be adults
  friend bool operator==(const VideoFlags&, const VideoFlags&) = default;
};

// A video as the catalog API (PUT /v1/videos/{id}) stores it: the generic format's video fields,
// categories and tags by name (category indices belong to a model's vocabulary).
struct VideoRecord {
  VideoId id;
  std::vector<std::string> categories;  // first = primary
  std::string language;
  float duration_s = data::kMissing;
  int64_t upload_time = data::kUnknownTime;
  std::string title;
  std::vector<std::string> tags;
  bool age_restricted = false;
  bool available = true;
  int64_t updated_at = 0;  // unix seconds of the last PUT
  friend bool operator==(const VideoRecord&, const VideoRecord&) = default;
};

// A user as the catalog API (PUT /v1/users/{id}) stores it.
struct UserRecord {
  UserId id;
  std::string country;
  std::string language;
  int16_t age = -1;
  data::Gender gender = data::Gender::kUnknown;
  int64_t updated_at = 0;
  friend bool operator==(const UserRecord&, const UserRecord&) = default;
};

struct FeatureStoreOptions {
  // Events kept per user in the history record; older ones are dropped when new ones arrive (the
  // event log keeps everything). Also caps what History returns, so lowering it takes effect at
  // once. Must be > 0. Default 500 (~8 KB per user record).
  size_t max_history = 500;
  // Unix seconds now, for the ingestion time of event ids and changes. Default (empty): the system
  // clock.
  std::function<int64_t()> clock;
};

// One entry of the change log: the flags or catalog record of `id` was written at `time`. Readers
// fetch the record itself (it may have been written again since).
struct Change {
  enum class Kind : uint8_t { kVideoFlags = 1, kVideo = 2, kUser = 3 };
  uint64_t seq = 0;
  Kind kind = Kind::kVideo;
  uint64_t id = 0;
  int64_t time = 0;
  friend bool operator==(const Change&, const Change&) = default;
};

// Typed online state over a KeyValueStore, which it owns. Thread-safe: every method may be called
// concurrently, and other handles (other processes) may write the same store concurrently.
//
// Group commit: concurrent AppendEvents calls are merged. The first caller to find no commit in
// progress becomes the leader: it takes every append queued so far, applies them in queue order
// (deduplication, history read-modify-write, sequence numbers) as one synced conditional write,
// then wakes the others with their own results; appends queued meanwhile form the next group. One
// fsync thus acknowledges many batches (with per-user lock stripes, as before, a batch of 100
// random users held ~80 % of 64 stripes through its fsync, so batches ran one fsync each). The
// leader reads m/last_seq with the group's histories and event ids, and its write expects
// m/last_seq unchanged: every append moves it and only appends write histories and ids, so when
// another handle appended first, the leader reads again and retries, no read-modify-write loses
// an entry and the log's sequences have no holes.
//
// Durability: AppendEvents and SetVideoFlags write with WriteOptions::sync, so on a durable store
// (RocksDB) a success means the data survives a crash (kill -9 or power loss).
class FeatureStore {
 public:
  // Opens the store over `kv`: checks or writes the layout version and recovers the next event
  // sequence from the last log key.
  // Errors: InvalidArgument when options.max_history is 0; FailedPrecondition when the store was
  // written by a newer layout; DataLoss when m/format or the last log key is corrupt; errors of
  // `kv` otherwise.
  static StatusOr<std::unique_ptr<FeatureStore>> Open(std::unique_ptr<KeyValueStore> kv,
                                                      const FeatureStoreOptions& options = {});
  // Opens the KeyValueStore named by `uri` (OpenKeyValueStore) and the feature store over it.
  // Errors: those of OpenKeyValueStore and of Open above.
  static StatusOr<std::unique_ptr<FeatureStore>> Open(std::string_view uri,
                                                      const FeatureStoreOptions& options = {});

  // The user's history, oldest first (by event time; events with equal times in append order),
  // at most options.max_history entries (the most recent). Empty for a user never seen.
  // Errors: DataLoss when the record is corrupt; errors of the KeyValueStore.
  StatusOr<std::vector<HistoryEntry>> History(UserId user) const;
  // History(user) and LastChange(), read together (one round trip to a shared store): what a
  // request needs to know whether another server changed anything it serves from memory.
  struct UserState {
    std::vector<HistoryEntry> history;
    uint64_t last_change = 0;
  };
  StatusOr<UserState> ReadUserState(UserId user) const;

  // Appends `events` to the log (each under the next sequence number, in span order) and to their
  // users' histories, in one atomic, synced write: on success all of them are durable, on error
  // none of them is written (a failed append takes no sequence numbers). Concurrent calls share that write
  // (group commit, see the class comment): their batches are each all-or-nothing, a store write error fails
  // all of them, and a batch failing on its own (a corrupt history) fails alone. An empty span succeeds and
  // writes nothing. The events are stored as given; validating them is the caller's job
  // (events/event_json.h).
  // Idempotency: an event with a non-empty event_id that is already stored (and not yet pruned by
  // PruneEventIds), or that repeats an id earlier in the same span, is skipped; the ids of the
  // others are stored in the same atomic write. Concurrent appends behave as if run one after the
  // other in some order, so two concurrent retries store the event once. `appended` (when not
  // null) receives the events actually written, in span order.
  // Errors: InvalidArgument for an event id longer than kMaxEventIdBytes; DataLoss when a user's
  // history record is corrupt (nothing of the batch is written); Aborted when other writers won
  // the race kMaxCommitAttempts times in a row (nothing written: retry); errors of the KeyValueStore.
  // Should the store throw (its adapters return statuses instead), every caller of the group gets
  // the exception, as if its own write had thrown, and the next appends proceed.
  Status AppendEvents(std::span<const Event> events, std::vector<Event>* appended = nullptr);

  // Forgets the event ids ingested before unix time `before` (at most `limit` of them per call,
  // oldest first), after which a retry of those events would be stored again. Returns how many
  // were removed; call again while it returns `limit`. Errors: those of the KeyValueStore.
  StatusOr<size_t> PruneEventIds(int64_t before, size_t limit = 10'000);

  // Replaces `out` with up to `limit` events of the log whose sequence is > after_seq, in sequence
  // order, with their sequences. Start with after_seq = 0 and continue from the last sequence
  // returned; the log is exhausted when fewer than `limit` come back. An append is written whole,
  // under the sequences after every earlier one, so a reader paging while appends run never skips
  // an event.
  // Errors: InvalidArgument when limit is 0; DataLoss when a log record is corrupt; errors of
  // the KeyValueStore.
  Status ScanEvents(uint64_t after_seq, size_t limit, std::vector<std::pair<uint64_t, Event>>& out) const;

  // The greatest log sequence this handle knows was written: at Open, by its own appends, and seen
  // by them and by ScanEvents (other writers may be ahead). 0 when the log is empty. Events
  // appended later get greater numbers, also after a reopen.
  uint64_t LastSequence() const;
  // The greatest log sequence written by any handle, read from the store (LastSequence is raised
  // to it). Errors: DataLoss for a corrupt m/last_seq; errors of the KeyValueStore.
  StatusOr<uint64_t> ReadLastSequence() const;

  // Deletes the log's events with sequence <= through_seq (clamped to the events already
  // written), for an exporter that holds them elsewhere: users' histories, video flags, catalog
  // records and event ids are separate records and stay. Sequences keep increasing after a
  // reopen, also when the whole log was pruned. Idempotent. Returns how many events were removed.
  // Durable (synced) like an append. Errors: DataLoss for a malformed log key; errors of the
  // KeyValueStore (events deleted by earlier batches of the call stay deleted).
  StatusOr<uint64_t> PruneEvents(uint64_t through_seq);
  // The greatest sequence PruneEvents has removed (0 when it never ran).
  uint64_t PrunedThrough() const;

  // Sets the flags of `video`, durably (synced), with an entry in the change log. Setting both
  // flags false removes the video's record. Errors: errors of the KeyValueStore.
  Status SetVideoFlags(VideoId video, VideoFlags flags);
  // Changes the flags given (nullopt keeps a flag as stored) and returns the flags now stored:
  // a read-modify-write that other writers cannot interleave with (two servers each setting one
  // flag of one video keep both). Errors: DataLoss for a corrupt record; Aborted when other
  // writers won the race kMaxCommitAttempts times; errors of the KeyValueStore.
  StatusOr<VideoFlags> UpdateVideoFlags(VideoId video, std::optional<bool> unavailable,
                                        std::optional<bool> age_restricted);

  // Every video with at least one flag set, by ascending id.
  // Errors: DataLoss when a record is corrupt; errors of the KeyValueStore.
  StatusOr<std::vector<std::pair<VideoId, VideoFlags>>> AllVideoFlags() const;
  // The flags of one video (both false when it has none). Errors: as AllVideoFlags.
  StatusOr<VideoFlags> GetVideoFlags(VideoId video) const;

  // Stores `video` (replacing an earlier record of its id), durably (synced), with an entry in the
  // change log.
  // Errors: InvalidArgument for a record that cannot be encoded (a string over 1 MiB); errors of
  // the KeyValueStore.
  Status PutVideo(const VideoRecord& video);
  Status PutUser(const UserRecord& user);
  // The stored record, or nullopt. Errors: DataLoss when corrupt; errors of the KeyValueStore.
  StatusOr<std::optional<VideoRecord>> GetVideo(VideoId id) const;
  StatusOr<std::optional<UserRecord>> GetUser(UserId id) const;
  // Every stored record by ascending id, in pages of `limit` after id `after` (nullopt = from the
  // start; then the last id of the previous page):
  // the catalog updates a server replays at start and the next training run reads.
  Status ScanVideos(std::optional<uint64_t> after, size_t limit, std::vector<VideoRecord>& out) const;
  Status ScanUsers(std::optional<uint64_t> after, size_t limit, std::vector<UserRecord>& out) const;

  // Replaces `out` with up to `limit` entries of the change log after sequence `after_seq`, in
  // sequence order: what a server replays to follow the flags and catalog records other servers
  // write. `*pruned_through` (when not null) receives the greatest sequence PruneChanges removed:
  // a reader whose cursor is below it missed changes and must reread every record.
  // Errors: InvalidArgument when limit is 0; DataLoss for a corrupt entry; errors of the store.
  Status ScanChanges(uint64_t after_seq, size_t limit, std::vector<Change>& out,
                     uint64_t* pruned_through = nullptr) const;
  // The greatest sequence of the change log (0 when nothing was ever changed).
  StatusOr<uint64_t> LastChange() const;
  // Removes the change log's entries written before unix time `before`, at most `limit` per call;
  // returns how many. Errors: those of the KeyValueStore.
  StatusOr<size_t> PruneChanges(int64_t before, size_t limit = 10'000);

  // Additive sums every server shares (the experiment ledger): each delta's values are added
  // elementwise to those stored under its name (a missing name or a shorter stored vector counts as
  // zeros), all deltas in one conditional write retried when another writer changed one of them
  // first, so that no server's addition is lost. Not synced: a crash of the machine may lose the
  // last additions, never corrupt them. Names are 1 to kMaxSumNameBytes printable ASCII bytes; at
  // most kMaxSumValues values each. Errors: InvalidArgument for a bad name or size, or a value that
  // is not finite; DataLoss when a stored value does not parse; Aborted when other writers won the
  // race kMaxCommitAttempts times; errors of the KeyValueStore.
  static constexpr size_t kMaxSumNameBytes = 256;
  static constexpr size_t kMaxSumValues = 64;
  Status AddSums(std::span<const std::pair<std::string, std::vector<double>>> deltas);
  // Every stored sum whose name starts with `prefix`, in name order. Errors: DataLoss when a value
  // does not parse; errors of the KeyValueStore.
  StatusOr<std::vector<std::pair<std::string, std::vector<double>>>> ScanSums(std::string_view prefix) const;

  // How many attempts an append or a change makes before it gives up with Aborted.
  static constexpr int kMaxCommitAttempts = 64;

  // The underlying store (for its uri() and durable()).
  const KeyValueStore& kv() const { return *kv_; }
  const FeatureStoreOptions& options() const { return options_; }

 private:
  // One queued AppendEvents call (on its caller's stack), filled in by the leader of its group.
  struct PendingAppend {
    std::span<const Event> events;
    std::vector<Event>* appended = nullptr;
    Status status;
    std::exception_ptr error;  // what the commit threw, rethrown to every caller of the group
    bool done = false;         // guarded by queue_mu_
  };

  FeatureStore(std::unique_ptr<KeyValueStore> kv, const FeatureStoreOptions& options, uint64_t last_seq,
               uint64_t pruned_through);
  // Applies a group of appends in order as one synced write and sets each one's status, retrying
  // when another writer wins. Called by the leader with commit_mu_ held.
  void CommitGroup(std::span<PendingAppend* const> group);
  // One attempt of CommitGroup: the write's status (Aborted: retry); per-append failures (a
  // corrupt history) go to their statuses.
  Status TryCommitGroup(std::span<PendingAppend* const> group);
  // Writes `batch` with the next entry of the change log, synced, retrying when another writer
  // takes that sequence first.
  // `build` makes the batch for each attempt (it may read, and add expectations of its own).
  Status WriteWithChange(const std::function<StatusOr<WriteBatch>()>& build, Change::Kind kind, uint64_t id);
  // Raises LastSequence to `seq`.
  void SawSequence(uint64_t seq) const;

  std::unique_ptr<KeyValueStore> kv_;
  const FeatureStoreOptions options_;
  const std::function<int64_t()> clock_;  // options_.clock or the system clock
  // Group commit: appends waiting for a leader, and whether one is committing a group now.
  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::vector<PendingAppend*> queue_;  // guarded by queue_mu_
  bool committing_ = false;            // guarded by queue_mu_
  // Held by the leader while it commits, and by PruneEventIds.
  std::mutex commit_mu_;

  mutable std::atomic<uint64_t> last_seq_;  // LastSequence
  std::mutex prune_mu_;                     // one PruneEvents at a time
  std::atomic<uint64_t> pruned_through_;    // PrunedThrough
};

}  // namespace vrec::features
