package train_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/models/rules"
	"github.com/weirhq/weir/models/score"
	"github.com/weirhq/weir/models/train/reference"
)

// python returns the venv's python that venv.sh prints. Outside CI the test is skipped
// when the venv was never created (creating it downloads LightGBM); in CI venv.sh creates
// it and any failure fails the test.
func python(t *testing.T) string {
	t.Helper()
	cache := os.Getenv("WEIR_CACHE")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(home, ".cache", "weir")
	}
	if _, err := os.Stat(filepath.Join(cache, "venv", "lightgbm", "bin", "python")); err != nil && !testenv.InCI() {
		t.Skipf("no LightGBM venv under %s: run models/train/venv.sh once (CI runs it and this test)", cache)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", "venv.sh")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("venv.sh: %v\n%s", err, stderr.String())
		}
		t.Skipf("venv.sh failed (offline?): %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func run(t *testing.T, py string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(py, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", py, args, err, stderr.String())
	}
	return out
}

// TestPipeline runs the whole offline pipeline: synthetic data, train.py, then loads the
// model it wrote with models/gbdt and scores its reference rows with models/score, which
// must give LightGBM's own score_bp.
func TestPipeline(t *testing.T) {
	py := python(t)
	data, out := t.TempDir(), t.TempDir()
	run(t, py, "synthetic.py", "--out", data, "--entities", "2500", "--seed", "7")
	stdout := run(t, py, "train.py", "--input", data, "--out", out, "--reference-rows", "60")

	var report struct {
		Version     string                        `json:"version"`
		ThresholdBP uint32                        `json:"threshold_bp"`
		Metrics     map[string]map[string]float64 `json:"metrics"`
	}
	if err := json.Unmarshal(stdout, &report); err != nil {
		t.Fatalf("train.py printed %q: %v", stdout, err)
	}
	metrics := report.Metrics
	for _, part := range []string{"validation", "test"} {
		m := metrics[part]
		for _, k := range []string{"precision", "recall", "pr_auc", "rows", "positives"} {
			if _, ok := m[k]; !ok {
				t.Errorf("metrics.%s has no %s: %v", part, k, m)
			}
		}
		// The synthetic patterns are easy to tell apart: a model that cannot is broken.
		if m["pr_auc"] < 0.6 {
			t.Errorf("%s PR-AUC %.3f", part, m["pr_auc"])
		}
	}

	model, meta, err := score.LoadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Version != report.Version || meta.ThresholdBP != report.ThresholdBP {
		t.Errorf("model.json %s/%d, train.py printed %s/%d", meta.Version, meta.ThresholdBP, report.Version, report.ThresholdBP)
	}
	engine, err := rules.Default()
	if err != nil {
		t.Fatal(err)
	}
	s, err := score.New(model, meta, engine)
	if err != nil {
		t.Fatal(err)
	}
	refs, err := reference.ReadFile(filepath.Join(out, "reference.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) < 60 {
		t.Fatalf("%d reference rows", len(refs))
	}
	for i, r := range refs {
		got, err := s.Score(r.Vector, score.Subject{})
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if got.ScoreBp != r.ScoreBP {
			t.Errorf("row %d (%s): score_bp %d, LightGBM %d", i, r.Vector.SubjectEventId, got.ScoreBp, r.ScoreBP)
		}
		x, err := s.Row(r.Vector, nil)
		if err != nil || len(x) != len(r.X) {
			t.Fatalf("row %d: %d values, train.py %d: %v", i, len(x), len(r.X), err)
		}
		for j := range x {
			if math.Float64bits(x[j]) != math.Float64bits(r.X[j]) && !(math.IsNaN(x[j]) && math.IsNaN(r.X[j])) {
				t.Errorf("row %d column %d: %v, train.py %v", i, j, x[j], r.X[j])
			}
		}
		if got.ModelVersion != meta.Version || got.ThresholdBp != meta.ThresholdBP {
			t.Errorf("row %d: stamped %s/%d", i, got.ModelVersion, got.ThresholdBp)
		}
	}

	// The same input trains the same model, byte for byte.
	again := t.TempDir()
	run(t, py, "train.py", "--input", data, "--out", again, "--reference-rows", "60")
	a, _ := os.ReadFile(filepath.Join(out, "model.txt"))
	b, _ := os.ReadFile(filepath.Join(again, "model.txt"))
	if !bytes.Equal(a, b) {
		t.Error("training twice on the same input gave different models")
	}
}

// TestTrainBadInput: train.py refuses input it cannot use with a clear message and exit
// status 2.
func TestTrainBadInput(t *testing.T) {
	py := python(t)
	for _, tc := range []struct {
		name, scores, labels, msg string
	}{
		{"unknown asset", `{"meta":{"eventId":"a","eventTime":"2026-11-01T00:00:00Z"},"entityId":"1:0x1","featureSet":"address_activity","featureSetVersion":1,"features":[{"name":"value_out_sum_1h","units":"5","asset":"DOGE"}]}`, "", "unknown asset 'DOGE'"},
		{"bad time", `{"meta":{"eventId":"a","eventTime":"yesterday"},"entityId":"1:0x1","featureSet":"address_activity","featureSetVersion":1}`, "", "not RFC 3339"},
		{"bad json", `{"meta":`, "", "scores.jsonl:1"},
		{"too few rows", `{"meta":{"eventId":"a","eventTime":"2026-11-01T00:00:00Z"},"entityId":"1:0x1","featureSet":"address_activity","featureSetVersion":1}`, "", "need at least 100"},
		{"label without pattern", `{"meta":{"eventId":"a","eventTime":"2026-11-01T00:00:00Z"},"entityId":"1:0x1","featureSet":"address_activity","featureSetVersion":1}`,
			`{"meta":{"eventId":"l","eventTime":"2026-11-01T00:00:00Z"},"labelId":"l","entityId":"1:0x1"}`, "has no pattern"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "scores.jsonl"), []byte(tc.scores+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "labels.jsonl"), []byte(tc.labels+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var stderr bytes.Buffer
			cmd := exec.Command(py, "train.py", "--input", dir, "--out", t.TempDir())
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("err %v, stderr %q; want exit status 2 and %q", err, stderr.String(), tc.msg)
			}
		})
	}
}
