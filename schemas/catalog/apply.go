package catalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Actions of a Change.
const (
	// ActionCreate: the topic was created.
	ActionCreate = "create"
	// ActionAddPartitions: the topic's partition count was raised.
	ActionAddPartitions = "add-partitions"
	// ActionAlterConfig: topic configs were set (incrementally; others untouched).
	ActionAlterConfig = "alter-config"
	// ActionNote: nothing was changed, but the cluster differs from the catalogue in a way
	// Apply will not fix (a topic with more partitions than listed: Kafka cannot lower it).
	ActionNote = "note"
)

// ConvergeTimeout bounds how long Apply waits, after making changes, for the cluster's
// metadata and configs to show them (Kafka applies them asynchronously), unless ctx ends
// first.
const ConvergeTimeout = 30 * time.Second

// pollInterval is how often Apply re-reads the cluster while waiting for changes to show.
const pollInterval = 100 * time.Millisecond

// Change is one thing Apply did (or, for ActionNote, found and left alone).
type Change struct {
	// Topic is the topic's name.
	Topic string
	// Action is one of the Action* constants.
	Action string
	// Detail says what exactly, e.g. "12 partitions, cleanup.policy=delete,
	// retention.ms=604800000" or "partitions 6 -> 12".
	Detail string
}

// String returns "<action> <topic>: <detail>".
func (c Change) String() string { return c.Action + " " + c.Topic + ": " + c.Detail }

// Apply makes the cluster behind adm match topics: it creates missing topics (and the
// dead-letter topics of those with DLQ set) with their partition count, cleanup.policy and
// retention.ms, and the broker's default replication factor; it raises partition counts
// that are lower than listed; and it sets cleanup.policy / retention.ms where they differ
// (incremental alter configs, so other configs are left alone). It never deletes a topic
// and never lowers a partition count; a topic with more partitions than listed is reported
// as an ActionNote.
//
// Apply is idempotent: once it has returned without error, calling it again with the
// same topics returns no Change other than notes. It validates topics first (see
// Validate) and changes nothing when they are invalid. After making changes it waits —
// blocking, up to ConvergeTimeout or until ctx ends — until the cluster reports them, so
// producers started afterwards find their topics. Several Apply calls may run at once
// against one cluster (a topic created by another caller is not reported as a change);
// Apply itself only reads adm, which is safe for concurrent use.
//
// The returned changes are in the order they were made, notes last. On error, the
// changes made before the error are returned with it.
func Apply(ctx context.Context, adm *kadm.Client, topics []Topic) ([]Change, error) {
	if err := Validate(topics); err != nil {
		return nil, err
	}
	want := expand(topics)
	names := make([]string, len(want))
	for i, t := range want {
		names[i] = t.Name
	}

	ctx, cancel := context.WithTimeout(ctx, ConvergeTimeout)
	defer cancel()

	var (
		changes []Change
		tried   = make(map[string]bool) // steps already executed, by step key
	)
	for {
		state, err := observe(ctx, adm, names)
		if err != nil {
			return changes, err
		}
		steps, notes := plan(want, state)
		if len(steps) == 0 {
			return append(changes, notes...), nil
		}
		var todo []step
		for _, s := range steps {
			if !tried[s.key()] {
				todo = append(todo, s)
			}
		}
		if len(todo) == 0 {
			// Everything was done; wait for the cluster to show it.
			t := time.NewTimer(pollInterval)
			select {
			case <-ctx.Done():
				t.Stop()
				return changes, fmt.Errorf("catalog: cluster does not show %d change(s) yet (first: %s): %w",
					len(steps), steps[0].Change, ctx.Err())
			case <-t.C:
			}
			continue
		}
		for _, s := range todo {
			tried[s.key()] = true
			done, err := execute(ctx, adm, s)
			if err != nil {
				return changes, err
			}
			if done {
				changes = append(changes, s.Change)
			}
		}
	}
}

// observed is what the cluster holds for one topic.
type observed struct {
	exists     bool
	ready      bool              // metadata has no (retriable) error yet
	partitions int               // when ready
	configs    map[string]string // managed configs, when exists
}

// observe reads the topics' metadata and managed configs, bypassing the client's metadata
// cache (which may be seconds old) so that Apply sees its own changes.
func observe(ctx context.Context, adm *kadm.Client, names []string) (map[string]observed, error) {
	details, err := adm.ListTopics(kadm.WithAuthorizedOps(ctx), names...)
	if err != nil {
		return nil, fmt.Errorf("catalog: list topics: %w", err)
	}
	state := make(map[string]observed, len(names))
	var existing []string
	for _, name := range names {
		d, ok := details[name]
		switch {
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			state[name] = observed{}
			continue
		case d.Err != nil && !kerr.IsRetriable(d.Err):
			return nil, fmt.Errorf("catalog: describe topic %s: %w", name, d.Err)
		}
		state[name] = observed{exists: true, ready: d.Err == nil, partitions: len(d.Partitions)}
		existing = append(existing, name)
	}
	if len(existing) == 0 {
		return state, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, existing...)
	if err != nil {
		return nil, fmt.Errorf("catalog: describe topic configs: %w", err)
	}
	for _, rc := range rcs {
		o, ok := state[rc.Name]
		if !ok {
			continue
		}
		if rc.Err != nil {
			if kerr.IsRetriable(rc.Err) || errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
				o.ready = false // just created, configs not served yet
				state[rc.Name] = o
				continue
			}
			return nil, fmt.Errorf("catalog: describe configs of %s: %w", rc.Name, rc.Err)
		}
		o.configs = make(map[string]string)
		for _, c := range rc.Configs {
			if c.Value != nil {
				o.configs[c.Key] = *c.Value
			}
		}
		state[rc.Name] = o
	}
	return state, nil
}

