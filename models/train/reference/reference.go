// Package reference reads the reference.jsonl that models/train/train.py writes next to a
// model: feature vectors with LightGBM's own prediction for each, which tests require
// models/score to reproduce.
//
// Each line is a JSON object: entity_id, subject_event_id, features (a list of
// weir.risk.v1.Feature in the proto3 JSON mapping, as logged on risk.scores),
// x (the model's input row as train.py computed it, in the model's feature order, each
// value printed with repr, null for missing), probability (LightGBM's predict, printed with Python's repr so that it round-trips)
// and score_bp (round half away from zero of probability*10000).
package reference

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// Row is one reference row.
type Row struct {
	// Vector holds the row's features in a FeatureVector of the "address_activity"
	// feature set, version 1, with a Meta (event time 2026-11-25T07:00:00Z), entity type
	// ADDRESS, the row's entity and subject event id and a sanctions list version.
	Vector *riskv1.FeatureVector
	// X is the model's input row as train.py computed it from the features (NaN for
	// missing); nil in files written before it was added.
	X []float64
	// Probability is LightGBM's probability.
	Probability float64
	// ScoreBP is LightGBM's probability in basis points, as RiskScore.score_bp.
	ScoreBP uint32
}

type line struct {
	EntityID       string            `json:"entity_id"`
	SubjectEventID string            `json:"subject_event_id"`
	Features       []json.RawMessage `json:"features"`
	X              []*string         `json:"x"`
	Probability    string            `json:"probability"`
	ScoreBP        uint32            `json:"score_bp"`
}

// ReadFile reads the reference rows of path.
func ReadFile(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	defer f.Close()
	var rows []Row
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("reference: %s:%d: %w", path, n, err)
		}
		v := &riskv1.FeatureVector{
			Meta: &commonv1.Meta{
				EventId:   eventid.New("weir.risk.v1.FeatureVector", "address_activity", "1", l.SubjectEventID),
				EventTime: timestamppb.New(time.Date(2026, 11, 25, 7, 0, 0, 0, time.UTC)),
				Source:    "models/train/reference",
			},
			EntityType:           riskv1.EntityType_ENTITY_TYPE_ADDRESS,
			EntityId:             l.EntityID,
			SubjectEventId:       l.SubjectEventID,
			FeatureSet:           "address_activity",
			FeatureSetVersion:    1,
			SanctionsListVersion: "synthetic:2026-09-01",
		}
		for _, raw := range l.Features {
			ft := &riskv1.Feature{}
			if err := protojson.Unmarshal(raw, ft); err != nil {
				return nil, fmt.Errorf("reference: %s:%d: feature %s: %w", path, n, raw, err)
			}
			v.Features = append(v.Features, ft)
		}
		p, err := strconv.ParseFloat(l.Probability, 64)
		if err != nil {
			return nil, fmt.Errorf("reference: %s:%d: probability: %w", path, n, err)
		}
		var x []float64
		for j, s := range l.X {
			if s == nil {
				x = append(x, math.NaN())
				continue
			}
			f, err := strconv.ParseFloat(*s, 64)
			if err != nil {
				return nil, fmt.Errorf("reference: %s:%d: x[%d]: %w", path, n, j, err)
			}
			x = append(x, f)
		}
		rows = append(rows, Row{Vector: v, X: x, Probability: p, ScoreBP: l.ScoreBP})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reference: %s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("reference: %s holds no rows", path)
	}
	return rows, nil
}
