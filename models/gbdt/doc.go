// Package gbdt scores gradient-boosted-tree models written by LightGBM in its text format
// (Booster.save_model): "version=v4" from LightGBM 4.x, which the fixtures test. "v3" files
// from LightGBM 3.x are accepted too, as 3.x predicts with the same rules, but no fixture
// tests them.
//
// It exists because the Go library for LightGBM models, github.com/dmitryikh/leaves (last
// release 2023), refuses LightGBM 4.x files ("only version=v3 is supported"), and with the
// version line edited it still scores zero_as_missing and linear_tree models differently from
// LightGBM. This reader is small and pinned to LightGBM's own prediction code path:
//
//   - numerical splits go left when value <= threshold; a missing value goes the node's
//     default direction, where "missing" is NaN for missing type NaN and zero (|x| <= 1e-35,
//     NaN included) for missing type Zero; with missing type None, NaN is scored as 0;
//   - categorical splits truncate the value to an int and go left when it is in the node's
//     bitset; NaN, negative and out-of-int32 values go right;
//   - values within LightGBM's zero threshold (1e-35) are scored as 0, as LightGBM's dense
//     row conversion does;
//   - linear trees (linear_tree=true) add their leaf's linear model, falling back to the
//     leaf value when one of its features is NaN;
//   - the raw score is the sum of the trees in file order, and the probability of a binary
//     model is 1/(1+exp(-sigmoid*raw)).
//
// Only binary models (objective=binary, one tree per iteration) are accepted; multiclass,
// regression objectives and random-forest averaging are refused with ErrUnsupported rather
// than scored in a way nobody tested.
//
// A Model is immutable after Load and safe for concurrent use; PredictRaw and Predict do not
// allocate. They walk four trees at a time, without branches on the common splits, so a
// 200-tree, 31-leaf model takes about 8 µs of CPU per row (BenchmarkPredict).
//
// models/testdata holds a LightGBM 4.x model with categorical features and NaN, a
// zero_as_missing model and a linear-tree model, with LightGBM's own predictions on 10,000
// hard rows; TestMatchesLightGBM requires agreement within 1e-9. models/train/fixture.py
// regenerates them.
package gbdt
