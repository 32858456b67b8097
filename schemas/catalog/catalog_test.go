package catalog

import (
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/weirhq/weir/schemas/codec" // links every generated event type into the registry
)

var nameRE = regexp.MustCompile(`^[a-z]+(\.[a-z0-9]+(-[a-z0-9]+)*)+$`)

func TestAllIsValid(t *testing.T) {
	topics := All()
	if err := Validate(topics); err != nil {
		t.Fatal(err)
	}
	for _, tp := range topics {
		if !nameRE.MatchString(tp.Name) {
			t.Errorf("%s: not a lowercase dotted name (family.stream)", tp.Name)
		}
		if strings.HasSuffix(tp.Name, DLQSuffix) {
			t.Errorf("%s: dead-letter topics are derived, not listed", tp.Name)
		}
		switch tp.Partitions {
		case single, narrow, wide:
		default:
			t.Errorf("%s: %d partitions; use one of the documented counts", tp.Name, tp.Partitions)
		}
		if tp.Doc == "" {
			t.Errorf("%s: no Doc", tp.Name)
		}
		if tp.Compacted && tp.Retention != 0 {
			t.Errorf("%s: compacted with a retention, which would be ignored", tp.Name)
		}
	}
}

func TestEveryValueIsARegisteredEventMessage(t *testing.T) {
	for _, tp := range All() {
		mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(tp.Value))
		if err != nil {
			t.Errorf("%s: value %q is not a registered protobuf message: %v", tp.Name, tp.Value, err)
			continue
		}
		meta := mt.Descriptor().Fields().ByNumber(1)
		if meta == nil || meta.Name() != "meta" || meta.Message() == nil || meta.Message().FullName() != "weir.common.v1.Meta" {
			t.Errorf("%s: value %s has no `weir.common.v1.Meta meta = 1`", tp.Name, tp.Value)
		}
		if _, err := codec.New(tp.Value); err != nil {
			t.Errorf("%s: codec cannot decode %s: %v", tp.Name, tp.Value, err)
		}
	}
}

func TestEveryEventHasATopic(t *testing.T) {
	count := make(map[string]int)
	for _, tp := range All() {
		count[tp.Value]++
	}
	for _, name := range codec.Names() {
		if count[name] != 1 {
			t.Errorf("event %s is the value of %d topics, want exactly 1", name, count[name])
		}
	}
}

func TestCoPartitioning(t *testing.T) {
	// Topics with the same key are joined by processors: they need the same count.
	byKey := make(map[string]Topic)
	for _, tp := range All() {
		key := strings.Fields(tp.Key)[0] + " " + strings.Fields(tp.Key)[1]
		if other, ok := byKey[key]; ok && other.Partitions != tp.Partitions {
			t.Errorf("%s and %s are both keyed by %s but have %d and %d partitions",
				other.Name, tp.Name, key, other.Partitions, tp.Partitions)
		}
		byKey[key] = tp
	}
}

func TestLedgerTopics(t *testing.T) {
	want := map[string]Topic{
		"ledger.postings": {Name: "ledger.postings", Key: "account id", Value: "weir.ledger.v1.Posting",
			Partitions: 12, DLQ: true},
		"ledger.account-totals.1m": {Name: "ledger.account-totals.1m", Key: "account id",
			Value: "weir.ledger.v1.AccountWindowTotal", Partitions: 12, Retention: 30 * day},
	}
	for _, tp := range All() {
		w, ok := want[tp.Name]
		if !ok {
			continue
		}
		delete(want, tp.Name)
		tp.Doc = ""
		if tp != w {
			t.Errorf("%s = %+v, want %+v", tp.Name, tp, w)
		}
	}
	for name := range want {
		t.Errorf("%s is missing", name)
	}
}

func TestAllReturnsACopy(t *testing.T) {
	a := All()
	a[0].Name = "changed"
	a[0].Partitions = 99
	if b := All(); b[0].Name == "changed" || b[0].Partitions == 99 {
		t.Fatal("All returned shared state")
	}
}

