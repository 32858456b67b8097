// Package risk is weir's online risk processor: fraud features computed in the stream
// (features/processor) and scored in the same handler call and Kafka transaction
// (models/score), so a transfer's RiskScore is committed together with its
// FeatureVector and the consumed offsets, exactly once.
//
//	chain.transfers ─► features (rekey, retractions, features stages) ─► risk.features
//	                                                     └─ Scorer.Score ─► risk.scores
//
// Each score carries the served features (feature logging), the model and rules
// versions and the sanctions list version; processors/alerts turns scores into alerts
// and features/online copies risk.features into the Redis online store.
//
// One score per vector: a transfer gives two vectors (its sender's and its
// recipient's), so two scores with the same subject_event_id. Their Meta.event_id
// (ScoreID, as models/score derives it) adds the entity to the model, its version and the
// subject (as features.VectorID does for vectors), so the two are distinct events. A vector
// re-published after a reorg (features.HeaderRefresh) is not scored: it has no subject
// event of its own. Scores are not retracted: the score of a transfer that a reorg
// later removed stays on risk.scores (as its alert does); a consumer that must forget it
// joins on chain.retractions by subject_event_id.
//
// Assets: ingest names ERC-20 assets "erc20:<chain id>:<address>", which a model trained
// on ETH does not know. LoadScorer builds the scorer with score.WithUnknownAssetsMissing:
// such money features are missing (NaN) to the model, logged as served, and compared by
// the rules in their own asset only.
//
// A vector the scorer refuses (a bug in the feature engine, or a model that does not
// match the feature set) sends its triggering record to the features stage's DLQ with
// the error; the partition keeps flowing.
package risk

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/processor"
	"github.com/weirhq/weir/features/sanctions"
	"github.com/weirhq/weir/models"
	"github.com/weirhq/weir/models/rules"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// DefaultScores is the RiskScore topic.
const DefaultScores = "risk.scores"

// Source is Meta.source of the scores the processor emits.
const Source = "processors/risk"

// Config configures the processor.
type Config struct {
	// Features configures the feature stages (App, topics, StateDir, Engine). Its
	// OnVector, ExtraOutputs and ExtraStores are set by New. StateDir is required.
	Features processor.Config
	// Scores is the RiskScore topic. Default: DefaultScores.
	Scores string
	// Scorer scores every vector. Required; LoadScorer builds the usual one.
	Scorer *score.Scorer
	// Registerer receives the in-process scoring latency histogram
	// (weir_risk_score_seconds) and the decision counter (weir_risk_decisions_total).
	// Default: none.
	Registerer prometheus.Registerer
	// OnScore, when set, is called with every score after it is emitted (in the
	// handler, before the transaction commits) and how long Score took. For
	// benchmarks and tests; it must not block.
	OnScore func(s *riskv1.RiskScore, took time.Duration)
}

// New builds the processor: the features processor with a scoring OnVector. opts
// configure its runtimes (see processor.New). It does no I/O.
func New(cfg Config, brokers []string, opts ...stream.Option) (*processor.Processor, error) {
	if cfg.Scorer == nil {
		return nil, errors.New("risk: no scorer")
	}
	if cfg.Scores == "" {
		cfg.Scores = DefaultScores
	}
	if cfg.Features.OnVector != nil {
		return nil, errors.New("risk: Features.OnVector is set by New")
	}
	set, version := cfg.Scorer.FeatureSet()
	fs := features.AddressActivity
	if cfg.Features.Engine.Set != nil {
		fs = *cfg.Features.Engine.Set
	}
	if fs.Name != set || fs.Version != version {
		return nil, fmt.Errorf("risk: the model reads feature set %s version %d, the engine computes %s version %d",
			set, version, fs.Name, fs.Version)
	}
	h := &scoring{scorer: cfg.Scorer, topic: cfg.Scores, onScore: cfg.OnScore}
	if cfg.Registerer != nil {
		h.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "weir_risk_score_seconds",
			Help:    "Time to score one feature vector in-process (model + rules).",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 12),
		})
		h.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weir_risk_decisions_total",
			Help: "Scores emitted by decision (counted when emitted; a transaction that aborts is counted again on retry).",
		}, []string{"decision"})
		for _, c := range []prometheus.Collector{h.latency, h.decisions} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("risk: metrics: %w", err)
			}
		}
	}
	cfg.Features.OnVector = h.onVector
	cfg.Features.ExtraOutputs = append(cfg.Features.ExtraOutputs, cfg.Scores)
	return processor.New(cfg.Features, brokers, opts...)
}

