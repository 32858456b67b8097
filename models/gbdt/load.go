package gbdt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// MaxModelSize is the largest model text Load reads: 256 MiB, some hundred times the size of
// a 1,000-tree model with 255 leaves.
const MaxModelSize = 256 << 20

var (
	// ErrMalformed is wrapped by every error about a model text that is not valid LightGBM
	// text format.
	ErrMalformed = errors.New("malformed model")
	// ErrUnsupported is wrapped by the errors about valid models this package does not
	// score: other versions, objectives, multiclass and averaged (random forest) models.
	ErrUnsupported = errors.New("unsupported model")
)

// LoadFile reads a LightGBM text model from path; see Load.
func LoadFile(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gbdt: %w", err)
	}
	defer f.Close()
	m, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return m, nil
}

// Load reads a LightGBM text model (Booster.save_model, version v3 or v4) from r, up to
// MaxModelSize bytes, and checks that every tree is well formed, so that no prediction can
// index out of range or loop. Errors wrap ErrMalformed or ErrUnsupported, or the reader's
// error. It reads r to its end and does not close it.
func Load(r io.Reader) (*Model, error) {
	text, err := io.ReadAll(io.LimitReader(r, MaxModelSize+1))
	if err != nil {
		return nil, fmt.Errorf("gbdt: read model: %w", err)
	}
	if len(text) > MaxModelSize {
		return nil, fmt.Errorf("gbdt: model text over %d bytes: %w", MaxModelSize, ErrMalformed)
	}
	m, err := parse(text)
	if err != nil {
		return nil, fmt.Errorf("gbdt: %w", err)
	}
	sum := sha256.Sum256(text)
	m.version = hex.EncodeToString(sum[:])
	return m, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrMalformed)
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// parse reads the header (key=value lines up to the first "Tree="), then each tree's block
// up to "end of trees"; what follows (feature importances, parameters) is not needed.
func parse(text []byte) (*Model, error) {
	lines := strings.Split(string(text), "\n")
	header := map[string]string{}
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		if strings.HasPrefix(line, "Tree=") || line == "end of trees" {
			break
		}
		k, v, _ := strings.Cut(line, "=")
		if _, dup := header[k]; !dup {
			header[k] = v
		}
	}
	if i == len(lines) {
		return nil, malformed("no trees")
	}
	m, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	for i < len(lines) {
		line := strings.TrimRight(lines[i], "\r")
		switch {
		case line == "end of trees":
			if len(m.trees) == 0 {
				return nil, malformed("no trees")
			}
			return m, nil
		case strings.HasPrefix(line, "Tree="):
			idx := len(m.trees)
			if line != "Tree="+strconv.Itoa(idx) {
				return nil, malformed("tree %d: found %q", idx, line)
			}
			fields := map[string]string{}
			for i++; i < len(lines); i++ {
				line := strings.TrimRight(lines[i], "\r")
				if line == "" || line == "end of trees" || strings.HasPrefix(line, "Tree=") {
					break
				}
				k, v, ok := strings.Cut(line, "=")
				if !ok {
					return nil, malformed("tree %d: line %d: no '=' in %.40q", idx, i+1, line)
				}
				fields[k] = v
			}
			t, err := parseTree(fields, m.features)
			if err != nil {
				return nil, fmt.Errorf("tree %d: %w", idx, err)
			}
			m.trees = append(m.trees, t)
		case line == "":
			i++
		default:
			return nil, malformed("line %d: %.40q between trees", i+1, line)
		}
	}
	return nil, malformed("no end of trees line")
}

