package gbdt

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const testdata = "../testdata"

// fixture is rows.csv and predictions.csv of models/testdata, written by
// models/train/fixture.py with LightGBM 4.x.
type fixture struct {
	names []string
	rows  [][]float64
	cols  map[string][]float64 // "model:raw" -> LightGBM's value per row
}

var (
	fixtureOnce sync.Once
	fixtureData fixture
	fixtureErr  error
)

func loadFixture(tb testing.TB) fixture {
	tb.Helper()
	fixtureOnce.Do(func() { fixtureData, fixtureErr = readFixture() })
	if fixtureErr != nil {
		tb.Fatal(fixtureErr)
	}
	return fixtureData
}

func readFixture() (fixture, error) {
	var fx fixture
	header, rows, err := readCSV(filepath.Join(testdata, "rows.csv"))
	if err != nil {
		return fx, err
	}
	fx.names, fx.rows = header, rows
	header, preds, err := readCSV(filepath.Join(testdata, "predictions.csv"))
	if err != nil {
		return fx, err
	}
	if len(preds) != len(rows) {
		return fx, errors.New("predictions.csv and rows.csv differ in length")
	}
	fx.cols = make(map[string][]float64, len(header))
	for j, h := range header {
		col := make([]float64, len(preds))
		for i := range preds {
			col[i] = preds[i][j]
		}
		fx.cols[h] = col
	}
	return fx, nil
}

// readCSV reads a CSV of float64 written with Python's repr; an empty field is NaN.
func readCSV(path string) ([]string, [][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, nil, err
	}
	out := make([][]float64, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := make([]float64, len(rec))
		for j, s := range rec {
			if s == "" {
				row[j] = math.NaN()
				continue
			}
			if row[j], err = strconv.ParseFloat(s, 64); err != nil {
				return nil, nil, err
			}
		}
		out = append(out, row)
	}
	return recs[0], out, nil
}

// TestMatchesLightGBM scores the 10,000 fixture rows with each fixture model and compares
// with LightGBM's own predictions: raw score and probability must agree within 1e-9.
func TestMatchesLightGBM(t *testing.T) {
	fx := loadFixture(t)
	if len(fx.rows) != 10000 {
		t.Fatalf("fixture has %d rows, want 10000", len(fx.rows))
	}
	for _, tc := range []struct {
		file  string
		trees int
	}{
		{"model.txt", 200},
		{"model_zero_as_missing.txt", 50},
		{"model_linear.txt", 30},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, err := LoadFile(filepath.Join(testdata, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if m.NumTrees() != tc.trees {
				t.Errorf("NumTrees() = %d, want %d", m.NumTrees(), tc.trees)
			}
			if m.NumFeatures() != len(fx.names) {
				t.Fatalf("NumFeatures() = %d, want %d", m.NumFeatures(), len(fx.names))
			}
			if got := strings.Join(m.FeatureNames(), ","); got != strings.Join(fx.names, ",") {
				t.Errorf("FeatureNames() = %s, want %s", got, strings.Join(fx.names, ","))
			}
			stem := strings.TrimSuffix(tc.file, ".txt")
			wantRaw, wantProb := fx.cols[stem+":raw"], fx.cols[stem+":prob"]
			if wantRaw == nil || wantProb == nil {
				t.Fatalf("predictions.csv has no columns for %s", stem)
			}
			var maxRaw, maxProb float64
			nonFinite := 0
			for i, row := range fx.rows {
				raw, prob := m.PredictRaw(row), m.Predict(row)
				dr, dp := diff(raw, wantRaw[i]), diff(prob, wantProb[i])
				if !(dr < 1e-9) || !(dp < 1e-9) {
					t.Errorf("row %d: raw %v prob %v, LightGBM raw %v prob %v", i, raw, prob, wantRaw[i], wantProb[i])
				}
				maxRaw, maxProb = max(maxRaw, dr), max(maxProb, dp)
				if math.IsNaN(raw) || math.IsInf(raw, 0) {
					nonFinite++
				}
			}
			t.Logf("%s: %d rows (%d with a non-finite raw score, as LightGBM's), max |diff| raw %.3g, probability %.3g",
				tc.file, len(fx.rows), nonFinite, maxRaw, maxProb)
		})
	}
}

// diff is |a-b|, and 0 when a and b are the same infinity or both NaN: a linear tree
// scores a row holding an infinite feature as +-Inf or NaN, and LightGBM does the same.
func diff(a, b float64) float64 {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return 0
	}
	return math.Abs(a - b)
}

