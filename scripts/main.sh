#!/usr/bin/env bash
# The main job: installs what is missing, builds, generates a synthetic video platform, and
# evaluates the baselines on it and on MovieLens 100K (when ../shared/data/ml-100k is present).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
bash scripts/build.sh release

data=${VREC_DATA_DIR:-vrec-data/synthetic}
if [ ! -f "$data/interactions.csv" ]; then
  rm -rf "$data"
  mkdir -p "$(dirname "$data")"
  ./build/vrec data synth --users 20000 --videos 50000 --interactions 2000000 --out "$data"
fi
for model in pop sar; do
  ./build/vrec eval --data "$data" --model "$model" --split temporal --test-per-user 10
done

movielens=${VREC_MOVIELENS_DIR:-../shared/data/ml-100k}
if [ -d "$movielens" ]; then
  for model in pop sar two-tower two-stage; do
    ./build/vrec eval --movielens "$movielens" --model "$model"
  done
fi
