# ranker_bench: XGBoost's predictor vs the compiled tree evaluator, 200 candidates per call on one
# thread, 300 trees (prints metric=value).
add_executable(ranker_bench ranker_bench.cc)
target_link_libraries(ranker_bench PRIVATE vrec_ranker vrec_warnings)

# ease_bench: EASE fit cost and coverage for several K at catalog scale (synthetic platform).
add_executable(ease_bench ease_bench.cc)
target_link_libraries(ease_bench PRIVATE vrec_ease vrec_data vrec_warnings)
