// What a deployable model version holds: the contract between the training pipeline (writer,
// src/vrec/offline) and the server (reader, src/vrec/serving), which never include each other.
//
//   <version>/manifest.json   kind kModelKind; metrics, gate verdicts, provenance, feature schemas
//   <version>/retrieval/      two-tower model + video index (retrieval::RetrievalBundle)
//   <version>/ranker/         the ranker (ranking::Ranker::Save)
//   <version>/heads/          (format 3, optional) the objective heads, one folder each
//                             (ranking::ObjectiveHeads::Save); absent when training had no
//                             watch or like signal: the ranker alone orders the candidates
//   <version>/catalog/        the platform snapshot the model was trained on, in the generic CSV
//                             format (users, videos, interactions): provenance, and the base of the
//                             next training run
//   <version>/serving.vart    (format 2) everything serving derives from the snapshot, precomputed
//                             and memory-mapped by the server (snapshot::ServingSnapshot). Format 1
//                             directories lack it: the server computes it from catalog/ at load.
#pragma once

namespace vrec::registry {

inline constexpr char kModelKind[] = "vrec-model";
inline constexpr char kRetrievalDir[] = "retrieval";
inline constexpr char kRankerDir[] = "ranker";
inline constexpr char kHeadsDir[] = "heads";
inline constexpr char kCatalogDir[] = "catalog";
inline constexpr char kServingSnapshotFile[] = "serving.vart";

}  // namespace vrec::registry
