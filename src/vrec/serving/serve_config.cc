#include "vrec/serving/serve_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "vrec/common/strings.h"
#include "vrec/config/source.h"
#include "vrec/config/values.h"

namespace vrec::serving {
namespace {

constexpr char kSurfaceAgePrefix[] = "filtering.max_upload_age_by_surface";
constexpr char kVariantSection[] = "experiment.variant";
constexpr char kBlendSurfaceSection[] = "ranking.blend.surface";

// "123@1" -> promo of video 123 at position 1.
StatusOr<ordering::PromoSlot> ParsePromo(std::string_view text) {
  const size_t at = text.find('@');
  if (at == std::string_view::npos) {
    return InvalidArgumentError(StrCat("'", text, "' is not VIDEO_ID@POSITION"));
  }
  auto id = config::ParseInt(text.substr(0, at));
  auto pos = config::ParseInt(text.substr(at + 1));
  if (!id.ok() || *id < 0) return InvalidArgumentError(StrCat("'", text, "': bad video id"));
  if (!pos.ok() || *pos < 1 || *pos > 1000) {
    return InvalidArgumentError(StrCat("'", text, "': position must be in [1, 1000]"));
  }
  return ordering::PromoSlot{.video = VideoId{static_cast<uint64_t>(*id)},
                             .position = static_cast<int>(*pos)};
}

}  // namespace

std::string ServeConfig::FeatureStoreUri() const {
  if (!feature_store.empty()) return feature_store;
  return StrCat("rocksdb://", std::filesystem::absolute(std::filesystem::path(registry) / "state").string());
}

Status ApplyOverride(std::string_view key, std::string_view value, RecommendOptions& options) {
  // The int fields must not take a wrapped value: 4294967396 would become 100 and pass Validate.
  const auto parse_int = [&](int& out) -> Status {
    VREC_ASSIGN_OR_RETURN(int64_t n, config::ParseInt(value));
    if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
      return InvalidArgumentError(StrCat(key, " = ", value, " is out of range"));
    }
    out = static_cast<int>(n);
    return OkStatus();
  };
  if (key == "retrieval.candidates") {
    VREC_RETURN_IF_ERROR(parse_int(options.retrieve));
  } else if (key == "ranking.enabled") {
    VREC_ASSIGN_OR_RETURN(options.rank, config::ParseBool(value));
  } else if (key == "ranking.candidates") {
    VREC_RETURN_IF_ERROR(parse_int(options.rank_candidates));
  } else if (key.starts_with("ranking.blend.")) {
    // The default weights of the variant (surfaces with their own weights keep them).
    const std::string_view part = key.substr(sizeof("ranking.blend.") - 1);
    const std::optional<ranking::Objective> head = ranking::ParseObjective(part);
    if (part != "ranker" && !head) {
      return InvalidArgumentError(
          StrCat("unknown override '", key, "' (ranking.blend.ranker, .watch, .complete or .like)"));
    }
    VREC_ASSIGN_OR_RETURN(const double w, config::ParseDouble(value));
    (head ? options.blend.defaults.head(*head) : options.blend.defaults.ranker) = w;
  } else if (key.starts_with("ordering.")) {
    return ordering::ApplyOrderingOverride(key, value, options.ordering);
  } else {
    return InvalidArgumentError(StrCat("unknown override '", key,
                                       "' (known: retrieval.candidates, ranking.enabled, ranking.candidates, "
                                       "ranking.blend.*, ordering.*)"));
  }
  return OkStatus();
}

