package gbdt

import (
	"fmt"
	"math"
)

// kZeroThreshold is LightGBM's zero threshold: the C++ source declares it as the float
// literal 1e-35f, so its value is float32(1e-35) widened to float64.
const kZeroThreshold = float64(float32(1e-35))

// Missing types of a numerical split, bits 2-3 of LightGBM's decision_type.
const (
	missingNone uint8 = 0
	missingZero uint8 = 1
	missingNaN  uint8 = 2
)

// Bits of LightGBM's decision_type.
const (
	maskCategorical = 1
	maskDefaultLeft = 2
)

// Model is a LightGBM binary classifier loaded from its text format. It is immutable once
// loaded and safe for concurrent use by any number of goroutines.
type Model struct {
	version  string
	names    []string
	sigmoid  float64
	trees    []tree
	features int
}

// node is one split. A child >= 0 is a node index; a child < 0 is leaf ^child.
type node struct {
	threshold   float64 // numerical: value threshold
	feature     int32
	child       [2]int32 // left, right
	catLo       int32    // categorical: bitset words catBits[catLo:catHi]
	catHi       int32
	kind        uint8
	defaultLeft bool
	nanRight    uint8 // kindPlain: 1 when NaN goes right, else 0
	missing     uint8
}

// Kinds of node. A plain node is numerical, not of missing type Zero, and its threshold is
// outside [-kZeroThreshold, kZeroThreshold), so that mapping tiny values to 0 cannot change
// its decision and NaN always goes one way (nanRight): it takes one comparison, which is the
// common case worth making fast.
const (
	kindPlain uint8 = iota
	kindNumerical
	kindCategorical
)

type tree struct {
	nodes   []node
	leaves  []float64
	catBits []uint32
	// linear trees only: leaf i adds sum(coeff[j]*x[feat[j]]) over j in [linLo[i], linLo[i+1])
	// to linConst[i].
	linear   bool
	linConst []float64
	linLo    []int32
	linFeat  []int32
	linCoeff []float64
}

// NumFeatures returns the number of features a row must have: max_feature_idx+1.
func (m *Model) NumFeatures() int { return m.features }

// NumTrees returns the number of trees, all of which every prediction sums.
func (m *Model) NumTrees() int { return len(m.trees) }

// FeatureNames returns a copy of the feature names in the model's column order.
func (m *Model) FeatureNames() []string { return append([]string(nil), m.names...) }

// Version returns the lowercase hex SHA-256 of the model file's bytes, as sha256sum prints
// it, so a score stamped with it names exactly one model text.
func (m *Model) Version() string { return m.version }

// PredictRaw returns the raw score of one row: the sum of every tree's output, as LightGBM's
// predict(raw_score=True). x holds the row in FeatureNames order, NaN for missing.
// It panics if len(x) != NumFeatures(). It does not allocate.
func (m *Model) PredictRaw(x []float64) float64 {
	if len(x) != m.features {
		panic(fmt.Sprintf("gbdt: row has %d features, model has %d", len(x), m.features))
	}
	// Four trees are walked side by side: a walk is a chain of dependent loads, and four
	// independent chains let the CPU overlap them. The sum still adds the trees in order.
	var sum float64
	trees := m.trees
	for len(trees) >= 4 {
		t0, t1, t2, t3 := &trees[0], &trees[1], &trees[2], &trees[3]
		i0, i1, i2, i3 := t0.root(), t1.root(), t2.root(), t3.root()
		for i0&i1&i2&i3 >= 0 { // some walk is not at a leaf yet
			if i0 >= 0 {
				n := &t0.nodes[i0]
				if v := x[n.feature]; n.kind == kindPlain {
					i0 = n.child[b2i(v > n.threshold)|b2i(!(v <= n.threshold))&int32(n.nanRight)]
				} else {
					i0 = t0.decide(n, v)
				}
			}
			if i1 >= 0 {
				n := &t1.nodes[i1]
				if v := x[n.feature]; n.kind == kindPlain {
					i1 = n.child[b2i(v > n.threshold)|b2i(!(v <= n.threshold))&int32(n.nanRight)]
				} else {
					i1 = t1.decide(n, v)
				}
			}
			if i2 >= 0 {
				n := &t2.nodes[i2]
				if v := x[n.feature]; n.kind == kindPlain {
					i2 = n.child[b2i(v > n.threshold)|b2i(!(v <= n.threshold))&int32(n.nanRight)]
				} else {
					i2 = t2.decide(n, v)
				}
			}
			if i3 >= 0 {
				n := &t3.nodes[i3]
				if v := x[n.feature]; n.kind == kindPlain {
					i3 = n.child[b2i(v > n.threshold)|b2i(!(v <= n.threshold))&int32(n.nanRight)]
				} else {
					i3 = t3.decide(n, v)
				}
			}
		}
		sum += t0.output(int(^i0), x)
		sum += t1.output(int(^i1), x)
		sum += t2.output(int(^i2), x)
		sum += t3.output(int(^i3), x)
		trees = trees[4:]
	}
	for i := range trees {
		sum += trees[i].output(trees[i].leaf(x), x)
	}
	return sum
}