func TestVersionIsSHA256OfFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testdata, "model.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if want := hex.EncodeToString(sum[:]); m.Version() != want {
		t.Errorf("Version() = %s, want %s", m.Version(), want)
	}
	m2, err := Load(bytes.NewReader(bytes.Replace(b, []byte("leaf_value=-1.70"), []byte("leaf_value=-1.71"), 1)))
	if err != nil {
		t.Fatal(err)
	}
	if m2.Version() == m.Version() {
		t.Error("a changed model kept its Version")
	}
}

// tinyModel is a hand-written two-tree model in LightGBM 4.x text format. Tree 0 splits
// feature 0 at 1.5 (missing type NaN, default left), then feature 1 at 0.5 (missing type
// Zero, default right). Tree 1 splits categorical feature 2 on categories {1, 33}.
const tinyModel = `tree
version=v4
num_class=1
num_tree_per_iteration=1
label_index=0
max_feature_idx=2
objective=binary sigmoid:2
feature_names=a b c
feature_infos=[0:3] [0:1] 1:33:4
tree_sizes=1 1

Tree=0
num_leaves=3
num_cat=0
split_feature=0 1
split_gain=1 1
threshold=1.5 0.5
decision_type=10 4
left_child=-1 -2
right_child=1 -3
leaf_value=0.25 -0.5 1
leaf_weight=1 1 1
leaf_count=1 1 1
internal_value=0 0
internal_weight=0 0
internal_count=3 2
is_linear=0
shrinkage=1


Tree=1
num_leaves=2
num_cat=1
split_feature=2
split_gain=1
threshold=0
decision_type=1
left_child=-1
right_child=-2
leaf_value=0.125 -0.125
leaf_weight=1 1
leaf_count=1 1
internal_value=0
internal_weight=0
internal_count=2
cat_boundaries=0 2
cat_threshold=2 2
is_linear=0
shrinkage=0.1


end of trees

feature_importances:
a=1

parameters:
[boosting: gbdt]
end of parameters

pandas_categorical:null
`

func TestDecisions(t *testing.T) {
	m, err := Load(strings.NewReader(tinyModel))
	if err != nil {
		t.Fatal(err)
	}
	nan, inf := math.NaN(), math.Inf(1)
	const in, out = 0.125, -0.125 // tree 1: category in {1, 33} goes left
	for _, tc := range []struct {
		name string
		x    []float64
		want float64
	}{
		{"a below threshold", []float64{1, 7, 1}, 0.25 + in},
		{"a equal to threshold goes left", []float64{1.5, 7, 1}, 0.25 + in},
		{"a NaN default left", []float64{nan, 7, 1}, 0.25 + in},
		{"a above, b above", []float64{2, 7, 1}, 1 + in},
		{"b below", []float64{2, 0.25, 1}, -0.5 + in},
		{"b zero is missing, default right", []float64{2, 0, 1}, 1 + in},
		{"b negative zero is missing", []float64{2, math.Copysign(0, -1), 1}, 1 + in},
		{"b within kZeroThreshold is missing", []float64{2, 1e-36, 1}, 1 + in},
		{"b just beyond kZeroThreshold is not", []float64{2, 2e-35, 1}, -0.5 + in},
		{"b NaN becomes zero, missing", []float64{2, nan, 1}, 1 + in},
		{"c category 33", []float64{0, 0, 33}, 0.25 + in},
		{"c fraction truncates to 1", []float64{0, 0, 1.9}, 0.25 + in},
		{"c category 0", []float64{0, 0, 0}, 0.25 + out},
		{"c -0.5 truncates to category 0", []float64{0, 0, -0.5}, 0.25 + out},
		{"c negative goes right", []float64{0, 0, -1}, 0.25 + out},
		{"c NaN goes right", []float64{0, 0, nan}, 0.25 + out},
		{"c beyond bitset goes right", []float64{0, 0, 64}, 0.25 + out},
		{"c beyond int32 goes right", []float64{0, 0, 1 << 33}, 0.25 + out},
		{"c inf goes right", []float64{0, 0, inf}, 0.25 + out},
	} {
		if got := m.PredictRaw(tc.x); got != tc.want {
			t.Errorf("%s: PredictRaw(%v) = %v, want %v", tc.name, tc.x, got, tc.want)
		}
		if got, want := m.Predict(tc.x), 1/(1+math.Exp(-2*tc.want)); got != want {
			t.Errorf("%s: Predict(%v) = %v, want %v", tc.name, tc.x, got, want)
		}
	}
}

func TestPredictPanicsOnWrongLength(t *testing.T) {
	m, err := Load(strings.NewReader(tinyModel))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("PredictRaw with 2 of 3 features did not panic")
		}
	}()
	m.PredictRaw([]float64{1, 2})
}