func parseHeader(h map[string]string) (*Model, error) {
	switch v := h["version"]; v {
	case "v3", "v4":
	case "":
		return nil, malformed("no version")
	default:
		return nil, unsupported("version %.20q", v)
	}
	if _, ok := h["average_output"]; ok {
		return nil, unsupported("average_output (random forest)")
	}
	for _, k := range []string{"num_class", "num_tree_per_iteration"} {
		if v := h[k]; v != "1" {
			return nil, unsupported("%s=%.20q, want 1", k, v)
		}
	}
	maxIdx, err := strconv.ParseInt(h["max_feature_idx"], 10, 32)
	if err != nil || maxIdx < 0 || maxIdx >= math.MaxInt32-1 {
		return nil, malformed("max_feature_idx=%.20q", h["max_feature_idx"])
	}
	m := &Model{features: int(maxIdx) + 1, sigmoid: 1}
	m.names = strings.Fields(h["feature_names"])
	if len(m.names) != m.features {
		return nil, malformed("feature_names has %d names for max_feature_idx=%d", len(m.names), maxIdx)
	}
	obj := strings.Fields(h["objective"])
	if len(obj) == 0 || obj[0] != "binary" {
		return nil, unsupported("objective %.40q, want binary", h["objective"])
	}
	for _, p := range obj[1:] {
		if s, ok := strings.CutPrefix(p, "sigmoid:"); ok {
			if m.sigmoid, err = strconv.ParseFloat(s, 64); err != nil || !(m.sigmoid > 0) || math.IsInf(m.sigmoid, 0) {
				return nil, malformed("objective sigmoid %.20q", s)
			}
		}
	}
	return m, nil
}

func parseTree(f map[string]string, features int) (tree, error) {
	var t tree
	numLeaves, err := intField(f, "num_leaves")
	if err != nil {
		return t, err
	}
	if numLeaves < 1 {
		return t, malformed("num_leaves=%d", numLeaves)
	}
	if t.leaves, err = floats(f, "leaf_value", numLeaves); err != nil {
		return t, err
	}
	if t.linear = f["is_linear"] == "1"; t.linear {
		if err := parseLinear(&t, f, numLeaves, features); err != nil {
			return t, err
		}
	}
	if numLeaves == 1 {
		return t, nil
	}
	n := numLeaves - 1
	feat, err := ints(f, "split_feature", n)
	if err != nil {
		return t, err
	}
	thr, err := floats(f, "threshold", n)
	if err != nil {
		return t, err
	}
	dt, err := ints(f, "decision_type", n)
	if err != nil {
		return t, err
	}
	left, err := ints(f, "left_child", n)
	if err != nil {
		return t, err
	}
	right, err := ints(f, "right_child", n)
	if err != nil {
		return t, err
	}
	numCat, err := intField(f, "num_cat")
	if err != nil {
		return t, err
	}
	var bounds []int
	if numCat < 0 || numCat > n {
		return t, malformed("num_cat=%d", numCat)
	} else if numCat > 0 {
		if bounds, err = ints(f, "cat_boundaries", numCat+1); err != nil {
			return t, err
		}
		words := strings.Fields(f["cat_threshold"])
		t.catBits = make([]uint32, len(words))
		for i, w := range words {
			v, err := strconv.ParseUint(w, 10, 32)
			if err != nil {
				return t, malformed("cat_threshold[%d]=%.20q", i, w)
			}
			t.catBits[i] = uint32(v)
		}
		if bounds[0] != 0 || bounds[numCat] != len(words) {
			return t, malformed("cat_boundaries %v do not span cat_threshold's %d words", bounds, len(words))
		}
		for c := range numCat {
			if bounds[c] > bounds[c+1] {
				return t, malformed("cat_boundaries %v decrease", bounds)
			}
		}
	}
	t.nodes = make([]node, n)
	for i := range n {
		nd := &t.nodes[i]
		if feat[i] < 0 || feat[i] >= features {
			return t, malformed("split_feature[%d]=%d, model has %d features", i, feat[i], features)
		}
		nd.feature = int32(feat[i])
		if dt[i] < 0 || dt[i] > 127 {
			return t, malformed("decision_type[%d]=%d", i, dt[i])
		}
		categorical := dt[i]&maskCategorical != 0
		nd.defaultLeft = dt[i]&maskDefaultLeft != 0
		nd.missing = uint8(dt[i]>>2) & 3
		if nd.missing > missingNaN {
			return t, malformed("decision_type[%d]=%d: missing type 3", i, dt[i])
		}
		nd.threshold = thr[i]
		switch {
		case categorical:
			nd.kind = kindCategorical
		case nd.missing == missingZero, thr[i] >= -kZeroThreshold && thr[i] < kZeroThreshold, thr[i] != thr[i]:
			nd.kind = kindNumerical
		default:
			nd.kind = kindPlain
			// NaN is 0 for missing type None; NaN is missing for missing type NaN.
			nanLeft := 0 <= thr[i]
			if nd.missing == missingNaN {
				nanLeft = nd.defaultLeft
			}
			nd.nanRight = uint8(b2i(!nanLeft))
		}
		if categorical {
			c := thr[i]
			if !(c >= 0 && c < float64(numCat)) || c != math.Trunc(c) {
				return t, malformed("threshold[%d]=%v is no category set of %d", i, c, numCat)
			}
			nd.catLo, nd.catHi = int32(bounds[int(c)]), int32(bounds[int(c)+1])
		}
		for _, c := range []int{left[i], right[i]} {
			if c >= n || c < -numLeaves {
				return t, malformed("node %d: child %d out of range", i, c)
			}
		}
		nd.child = [2]int32{int32(left[i]), int32(right[i])}
	}
	// Walk from the root: every node and every leaf must be reached exactly once, so the
	// nodes form one tree and a prediction cannot loop.
	seen := make([]bool, n+numLeaves)
	stack := []int32{0}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		k := int(c)
		if c < 0 {
			k = n + int(^c)
		}
		if seen[k] {
			return t, malformed("node or leaf %d reached twice: not a tree", c)
		}
		seen[k] = true
		if c >= 0 {
			stack = append(stack, t.nodes[c].child[0], t.nodes[c].child[1])
		}
	}
	for k, ok := range seen {
		if !ok {
			return t, malformed("node or leaf %d unreachable: not a tree", k)
		}
	}
	return t, nil
}

