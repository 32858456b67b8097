// Package score turns a feature vector (weir.risk.v1.FeatureVector) into a risk score
// (weir.risk.v1.RiskScore): the probability of a LightGBM model (models/gbdt) combined
// with a rule set (models/rules).
//
// # Use
//
// A stream processor reading risk.features, and the gateway scoring a payout against an
// address's current features, both build one Scorer at start and call Score per vector:
//
//	s, err := models.DefaultScorer(score.WithSource("processors/score:1"))
//	// or: model, meta, err := score.LoadDir(dir); s, err := score.New(model, meta, engine)
//	rs, err := s.Score(vector, score.Subject{})          // stream: the vector's subject
//	rs, err := s.Score(vector, score.Subject{EventID: id}) // gateway: the payout's event id
//	// errors.Is(err, score.ErrBadVector): send the record to the DLQ with err
//
// and publish rs on risk.scores keyed by rs.EntityId. rs.Decision is what to do, rs.Reasons
// why.
//
// # What the model reads
//
// The model's columns are its feature names (model.json feature_names, as trained). Each
// is read from the vector's feature of that name:
//
//   - fixed point (counts, flags, ratios): float64(value) / float64(10^scale);
//   - money: float64(units) / float64(10^decimals), units parsed from the uint256 decimal
//     with strconv.ParseFloat and decimals those of its asset in model.json "assets" (or
//     WithAsset); an asset not there is an error (ErrUnknownAsset), never a guess, or
//     with WithUnknownAssetsMissing a missing value (NaN; the rule and its reason are on
//     the option), which a stream of ERC-20 transfers ("erc20:<chain>:<address>") needs;
//   - a feature the vector lacks is NaN, which LightGBM treats as missing.
//
// Every step is a single IEEE-754 operation rounded to nearest-even, which Python's
// float(int) and true division also are, so models/train/train.py computes bit-identical
// inputs from the logged features. No logarithm is taken: trees split on order alone, so a
// monotone transform such as log10(1+units) would change nothing but add an ulp of
// disagreement between Go's and C's log10.
//
// # The score
//
// score_bp is math.Round(p*10000). The model recommends REVIEW at or above threshold_bp
// (model.json, chosen by train.py for a target precision on validation data; WithThreshold)
// and BLOCK at or above WithBlockThreshold if set; the rules recommend their strongest hit;
// the stricter recommendation wins. Reasons are the rule hits and MODEL_SCORE, strongest
// first. The served features are logged on the score, every one, for training.
//
// A Scorer is immutable and safe for concurrent use. Score takes about 4 µs for the
// shipped model (100 trees) and ten rules, with about 11 allocations, all of them for the
// returned score and its event id (BenchmarkScore); the model and the rules themselves
// allocate nothing. Decoding the vector, scoring and encoding the score takes about 15 µs,
// p99 under 0.11 ms on a busy 2-core machine (BenchmarkDecodeAndScore).
package score
