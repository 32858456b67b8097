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
// The shipped model is trained on the logged features and labels of bench/chaingen's
// generated traffic (models/train/default.sh: `weir bench risk --export`, two seeds, the
// real indexer and risk processor), its threshold calibrated per address: its threshold
// and metrics say how it separates the generator's patterns, not how it will do on real
// traffic. Default and DefaultScorer embed it in the binary.
package models