func parseLinear(t *tree, f map[string]string, numLeaves, features int) error {
	var err error
	if t.linConst, err = floats(f, "leaf_const", numLeaves); err != nil {
		return err
	}
	counts, err := ints(f, "num_features", numLeaves)
	if err != nil {
		return err
	}
	t.linLo = make([]int32, numLeaves+1)
	total := 0
	for i, c := range counts {
		if c < 0 || c > features {
			return malformed("num_features[%d]=%d", i, c)
		}
		total += c
		t.linLo[i+1] = int32(total)
	}
	feat, err := ints(f, "leaf_features", total)
	if err != nil {
		return err
	}
	t.linFeat = make([]int32, total)
	for i, v := range feat {
		if v < 0 || v >= features {
			return malformed("leaf_features[%d]=%d, model has %d features", i, v, features)
		}
		t.linFeat[i] = int32(v)
	}
	t.linCoeff, err = floats(f, "leaf_coeff", total)
	return err
}

func intField(f map[string]string, key string) (int, error) {
	v, ok := f[key]
	if !ok {
		return 0, malformed("no %s", key)
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0, malformed("%s=%.20q", key, v)
	}
	return int(n), nil
}

func ints(f map[string]string, key string, want int) ([]int, error) {
	words, err := fields(f, key, want)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(words))
	for i, w := range words {
		v, err := strconv.ParseInt(w, 10, 32)
		if err != nil {
			return nil, malformed("%s[%d]=%.20q", key, i, w)
		}
		out[i] = int(v)
	}
	return out, nil
}

func floats(f map[string]string, key string, want int) ([]float64, error) {
	words, err := fields(f, key, want)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(words))
	for i, w := range words {
		v, err := strconv.ParseFloat(w, 64)
		if err != nil {
			return nil, malformed("%s[%d]=%.20q", key, i, w)
		}
		out[i] = v
	}
	return out, nil
}

func fields(f map[string]string, key string, want int) ([]string, error) {
	v, ok := f[key]
	if !ok {
		if want == 0 {
			return nil, nil
		}
		return nil, malformed("no %s", key)
	}
	words := strings.Fields(v)
	if len(words) != want {
		return nil, malformed("%s has %d values, want %d", key, len(words), want)
	}
	return words, nil
}
