# Ranking features (plain C++, no XGBoost): one definition shared by training and serving.
add_library(vrec_ranking_features features.cc)
target_link_libraries(vrec_ranking_features PUBLIC vrec_data PRIVATE vrec_warnings)
vrec_test(vrec_ranking_features_test SOURCES features_test.cc LIBS vrec_ranking_features)