func TestWithPrefix(t *testing.T) {
	in := All()
	out := WithPrefix("test-1.", in)
	if in[0].Name == out[0].Name {
		t.Fatal("WithPrefix modified its input")
	}
	for i := range out {
		if out[i].Name != "test-1."+in[i].Name {
			t.Fatalf("out[%d].Name = %q", i, out[i].Name)
		}
		if in[i].DLQ && out[i].DLQName() != "test-1."+in[i].DLQName() {
			t.Fatalf("DLQ name %q does not follow the prefix", out[i].DLQName())
		}
	}
	if err := Validate(out); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	ok := Topic{Name: "a.b", Key: "k", Value: "v", Partitions: 1}
	mod := func(f func(*Topic)) Topic { t := ok; f(&t); return t }
	tests := []struct {
		name   string
		topics []Topic
		want   string // substring of the error; empty means valid
	}{
		{"ok", []Topic{ok}, ""},
		{"ok with dlq", []Topic{mod(func(t *Topic) { t.DLQ = true })}, ""},
		{"empty list", nil, ""},
		{"empty name", []Topic{mod(func(t *Topic) { t.Name = "" })}, "empty name"},
		{"dot", []Topic{mod(func(t *Topic) { t.Name = "." })}, "may not be"},
		{"dotdot", []Topic{mod(func(t *Topic) { t.Name = ".." })}, "may not be"},
		{"space", []Topic{mod(func(t *Topic) { t.Name = "a b" })}, "not allowed"},
		{"slash", []Topic{mod(func(t *Topic) { t.Name = "a/b" })}, "not allowed"},
		{"unicode", []Topic{mod(func(t *Topic) { t.Name = "é" })}, "not allowed"},
		{"249 chars", []Topic{mod(func(t *Topic) { t.Name = strings.Repeat("a", 249) })}, ""},
		{"250 chars", []Topic{mod(func(t *Topic) { t.Name = strings.Repeat("a", 250) })}, "longer than 249"},
		{"dlq name too long", []Topic{mod(func(t *Topic) { t.Name = strings.Repeat("a", 246); t.DLQ = true })}, "longer than 249"},
		{"duplicate", []Topic{ok, ok}, "listed twice"},
		{"dot underscore collision", []Topic{ok, mod(func(t *Topic) { t.Name = "a_b" })}, "collide"},
		{"dlq collides with a listed topic", []Topic{mod(func(t *Topic) { t.DLQ = true }), mod(func(t *Topic) { t.Name = "a.b.dlq" })}, "listed twice"},
		{"no key", []Topic{mod(func(t *Topic) { t.Key = "" })}, "no key"},
		{"no value", []Topic{mod(func(t *Topic) { t.Value = "" })}, "no value"},
		{"zero partitions", []Topic{mod(func(t *Topic) { t.Partitions = 0 })}, "partitions"},
		{"negative retention", []Topic{mod(func(t *Topic) { t.Retention = -time.Hour })}, "negative retention"},
		{"sub-millisecond retention", []Topic{mod(func(t *Topic) { t.Retention = time.Microsecond })}, "under a millisecond"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.topics)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestDLQTopic(t *testing.T) {
	tests := []struct {
		name          string
		in            Topic
		wantRetention time.Duration
	}{
		{"short retention is raised", Topic{Retention: 7 * day}, DLQRetention},
		{"long retention is kept", Topic{Retention: 90 * day}, 90 * day},
		{"forever stays forever", Topic{}, 0},
		{"compacted gets the minimum", Topic{Compacted: true}, DLQRetention},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Name, tt.in.Key, tt.in.Value, tt.in.Partitions, tt.in.DLQ = "x.y", "k", "v", 6, true
			d := tt.in.DLQTopic()
			if d.Name != "x.y.dlq" || d.Key != "k" || d.Value != "v" || d.Partitions != 6 || d.Compacted || d.DLQ {
				t.Fatalf("DLQTopic = %+v", d)
			}
			if d.Retention != tt.wantRetention {
				t.Fatalf("retention %v, want %v", d.Retention, tt.wantRetention)
			}
		})
	}
}

func TestConfigs(t *testing.T) {
	tests := []struct {
		in   Topic
		want string
	}{
		{Topic{Retention: 7 * day}, "cleanup.policy=delete, retention.ms=604800000"},
		{Topic{}, "cleanup.policy=delete, retention.ms=-1"},
		{Topic{Compacted: true, Retention: time.Hour}, "cleanup.policy=compact"},
		{Topic{Retention: 1500 * time.Microsecond}, "cleanup.policy=delete, retention.ms=1"},
	}
	for _, tt := range tests {
		if got := formatConfigs(tt.in.Configs()); got != tt.want {
			t.Errorf("Configs(%+v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestPlan(t *testing.T) {
	tp := Topic{Name: "a.b", Key: "k", Value: "v", Partitions: 6, Retention: 7 * day}
	match := map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000", "segment.ms": "1"}
	with := func(o observed, f func(*observed)) observed {
		o.configs = maps.Clone(o.configs)
		f(&o)
		return o
	}
	good := observed{exists: true, ready: true, partitions: 6, configs: match}
	tests := []struct {
		name      string
		state     observed
		wantSteps []string
		wantNotes []string
	}{
		{"matches", good, nil, nil},
		{"missing", observed{}, []string{"create a.b: 6 partitions, cleanup.policy=delete, retention.ms=604800000"}, nil},
		{"not ready", observed{exists: true}, []string{"wait a.b: topic not ready"}, nil},
		{"fewer partitions", with(good, func(o *observed) { o.partitions = 3 }),
			[]string{"add-partitions a.b: partitions 3 -> 6"}, nil},
		{"more partitions", with(good, func(o *observed) { o.partitions = 8 }), nil,
			[]string{"note a.b: has 8 partitions, catalogue says 6; partitions are never removed, left as is"}},
		{"retention drift", with(good, func(o *observed) { o.configs["retention.ms"] = "1000" }),
			[]string{"alter-config a.b: retention.ms=604800000 (was 1000)"}, nil},
		{"policy and retention drift", with(good, func(o *observed) {
			o.configs["cleanup.policy"] = "compact"
			delete(o.configs, "retention.ms")
		}), []string{"alter-config a.b: cleanup.policy=delete (was compact), retention.ms=604800000 (was unset)"}, nil},
		{"unmanaged config differs", with(good, func(o *observed) { o.configs["segment.ms"] = "5" }), nil, nil},
		{"partitions and drift", with(good, func(o *observed) { o.partitions = 1; o.configs["retention.ms"] = "-1" }),
			[]string{"add-partitions a.b: partitions 1 -> 6", "alter-config a.b: retention.ms=604800000 (was -1)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps, notes := plan([]Topic{tp}, map[string]observed{"a.b": tt.state})
			var got []string
			for _, s := range steps {
				got = append(got, s.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantSteps, "\n") {
				t.Errorf("steps:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantSteps, "\n"))
			}
			got = nil
			for _, n := range notes {
				got = append(got, n.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantNotes, "\n") {
				t.Errorf("notes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantNotes, "\n"))
			}
		})
	}
}