// Predict returns the probability of the positive class, 1/(1+exp(-sigmoid*raw)), as
// LightGBM's predict. See PredictRaw for x. It does not allocate.
func (m *Model) Predict(x []float64) float64 {
	return 1 / (1 + math.Exp(-m.sigmoid*m.PredictRaw(x)))
}

// value returns x as LightGBM's dense-row conversion passes it to the trees: magnitudes
// within kZeroThreshold (and -0) become 0.
func value(x float64) float64 {
	if x >= -kZeroThreshold && x <= kZeroThreshold {
		return 0
	}
	return x
}

// root returns the node a walk starts at: node 0, or leaf 0 (^0) in a tree of one leaf.
func (t *tree) root() int32 {
	if len(t.nodes) == 0 {
		return ^0
	}
	return 0
}

func (t *tree) leaf(x []float64) int {
	i := t.root()
	for i >= 0 {
		i = t.step(i, x)
	}
	return int(^i)
}

// step returns the child of node i that row x goes to. PredictRaw has it written out by
// hand four times, for the compiler does not inline it.
func (t *tree) step(i int32, x []float64) int32 {
	n := &t.nodes[i]
	v := x[n.feature]
	if n.kind != kindPlain {
		return t.decide(n, v)
	}
	// Right when v > threshold, or when v is NaN and NaN goes right; computed without
	// branches, for the decisions are data-dependent coin flips that a branch predictor
	// mostly gets wrong.
	return n.child[b2i(v > n.threshold)|b2i(!(v <= n.threshold))&int32(n.nanRight)]
}

// decide is LightGBM's Tree::Decision.
func (t *tree) decide(n *node, v float64) int32 {
	v = value(v)
	if n.kind == kindCategorical {
		// static_cast<int> of NaN, of +-inf and of values beyond int32 is INT_MIN on the
		// x86-64 builds of LightGBM: they go right, as negative categories do.
		if v > -1 && v < 2147483648 {
			c := int32(v)
			if w := n.catLo + c/32; w < n.catHi && t.catBits[w]>>(c%32)&1 == 1 {
				return n.child[0]
			}
		}
		return n.child[1]
	}
	if v != v { // NaN
		if n.missing == missingNaN {
			return n.to(n.defaultLeft)
		}
		v = 0
	}
	if n.missing == missingZero && v == 0 {
		return n.to(n.defaultLeft)
	}
	return n.to(v <= n.threshold)
}

func (n *node) to(left bool) int32 {
	return n.child[b2i(!left)]
}

func b2i(b bool) int32 {
	var i int32
	if b {
		i = 1
	}
	return i
}

// output returns the tree's output for row x, which reached leaf l.
func (t *tree) output(l int, x []float64) float64 {
	if !t.linear {
		return t.leaves[l]
	}
	out := t.linConst[l]
	for j := t.linLo[l]; j < t.linLo[l+1]; j++ {
		v := value(x[t.linFeat[j]])
		if v != v {
			return t.leaves[l]
		}
		out += float64(t.linCoeff[j] * v) // the conversion forbids a fused multiply-add
	}
	return out
}