void BindServeConfig(config::Binder& b, ServeConfig& c) {
  b.String("server.address", &c.address, {.help = "Listen address."});
  b.Int("server.port", &c.port, {.min = 0, .max = 65535, .help = "TCP port; 0 picks a free one."});
  b.Int("server.threads", &c.threads, {.min = 1, .max = 256, .help = "HTTP worker threads."});
  b.Bool("server.access_log", &c.access_log,
         {.help = "One JSON line per request on stderr: request id, route, status, latency, and for "
                  "recommendations the model, variant, cache and stage timings."});
  b.StringList(
      "server.api_keys", &c.api_keys,
      {.help = "Keys (X-Api-Key header) for the user routes: recommendations, history, events. With "
               "neither api_keys nor admin_keys the API is open and only loopback addresses may listen."});
  b.StringList("server.admin_keys", &c.admin_keys,
               {.help = "Keys for /v1/admin/* (and every user route); a user key there gets 403."});
  const auto seconds = [&](const char* key, std::chrono::seconds* out, const char* help) {
    b.Duration(key, out, {.min = std::chrono::seconds(1), .max = std::chrono::hours(1), .help = help});
  };
  seconds("server.idle_timeout", &c.idle_timeout, "Keep-alive wait for the first byte of the next request.");
  seconds("server.header_timeout", &c.header_timeout, "Time a client may take to send a request's header.");
  seconds("server.body_timeout", &c.body_timeout, "Time a client may take to send a request's body.");
  seconds("server.write_timeout", &c.write_timeout, "Time a response may take to be written.");
  b.Int(
      "server.max_connections", &c.max_connections,
      {.min = 1, .max = 1'000'000, .help = "Open connections in all (lowered to fit the open-file limit)."});
  b.Int("server.max_connections_per_client", &c.max_connections_per_client,
        {.min = 1,
         .max = 1'000'000,
         .help = "Open connections per peer IP address; raise it behind a reverse proxy."});
  b.Int("server.max_body_bytes", &c.max_body_bytes,
        {.min = 1024, .max = 64 << 20, .help = "Largest request body; larger ones get 413."});
  b.Double("limits.key_rate", &c.key_rate,
           {.min = 0.0, .help = "Requests per second per API key (token bucket); 0 = unlimited."});
  b.Double("limits.key_burst", &c.key_burst, {.min = 1.0, .help = "Requests an API key may make at once."});
  b.Double("limits.ip_rate", &c.ip_rate,
           {.min = 0.0,
            .help = "Requests per second per peer address without a valid key (probes, metrics, failed "
                    "authentication); 0 = unlimited. Not applied when no keys are configured."});
  b.Double("limits.ip_burst", &c.ip_burst, {.min = 1.0, .help = "Requests a peer address may make at once."});
  b.Int("limits.max_tracked_clients", &c.max_tracked_clients,
        {.min = 16, .max = 100'000'000, .help = "Clients each rate limiter remembers (bounds its memory)."});
  b.Int("events.max_batch", &c.max_batch, {.min = 1, .max = 100'000, .help = "Events accepted in one POST."});
  b.Duration("events.max_future_skew", &c.max_future_skew,
             {.min = std::chrono::seconds(0),
              .max = std::chrono::hours(24 * 7),
              .help = "Event timestamps this far past the server's clock are rejected (400)."});
  b.Duration("events.dedupe_window", &c.dedupe_window,
             {.min = std::chrono::minutes(1),
              .help = "How long an event_id is remembered: a retry within it is not stored again."});
  b.String("registry.path", &c.registry, {.help = "Model registry root (vrec pipeline run --registry)."});
  b.Duration("registry.poll_interval", &c.poll_interval,
             {.min = std::chrono::milliseconds(50), .help = "How often the production pointer is checked."});
  b.String("feature_store.uri", &c.feature_store,
           {.help = "Online state: rocksdb:///abs/path (one server), redis://host:port/db (docs/redis.md) or "
                    "memory:// "
                    "(tests). Empty: rocksdb://<registry>/state."});
  b.Int("feature_store.max_history", &c.max_history,
        {.min = 1, .max = 100'000, .help = "Online events kept per user."});
  b.Duration("feature_store.sync_interval", &c.sync_interval,
             {.min = std::chrono::milliseconds(5),
              .max = std::chrono::seconds(10),
              .help = "How often the flags, catalog records and events other servers wrote are read "
                      "(docs/scale-out.md)."});
  b.Duration("cache.ttl", &c.cache_ttl,
             {.min = std::chrono::milliseconds(0), .help = "Response cache TTL; 0 disables the cache."});
  b.Int("cache.max_entries", &c.cache_entries, {.min = 1, .help = "Responses kept in the cache."});
  b.Int("cache.max_bytes", &c.cache_bytes,
        {.min = 1 << 16, .help = "Bytes the cached responses may take (with their keys)."});

  RecommendOptions& r = c.recommend;
  b.Int("retrieval.candidates", &r.retrieve,
        {.min = 1, .max = 2000, .help = "Videos retrieved from the ANN index before filtering."});
  b.Int(
      "retrieval.ivf_nprobe", &c.ivf_nprobe,
      {.min = 0,
       .max = 65536,
       .help = "IVF lists probed per query instead of what the pipeline measured and shipped (the manifest's "
               "index.search_effort): fewer trade recall for latency without a retrain. 0 = as shipped."});
  b.Int(
      "retrieval.hnsw_ef_search", &c.hnsw_ef_search,
      {.min = 0, .max = 65536, .help = "HNSW indexes: efSearch instead of the shipped one. 0 = as shipped."});
  b.Bool("ranking.enabled", &r.rank, {.help = "false keeps retrieval order (no ranker)."});
  b.Int("ranking.candidates", &r.rank_candidates,
        {.min = 0, .max = 2000, .help = "Candidates the ranker scores; 0 = as many as it was trained on."});
  b.Int(
      "ranking.max_history", &r.max_history,
      {.min = 0, .max = 100'000, .help = "Most recent history events fed to the user tower and similarity."});

  // [ranking.blend] and [ranking.blend.surface.<name>]: the final score's weights.
  const auto bind_weights = [&](const std::string& section, ranking::BlendWeights& w, bool documented) {
    const auto help = [&](const char* text) { return documented ? std::string(text) : std::string(); };
    const config::DoubleOptions bounds{.min = 0.0, .max = 1000.0};
    auto with_help = [&](const char* text) {
      config::DoubleOptions o = bounds;
      o.help = help(text);
      return o;
    };
    b.Double(section + ".ranker", &w.ranker,
             with_help("Weight of the ranker in the final score. The final score blends the ranker and the "
                       "model's objective heads (trained when the data has watch time and likes): the "
                       "weighted mean of their z-scores over the request's candidates, on the ranker's "
                       "scale; only the ratios of the weights matter. With every head at 0 the ranker "
                       "alone orders, as before heads. Per surface: [ranking.blend.surface.<name>] "
                       "with any of these four keys (the others keep these values)."));
    b.Double(section + ".watch", &w.watch, with_help("Weight of the expected watch time head."));
    b.Double(section + ".complete", &w.complete, with_help("Weight of the completion chance head."));
    b.Double(section + ".like", &w.like, with_help("Weight of the like chance head."));
    b.Check(w.ranker + w.watch + w.complete + w.like > 0, section + ".ranker",
            "every weight of the blend is 0 (weight the ranker or a head)");
  };
  bind_weights("ranking.blend", r.blend.defaults, true);
  for (const std::string& surface : b.Subsections(kBlendSurfaceSection)) {
    ranking::BlendWeights w = r.blend.defaults;
    bind_weights(StrCat(kBlendSurfaceSection, ".", surface), w, false);
    r.blend.surfaces[surface] = w;
  }

  filtering::FilterOptions& f = r.filter;
  b.Enum("filtering.watched", &f.watched,
         {{"any", filtering::WatchedPolicy::kAnyPlay}, {"finished", filtering::WatchedPolicy::kFinished}},
         {.help = "Which past events remove a video: any interaction but an impression, or finished plays, "
                  "likes, comments, shares and ratings."});
  // Through a double rounded to 6 digits, so the documented default reads 0.9, not 0.8999999761.
  double finished = std::round(static_cast<double>(f.finished_ratio) * 1e6) / 1e6;
  b.Double("filtering.finished_ratio", &finished,
           {.min = 0.0, .max = 1.0, .help = "Watch ratio from which a play counts as finished."});
  f.finished_ratio = static_cast<float>(finished);
  b.Int("filtering.adult_age", &f.adult_age,
        {.min = 0, .max = 150, .help = "Age from which restricted videos show."});
  b.Bool("filtering.missing_age_is_minor", &f.missing_age_is_minor,
         {.help = "Users of unknown age never see age-restricted videos."});
  std::chrono::seconds max_age{f.default_max_upload_age_s};
  b.Duration("filtering.max_upload_age", &max_age,
             {.min = std::chrono::seconds(0),
              .help = "Oldest upload shown on surfaces without their own limit; 0 = none."});
  f.default_max_upload_age_s = max_age.count();
  b.Bool("filtering.unknown_upload_time_is_fresh", &f.unknown_upload_time_is_fresh,
         {.help = "Videos without an upload time pass the freshness filter."});
  for (const config::Entry& e :
       b.Prefix(kSurfaceAgePrefix,
                {.help = "Per surface: <surface> = max upload age (e.g. trending = \"2d\")."})) {
    const std::string surface = e.key.substr(sizeof(kSurfaceAgePrefix));
    auto d = config::AsDuration(e.value);
    if (!d.ok()) {
      b.Fail(e.origin, e.key, d.status().message());
    } else {
      f.max_upload_age_s[surface] = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
    }
  }

  ordering::OrderingOptions& o = r.ordering;
  b.Int("ordering.max_per_category", &o.max_per_category,
        {.min = 0,
         .max = 1000,
         .help = "At most this many videos of one category in the diversity window; 0 = off."});
  b.Int("ordering.diversity_window", &o.diversity_window,
        {.min = 0, .max = 1000, .help = "Top positions the category cap applies to."});
  b.Double("ordering.freshness_boost", &o.freshness_boost,
           {.min = 0.0,
            .help = "Added to a fresh video's score, halving every freshness_half_life_hours; 0 = off."});
  b.Double("ordering.freshness_half_life_hours", &o.freshness_half_life_hours,
           {.min = 0.001, .help = "Half-life of the freshness boost."});
  std::vector<std::string> promos;
  ordering::ExploreOptions& x = o.explore;
  b.Double("ordering.explore_share", &x.share,
           {.min = 0.0,
            .max = 1.0,
            .help = "Share of each list's slots given to fresh videos drawn by Thompson sampling over their "
                    "live plays and skips (share x count slots, the fraction as the chance of one more); "
                    "0 = off."});
  b.Double(
      "ordering.explore_fresh_hours", &x.fresh_hours,
      {.min = 0.001, .help = "A video may take an exploration slot for this many hours after its upload."});
  b.Int("ordering.explore_candidates", &x.candidates,
        {.min = 1,
         .max = 1000,
         .help = "Fresh videos in the draw: the user's nearest filtered candidates uploaded within "
                 "explore_fresh_hours, not already in the list."});
  b.IntList("ordering.explore_positions", &x.positions,
            {.min = 1,
             .max = 1000,
             .help = "1-based positions of the exploration slots, the largest draw first; [] spreads them "
                     "evenly (one slot of 10 at 6, two at 3 and 8)."});
  b.Double("ordering.explore_prior_plays", &x.prior_plays,
           {.min = 0.0, .help = "Beta prior of a fresh video's play rate: pseudo-plays (> 0)."});
  b.Check(x.prior_plays > 0, "ordering.explore_prior_plays", "must be > 0");
  b.Double("ordering.explore_prior_skips", &x.prior_skips,
           {.min = 0.0, .help = "Beta prior of a fresh video's play rate: pseudo-skips (> 0)."});
  b.Check(x.prior_skips > 0, "ordering.explore_prior_skips", "must be > 0");
  b.StringList("ordering.promos", &promos,
               {.help = "Sponsored videos at fixed 1-based positions: \"VIDEO_ID@POSITION\" strings."});
  for (const std::string& p : promos) {
    auto promo = ParsePromo(p);
    if (!b.Check(promo.ok(), "ordering.promos", promo.ok() ? "" : promo.status().message())) continue;
    o.promos.push_back(*promo);
  }

  b.String("experiment.name", &c.experiment.name,
           {.help = "A/B experiment name; users are hashed into variants."});
  b.String("experiment.salt", &c.experiment.salt, {.help = "Changing it reshuffles users across variants."});
  b.Enum("experiment.impressions", &c.impressions,
         {{"response", ServeConfig::Impressions::kResponse}, {"client", ServeConfig::Impressions::kClient}},
         {.help = "What the experiment ledger counts as shown: every item of a response, or the impression "
                  "events clients post with the response's request_id."});
  b.Duration("experiment.ledger_flush_interval", &c.ledger_flush_interval,
             {.min = std::chrono::milliseconds(10),
              .max = std::chrono::minutes(1),
              .help = "How often this server adds its ledger counts to the store (a crash loses at most "
                      "this much)."});
  b.Bool(
      "canary.decide", &c.canary_decide,
      {.help = "This server ends canary trials by the policy below (one server per deployment is enough)."});
  std::chrono::seconds window{c.canary.window_s};
  b.Duration("canary.window", &window,
             {.min = std::chrono::seconds(1), .help = "A trial's primary metric is judged after this long."});
  c.canary.window_s = window.count();
  b.Double("canary.min_impressions", &c.canary.min_impressions,
           {.min = 0.0, .help = "Impressions of the canary before its primary metric is judged."});
  b.Double("canary.max_relative_drop", &c.canary.max_relative_drop,
           {.min = 0.0,
            .max = 1.0,
            .help = "Rolled back when the primary metric is below production's by more than this share; "
                    "judged once its interval is within half of it."});
  b.Double("canary.max_error_rate_increase", &c.canary.max_error_rate_increase,
           {.min = 0.0,
            .max = 1.0,
            .help = "Rolled back at once when its error rate exceeds production's by more."});
  b.Double(
      "canary.max_p99_ratio", &c.canary.max_p99_ratio,
      {.min = 1.0,
       .help = "Rolled back at once when its p99 latency exceeds production's times this and by more than "
               "p99_slack_ms (once both served 1000 requests)."});
  b.Double("canary.p99_slack_ms", &c.canary.p99_slack_ms,
           {.min = 0.0, .help = "Latency differences below this never roll a trial back."});
  b.Enum("canary.primary_metric", &c.canary.primary,
         {{"ctr", experiments::Metric::kCtr},
          {"completion_rate", experiments::Metric::kCompletionRate},
          {"watch_time_per_impression", experiments::Metric::kWatchTimePerImpression},
          {"like_rate", experiments::Metric::kLikeRate}},
         {.help = "The metric a trial must not make worse."});

  // [experiment.variant.<name>]: weight = share of users; any other key overrides a parameter.
  std::map<std::string, ordering::Variant> variants;
  for (const config::Entry& e :
       b.Prefix(kVariantSection,
                {.help = "[experiment.variant.<name>] weight = share of users (default 1); other keys (e.g. "
                         "ordering.max_per_category = 1, ranking.enabled = false) override parameters."})) {
    const std::string rest = e.key.substr(sizeof(kVariantSection));
    const size_t dot = rest.find('.');
    if (dot == std::string::npos) {
      b.Fail(e.origin, e.key, "expected experiment.variant.<name>.<key>");
      continue;
    }
    const std::string name = rest.substr(0, dot), key = rest.substr(dot + 1);
    ordering::Variant& v = variants[name];
    v.name = name;
    if (key == "weight") {
      auto w = config::AsDouble(e.value);
      if (!w.ok() || *w <= 0) {
        b.Fail(e.origin, e.key, "weight must be a number > 0");
        v.weight = -1;  // reported; keeps the variant from looking valid below
      } else {
        v.weight = *w;
      }
      continue;
    }
    // Overrides are kept as text (ordering::Variant) and parsed by ApplyOverride, which tells
    // integers, numbers and booleans apart; a quoted "2" is refused like any string.
    using Type = config::Value::Type;
    if (e.value.type != Type::kInteger && e.value.type != Type::kFloat && e.value.type != Type::kBoolean) {
      b.Fail(e.origin, e.key, StrCat("expected a number or a boolean, got ", config::DescribeValue(e.value)));
      continue;
    }
    const std::string text = config::ToToml(e.value);
    RecommendOptions scratch;
    if (Status s = ApplyOverride(key, text, scratch); !s.ok()) {
      b.Fail(e.origin, e.key, s.message());
      continue;
    }
    v.overrides[key] = text;
  }
  for (auto& [name, v] : variants) {
    if (v.weight > 0) c.experiment.variants.push_back(std::move(v));
  }
}

bool IsLoopbackAddress(std::string_view address) {
  if (address == "localhost" || address == "::1" || address == "[::1]") return true;
  // 127.0.0.0/8 written as a dotted quad.
  if (!address.starts_with("127.")) return false;
  int dots = 0;
  for (char ch : address) {
    if (ch == '.') {
      ++dots;
    } else if (ch < '0' || ch > '9') {
      return false;
    }
  }
  return dots == 3;
}

Status FinishServeConfig(ServeConfig& c) {
  std::vector<std::string> errors;
  if (c.registry.empty()) errors.push_back("registry.path (or --registry) is required");
  if (c.open_access() && !IsLoopbackAddress(c.address)) {
    errors.push_back(StrCat("server.address ", c.address,
                            ": refusing to listen beyond loopback without API keys; set server.api_keys and "
                            "server.admin_keys, or listen on 127.0.0.1"));
  }
  for (const auto* keys : {&c.api_keys, &c.admin_keys}) {
    for (const std::string& key : *keys) {
      const bool printable =
          std::all_of(key.begin(), key.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
      if (key.empty() || key.size() > 256 || !printable) {
        errors.push_back(StrCat(keys == &c.api_keys ? "server.api_keys" : "server.admin_keys",
                                ": a key must be 1 to 256 printable ASCII characters without spaces"));
      }
    }
  }
  if (Status s = Validate(c.recommend); !s.ok()) errors.push_back(s.message());
  c.variants.clear();
  if (c.experiment.variants.empty()) {
    c.variants.push_back({"default", c.recommend});
  } else {
    if (c.experiment.name.empty())
      errors.push_back("experiment.name is required when variants are configured");
    if (Status s = ordering::Validate(c.experiment); !s.ok()) errors.push_back(s.message());
    for (const ordering::Variant& v : c.experiment.variants) {
      VariantOptions vo{v.name, c.recommend};
      for (const auto& [key, value] : v.overrides) {
        if (Status s = ApplyOverride(key, value, vo.recommend); !s.ok()) {
          errors.push_back(StrCat("variant ", v.name, ": ", s.message()));
        }
      }
      if (Status s = Validate(vo.recommend); !s.ok())
        errors.push_back(StrCat("variant ", v.name, ": ", s.message()));
      c.variants.push_back(std::move(vo));
    }
  }
  if (errors.empty()) return OkStatus();
  return InvalidArgumentError(StrCat("invalid configuration:\n  ", StrJoin(errors, "\n  ")));
}

}  // namespace vrec::serving