type stepKind int

const (
	stepCreate stepKind = iota
	stepPartitions
	stepConfig
	stepWait // the topic exists but is not ready: nothing to do but wait
)

// step is one change to make.
type step struct {
	Change
	kind       stepKind
	partitions int32
	configs    map[string]string
}

func (s step) key() string { return s.Topic + "\x00" + s.Action + "\x00" + s.Detail }

// plan compares the wanted topics with the observed state and returns the steps that make
// them match, in catalogue order, and the notes about differences it will not fix. It is
// pure: the same inputs give the same outputs.
func plan(want []Topic, state map[string]observed) (steps []step, notes []Change) {
	for _, t := range want {
		o := state[t.Name]
		cfg := t.Configs()
		if !o.exists {
			steps = append(steps, step{
				Change: Change{Topic: t.Name, Action: ActionCreate,
					Detail: fmt.Sprintf("%d partitions, %s", t.Partitions, formatConfigs(cfg))},
				kind: stepCreate, partitions: t.Partitions, configs: cfg,
			})
			continue
		}
		if !o.ready || o.configs == nil {
			steps = append(steps, step{
				Change: Change{Topic: t.Name, Action: "wait", Detail: "topic not ready"},
				kind:   stepWait,
			})
			continue
		}
		switch have := int32(o.partitions); {
		case have < t.Partitions:
			steps = append(steps, step{
				Change: Change{Topic: t.Name, Action: ActionAddPartitions,
					Detail: fmt.Sprintf("partitions %d -> %d", have, t.Partitions)},
				kind: stepPartitions, partitions: t.Partitions,
			})
		case have > t.Partitions:
			notes = append(notes, Change{Topic: t.Name, Action: ActionNote,
				Detail: fmt.Sprintf("has %d partitions, catalogue says %d; partitions are never removed, left as is", have, t.Partitions)})
		}
		drift := make(map[string]string)
		var was []string
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			if v, ok := o.configs[k]; !ok || v != cfg[k] {
				drift[k] = cfg[k]
				was = append(was, fmt.Sprintf("%s=%s (was %s)", k, cfg[k], orUnset(v, ok)))
			}
		}
		if len(drift) > 0 {
			steps = append(steps, step{
				Change: Change{Topic: t.Name, Action: ActionAlterConfig, Detail: strings.Join(was, ", ")},
				kind:   stepConfig, configs: drift,
			})
		}
	}
	return steps, notes
}

func orUnset(v string, ok bool) string {
	if !ok {
		return "unset"
	}
	return v
}

func formatConfigs(cfg map[string]string) string {
	parts := make([]string, 0, len(cfg))
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		parts = append(parts, k+"="+cfg[k])
	}
	return strings.Join(parts, ", ")
}

// execute makes one change. It reports false, without error, when there was nothing to
// do after all (another caller created the topic first, or the step is a wait).
func execute(ctx context.Context, adm *kadm.Client, s step) (bool, error) {
	switch s.kind {
	case stepCreate:
		cfg := make(map[string]*string, len(s.configs))
		for k, v := range s.configs {
			cfg[k] = kadm.StringPtr(v)
		}
		resp, err := adm.CreateTopic(ctx, s.partitions, -1, cfg, s.Topic)
		switch {
		case errors.Is(err, kerr.TopicAlreadyExists):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("catalog: create topic %s: %w%s", s.Topic, err, msg(resp.ErrMessage))
		}
		return true, nil
	case stepPartitions:
		resps, err := adm.UpdatePartitions(ctx, int(s.partitions), s.Topic)
		if err == nil {
			r := resps[s.Topic]
			if err = r.Err; err != nil {
				err = fmt.Errorf("%w%s", err, msg(r.ErrMessage))
			}
		}
		if err != nil {
			return false, fmt.Errorf("catalog: raise partitions of %s to %d: %w", s.Topic, s.partitions, err)
		}
		return true, nil
	case stepConfig:
		var alter []kadm.AlterConfig
		for _, k := range slices.Sorted(maps.Keys(s.configs)) {
			alter = append(alter, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: kadm.StringPtr(s.configs[k])})
		}
		resps, err := adm.AlterTopicConfigs(ctx, alter, s.Topic)
		if err == nil {
			for _, r := range resps {
				if r.Err != nil {
					err = fmt.Errorf("%w%s", r.Err, msg(r.ErrMessage))
					break
				}
			}
		}
		if err != nil {
			return false, fmt.Errorf("catalog: alter configs of %s: %w", s.Topic, err)
		}
		return true, nil
	}
	return false, nil
}

func msg(m string) string {
	if m == "" {
		return ""
	}
	return " (" + m + ")"
}
