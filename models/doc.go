// Package models holds online inference (Go) and the offline training pipeline (Python,
// under models/train) with the model the platform ships.
//
//   - models/gbdt reads LightGBM text models and predicts exactly as LightGBM does;
//   - models/rules evaluates fraud rules with reason codes over a feature vector;
//   - models/score combines the two into a weir.risk.v1.RiskScore (Scorer.Score);
//   - models/train trains a model from logged features and labels (train.py) and
//     rebuilds the shipped one (default.sh);
//   - models/default is the shipped model: model.txt, model.json (version, threshold,
//     metrics) and reference.jsonl (LightGBM's own predictions, which the Go tests require
//     the scorer to reproduce).
//
// The shipped model is trained on SYNTHETIC data for now (models/train/synthetic.py,
// shaped after bench/chaingen's fraud patterns), not on logged features: its threshold
// and metrics say how it separates the synthetic patterns, not how it will do on real
// traffic. Retrain it with train.py on an export of risk.scores and risk.labels once there
// is one. Default and DefaultScorer embed it in the binary.
package models