// ScoreID is Meta.event_id of the score of entity's vector at subject:
// eventid.New("weir.risk.v1.RiskScore", model id, model version, subject, entity).
func ScoreID(modelID, modelVersion, subjectID, entityID string) string {
	return eventid.New("weir.risk.v1.RiskScore", modelID, modelVersion, subjectID, entityID)
}

// scoring is the OnVector of the features stage.
type scoring struct {
	scorer    *score.Scorer
	topic     string
	latency   prometheus.Histogram
	decisions *prometheus.CounterVec
	onScore   func(*riskv1.RiskScore, time.Duration)
}

func (h *scoring) onVector(sc *stream.Context, v *riskv1.FeatureVector) error {
	start := time.Now()
	s, err := h.scorer.Score(v, score.Subject{})
	took := time.Since(start)
	if err != nil {
		return fmt.Errorf("risk: score %s: %w", v.GetEntityId(), err)
	}
	s.Meta.Source = Source
	if h.latency != nil {
		h.latency.Observe(took.Seconds())
		h.decisions.WithLabelValues(s.GetDecision().String()).Inc()
	}
	b, err := codec.Marshal(s)
	if err != nil {
		return fmt.Errorf("risk: score %s: %w", v.GetEntityId(), err)
	}
	if err := sc.Emit(h.topic, []byte(s.GetEntityId()), b); err != nil {
		return err
	}
	if h.onScore != nil {
		h.onScore(s, took)
	}
	return nil
}

// ScorerConfig says where the model and the rules come from.
type ScorerConfig struct {
	// ModelDir holds model.txt and model.json (score.LoadDir). Default "": the shipped
	// model (models.Default, embedded in the binary).
	ModelDir string
	// RulesFile is a rule set in YAML (rules.LoadFile). Default "": the default rules
	// (models/rules/default.yaml, embedded).
	RulesFile string
	// Options are added after LoadScorer's own (score.WithSource(Source),
	// score.WithUnknownAssetsMissing()).
	Options []score.Option
}

// LoadScorer builds the scorer the processor (and the gateway) use: the configured or
// shipped model and rules, unknown assets read as missing. It reads files only.
func LoadScorer(cfg ScorerConfig) (*score.Scorer, error) {
	m, meta, err := models.Default()
	if cfg.ModelDir != "" {
		m, meta, err = score.LoadDir(cfg.ModelDir)
	}
	if err != nil {
		return nil, fmt.Errorf("risk: model: %w", err)
	}
	r, err := rules.Default()
	if cfg.RulesFile != "" {
		r, err = rules.LoadFile(cfg.RulesFile)
	}
	if err != nil {
		return nil, fmt.Errorf("risk: rules: %w", err)
	}
	opts := append([]score.Option{score.WithSource(Source), score.WithUnknownAssetsMissing()}, cfg.Options...)
	s, err := score.New(m, meta, r, opts...)
	if err != nil {
		return nil, fmt.Errorf("risk: scorer: %w", err)
	}
	return s, nil
}

// LoadSanctions returns the sanctions list in path (any format sanctions.Load reads:
// OFAC sdn.xml, SDN_ADVANCED.XML, sdn.csv, weir's address list), or the shipped excerpt
// (sanctions.Shipped) when path is "".
func LoadSanctions(path string) (*sanctions.List, error) {
	if path == "" {
		return sanctions.Shipped(), nil
	}
	l, err := sanctions.Load(path)
	if err != nil {
		return nil, fmt.Errorf("risk: %w", err)
	}
	return l, nil
}