func TestLoadErrors(t *testing.T) {
	replace := func(old, new string) string {
		if !strings.Contains(tinyModel, old) {
			t.Fatalf("tinyModel has no %q", old)
		}
		return strings.Replace(tinyModel, old, new, 1)
	}
	for _, tc := range []struct {
		name, text string
		is         error
		msg        string
	}{
		{"empty", "", ErrMalformed, "no trees"},
		{"not a model", "hello\nworld\n", ErrMalformed, "no trees"},
		{"version v2", replace("version=v4", "version=v2"), ErrUnsupported, "version"},
		{"multiclass", replace("num_class=1", "num_class=3"), ErrUnsupported, "num_class"},
		{"regression", replace("objective=binary sigmoid:2", "objective=regression"), ErrUnsupported, "objective"},
		{"bad sigmoid", replace("sigmoid:2", "sigmoid:x"), ErrMalformed, "sigmoid"},
		{"average_output", replace("tree_sizes", "average_output\ntree_sizes"), ErrUnsupported, "average_output"},
		{"names count", replace("feature_names=a b c", "feature_names=a b"), ErrMalformed, "feature_names"},
		{"feature out of range", replace("split_feature=0 1", "split_feature=0 3"), ErrMalformed, "split_feature"},
		{"short leaf_value", replace("leaf_value=0.25 -0.5 1", "leaf_value=0.25 -0.5"), ErrMalformed, "leaf_value"},
		{"bad float", replace("threshold=1.5 0.5", "threshold=1.5 x"), ErrMalformed, "threshold"},
		{"cycle", replace("right_child=1 -3", "right_child=1 0"), ErrMalformed, "tree"},
		{"child out of range", replace("right_child=1 -3", "right_child=1 -9"), ErrMalformed, "child"},
		{"missing type 3", replace("decision_type=10 4", "decision_type=10 12"), ErrMalformed, "decision_type"},
		{"cat index", replace("cat_boundaries=0 2", "cat_boundaries=0 3"), ErrMalformed, "cat_"},
		{"no end of trees", tinyModel[:strings.Index(tinyModel, "end of trees")], ErrMalformed, "end of trees"},
		{"no num_leaves", replace("num_leaves=2\n", ""), ErrMalformed, "num_leaves"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(strings.NewReader(tc.text))
			if err == nil {
				t.Fatalf("Load succeeded: %d trees", m.NumTrees())
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Load error %q, want %v mentioning %q", err, tc.is, tc.msg)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	if _, err := LoadFile(filepath.Join(t.TempDir(), "nope.txt")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadFile of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestConcurrentPredict(t *testing.T) {
	fx := loadFixture(t)
	m, err := LoadFile(filepath.Join(testdata, "model.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want := fx.cols["model:prob"]
	var wg sync.WaitGroup
	errs := make(chan int, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < len(fx.rows); i += 8 {
				if math.Abs(m.Predict(fx.rows[i])-want[i]) >= 1e-9 {
					errs <- i
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for i := range errs {
		t.Errorf("row %d mismatched under concurrent use", i)
	}
}

func TestPredictDoesNotAllocate(t *testing.T) {
	fx := loadFixture(t)
	m, err := LoadFile(filepath.Join(testdata, "model_linear.txt"))
	if err != nil {
		t.Fatal(err)
	}
	row := fx.rows[0]
	if n := testing.AllocsPerRun(100, func() { m.Predict(row) }); n != 0 {
		t.Errorf("Predict allocates %v times per call", n)
	}
}

func BenchmarkPredict(b *testing.B) {
	fx := loadFixture(b)
	m, err := LoadFile(filepath.Join(testdata, "model.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(8 * m.NumFeatures()))
	var sink float64
	i := 0
	for b.Loop() {
		sink += m.Predict(fx.rows[i])
		i++
		if i == len(fx.rows) {
			i = 0
		}
	}
	_ = sink
}

func BenchmarkLoad(b *testing.B) {
	text, err := os.ReadFile(filepath.Join(testdata, "model.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := Load(bytes.NewReader(text)); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add(tinyModel)
	f.Add(strings.Replace(tinyModel, "is_linear=0\nshrinkage=0.1", "is_linear=1\nleaf_const=1 2\nnum_features=1 0\nleaf_features=0  \nleaf_coeff=0.5  \nshrinkage=0.1", 1))
	if b, err := os.ReadFile(filepath.Join(testdata, "model_zero_as_missing.txt")); err == nil {
		f.Add(string(b[:min(len(b), 20000)]))
	}
	row := []float64{math.NaN(), 0, 1, -1, 1e300, math.Inf(-1), 33, 2}
	f.Fuzz(func(t *testing.T, text string) {
		m, err := Load(strings.NewReader(text))
		if err != nil {
			if m != nil {
				t.Fatal("Load returned a model with an error")
			}
			return
		}
		x := make([]float64, m.NumFeatures())
		for i := range x {
			x[i] = row[i%len(row)]
		}
		m.Predict(x)
	})
}
