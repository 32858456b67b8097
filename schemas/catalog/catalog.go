// Package catalog is the topic catalogue: every Kafka topic weir reads or writes, with
// its key, value type, partition count, retention or compaction, and whether it has a
// dead-letter topic.
//
// All returns the catalogue as a fresh slice: there is no package-level registry to
// mutate. Apply makes a cluster match a list of topics (creating topics and their
// dead-letter topics, raising partition counts, repairing retention and cleanup configs),
// idempotently. WithPrefix renames topics, for tests and for environments that share a
// cluster.
package catalog

import (
	"fmt"
	"strings"
	"time"
)

// DLQSuffix is appended to a topic's name to form its dead-letter topic.
const DLQSuffix = ".dlq"

// DLQRetention is the shortest retention of a dead-letter topic: a poisoned record waits at
// least this long for someone to look at it and replay it.
const DLQRetention = 30 * 24 * time.Hour

// Topic describes one Kafka topic.
type Topic struct {
	// Name is the topic name, e.g. "ledger.postings".
	Name string
	// Key says what the record key is (e.g. "account id"); all state for a key lives on
	// one partition.
	Key string
	// Value is the fully qualified protobuf message name of the record value.
	Value string
	// Partitions is the partition count. Apply never lowers it (Kafka cannot).
	Partitions int32
	// Retention is how long records are kept; zero means forever. Ignored when
	// Compacted is set.
	Retention time.Duration
	// Compacted selects cleanup.policy=compact (latest value per key kept).
	Compacted bool
	// DLQ says the topic has a dead-letter topic Name+".dlq" for records that cannot be
	// decoded or processed.
	DLQ bool
	// Doc says who writes the topic and who reads it; for people, not machines.
	Doc string
}

// DLQName returns the name of t's dead-letter topic.
func (t Topic) DLQName() string { return t.Name + DLQSuffix }

// DLQTopic returns t's dead-letter topic: named DLQName, with t's key, value type and
// partition count (so a record keeps its partition when replayed), never compacted (every
// poisoned record is kept), retained as long as t but at least DLQRetention, and without a
// DLQ of its own. Records in it are the original bytes, which may not decode as Value;
// the runtime puts the error in the record headers.
func (t Topic) DLQTopic() Topic {
	retention := DLQRetention
	if !t.Compacted && (t.Retention == 0 || t.Retention > DLQRetention) {
		retention = t.Retention
	}
	return Topic{
		Name:       t.DLQName(),
		Key:        t.Key,
		Value:      t.Value,
		Partitions: t.Partitions,
		Retention:  retention,
		Doc:        "dead letters of " + t.Name,
	}
}

// Configs returns the topic configs Apply manages for t: cleanup.policy, and retention.ms
// for a topic that is not compacted ("-1" when Retention is zero). Other configs are left
// to the broker's defaults.
func (t Topic) Configs() map[string]string {
	if t.Compacted {
		return map[string]string{"cleanup.policy": "compact"}
	}
	ms := int64(-1)
	if t.Retention > 0 {
		ms = t.Retention.Milliseconds()
	}
	return map[string]string{
		"cleanup.policy": "delete",
		"retention.ms":   fmt.Sprint(ms),
	}
}

// WithPrefix returns a copy of topics with prefix prepended to every name (dead-letter
// names follow, as they derive from the name). topics is not modified.
func WithPrefix(prefix string, topics []Topic) []Topic {
	out := make([]Topic, len(topics))
	for i, t := range topics {
		t.Name = prefix + t.Name
		out[i] = t
	}
	return out
}

// maxNameLen is Kafka's limit on topic names.
const maxNameLen = 249

// Validate checks topics before they are applied: every name (and dead-letter name) is a
// legal Kafka topic name and unique — also after Kafka's folding of '.' into '_', which
// would make two names collide in metrics —, Key and Value are set, Partitions is
// positive and Retention is not negative or shorter than a millisecond. It returns the
// first problem found.
func Validate(topics []Topic) error {
	seen := make(map[string]string)
	for _, t := range expand(topics) {
		if err := validName(t.Name); err != nil {
			return fmt.Errorf("catalog: topic %q: %w", t.Name, err)
		}
		folded := strings.ReplaceAll(t.Name, ".", "_")
		if other, dup := seen[folded]; dup {
			if other == t.Name {
				return fmt.Errorf("catalog: topic %q is listed twice", t.Name)
			}
			return fmt.Errorf("catalog: topics %q and %q collide (Kafka treats '.' and '_' alike)", other, t.Name)
		}
		seen[folded] = t.Name
		switch {
		case t.Key == "":
			return fmt.Errorf("catalog: topic %q: no key described", t.Name)
		case t.Value == "":
			return fmt.Errorf("catalog: topic %q: no value type", t.Name)
		case t.Partitions < 1:
			return fmt.Errorf("catalog: topic %q: %d partitions, want at least 1", t.Name, t.Partitions)
		case t.Retention < 0:
			return fmt.Errorf("catalog: topic %q: negative retention %v", t.Name, t.Retention)
		case t.Retention > 0 && t.Retention < time.Millisecond:
			return fmt.Errorf("catalog: topic %q: retention %v is under a millisecond", t.Name, t.Retention)
		}
	}
	return nil
}

func validName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty name")
	case name == "." || name == "..":
		return fmt.Errorf("name may not be %q", name)
	case len(name) > maxNameLen:
		return fmt.Errorf("name longer than %d characters", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("character %q is not allowed (only ASCII letters, digits, '.', '_', '-')", c)
		}
	}
	return nil
}

// expand returns topics followed by the dead-letter topics of those that have one.
func expand(topics []Topic) []Topic {
	out := make([]Topic, 0, len(topics)*2)
	out = append(out, topics...)
	for _, t := range topics {
		if t.DLQ {
			out = append(out, t.DLQTopic())
		}
	}
	return out
}
