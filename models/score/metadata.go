package score

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/weirhq/weir/models/gbdt"
	"github.com/weirhq/weir/schemas/codec"
)

// ErrMetadata is wrapped by the errors about a model.json that is malformed or does not
// describe its model.txt.
var ErrMetadata = errors.New("bad model metadata")

// MaxMetadataSize is the largest model.json ReadMetadata reads: 1 MiB.
const MaxMetadataSize = 1 << 20

// Metadata is the model.json that models/train/train.py writes next to model.txt. Only
// the fields the scorer needs are read; the rest (metrics, training data hashes, split)
// is for people and audits.
type Metadata struct {
	// ModelID names the model (RiskScore.model_id), e.g. "address_activity_gbm".
	ModelID string `json:"model_id"`
	// Version is the lowercase hex SHA-256 of model.txt (RiskScore.model_version); it
	// must equal gbdt.Model.Version of the model it describes.
	Version string `json:"version"`
	// FeatureSet and FeatureSetVersion are the feature definitions the model was trained
	// on; Score refuses vectors of any other.
	FeatureSet        string `json:"feature_set"`
	FeatureSetVersion uint32 `json:"feature_set_version"`
	// FeatureNames are the model's columns, in order; they must equal the model's own.
	FeatureNames []string `json:"feature_names"`
	// MoneyFeatures are the names among FeatureNames that are money (units); the others
	// are fixed-point.
	MoneyFeatures []string `json:"money_features"`
	// Assets are the assets a money feature may be in, with their decimals.
	Assets map[string]uint32 `json:"assets"`
	// ThresholdBP is the score at or above which the model recommends REVIEW, in basis
	// points (RiskScore.threshold_bp), at most 10000.
	ThresholdBP uint32 `json:"threshold_bp"`
}

// ReadMetadata reads a model.json from r (up to MaxMetadataSize bytes) and checks its
// fields on their own; Check compares it with its model.
func ReadMetadata(r io.Reader) (Metadata, error) {
	var m Metadata
	data, err := io.ReadAll(io.LimitReader(r, MaxMetadataSize+1))
	if err != nil {
		return m, fmt.Errorf("score: read model metadata: %w", err)
	}
	if len(data) > MaxMetadataSize {
		return m, fmt.Errorf("score: model metadata over %d bytes: %w", MaxMetadataSize, ErrMetadata)
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&m); err != nil {
		return m, fmt.Errorf("score: model metadata: %w: %w", err, ErrMetadata)
	}
	return m, m.validate()
}

func (m Metadata) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("score: model metadata: %s: %w", fmt.Sprintf(format, args...), ErrMetadata)
	}
	switch {
	case m.ModelID == "":
		return bad("no model_id")
	case m.Version == "":
		return bad("no version")
	case m.FeatureSet == "":
		return bad("no feature_set")
	case len(m.FeatureNames) == 0:
		return bad("no feature_names")
	case m.ThresholdBP > 10000:
		return bad("threshold_bp %d over 10000", m.ThresholdBP)
	}
	for _, f := range m.MoneyFeatures {
		if !slices.Contains(m.FeatureNames, f) {
			return bad("money feature %q is not a feature", f)
		}
	}
	for a, d := range m.Assets {
		if a == "" || d > codec.MaxDecimals {
			return bad("asset %q with %d decimals", a, d)
		}
	}
	return nil
}

// Check reports whether m describes model: same version (content hash) and the same
// feature names in the same order.
func (m Metadata) Check(model *gbdt.Model) error {
	if m.Version != model.Version() {
		return fmt.Errorf("score: model metadata is of version %s, the model is %s: %w", m.Version, model.Version(), ErrMetadata)
	}
	if !slices.Equal(m.FeatureNames, model.FeatureNames()) {
		return fmt.Errorf("score: model metadata names features %v, the model %v: %w", m.FeatureNames, model.FeatureNames(), ErrMetadata)
	}
	return nil
}

// LoadDir loads dir/model.txt (gbdt.LoadFile) and dir/model.json (ReadMetadata) and
// checks that they belong together.
func LoadDir(dir string) (*gbdt.Model, Metadata, error) {
	model, err := gbdt.LoadFile(filepath.Join(dir, "model.txt"))
	if err != nil {
		return nil, Metadata{}, err
	}
	f, err := os.Open(filepath.Join(dir, "model.json"))
	if err != nil {
		return nil, Metadata{}, fmt.Errorf("score: %w", err)
	}
	defer f.Close()
	meta, err := ReadMetadata(f)
	if err != nil {
		return nil, Metadata{}, fmt.Errorf("%w (%s)", err, f.Name())
	}
	if err := meta.Check(model); err != nil {
		return nil, Metadata{}, fmt.Errorf("%w (%s)", err, dir)
	}
	return model, meta, nil
}
