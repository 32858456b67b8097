package riskbench

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// PatternBlocks is the most blocks a generator pattern spans (a takeover: three).
const PatternBlocks = 3

// DefaultHoldoutFrom is the share of a run's blocks before its holdout: the earlier
// blocks only build the entities' feature history, the later ones are judged.
const DefaultHoldoutFrom = 0.5

// Evaluation compares a run's alerts with its labels on a time-based holdout, at the
// entity level (an entity is an address, "<chain id>:0x…"):
//
//   - the holdout is the blocks from HoldoutBlock to the run's last block but the
//     final PatternBlocks (the later blocks of a run generated with a seed the model was
//     not trained on); a pattern that starts in those final blocks may not complete
//     before the run ends, and an incomplete pattern is never labelled, so its victim's
//     alerts there would count as false;
//   - positive: an address a pattern that ran entirely inside the holdout labelled (the
//     generator labels a takeover's or drain's victim, the account that structured, and
//     the three accounts of a round trip; never the fresh recipients or the structuring
//     recipients);
//   - alerted: an address with an alert (risk.alerts) raised by a score of a transfer
//     inside the holdout;
//   - addresses labelled by a pattern that started before the holdout are left out of
//     both: they were known before it (an alert on them is neither a true nor a false
//     positive of the holdout);
//   - precision = positives alerted / alerted; recall = positives alerted / positives.
type Evaluation struct {
	HoldoutBlock uint64    `json:"holdout_block"`
	HoldoutTime  time.Time `json:"holdout_time"`
	LastBlock    uint64    `json:"last_block"`
	Positives    int       `json:"positives"`
	Alerted      int       `json:"alerted"`
	TruePos      int       `json:"true_positives"`
	Precision    float64   `json:"precision"`
	Recall       float64   `json:"recall"`
	// Excluded counts the addresses left out (labelled before the holdout).
	Excluded int `json:"excluded"`
	// ByPattern counts positives and those alerted per pattern kind.
	ByPattern map[string][2]int `json:"by_pattern"`
	// FalsePositives are the alerted addresses that are not positive, with the rules
	// that alerted; Missed the positives not alerted, with their pattern.
	FalsePositives map[string][]string `json:"false_positives,omitempty"`
	Missed         map[string]string   `json:"missed,omitempty"`
}

// String is a one-line summary.
func (e Evaluation) String() string {
	var kinds []string
	for k, v := range e.ByPattern {
		kinds = append(kinds, fmt.Sprintf("%s %d/%d", k, v[1], v[0]))
	}
	slices.Sort(kinds)
	return fmt.Sprintf("holdout blocks %d..%d: %d positives, %d alerted, %d true: precision %.3f recall %.3f (%s; %d excluded)",
		e.HoldoutBlock, e.LastBlock, e.Positives, e.Alerted, e.TruePos, e.Precision, e.Recall,
		strings.Join(kinds, ", "), e.Excluded)
}

// Evaluate reads the run's chain.transfers and risk.alerts and judges the alerts
// against tr's patterns on the holdout from block holdoutBlock (see Evaluation).
func Evaluate(ctx context.Context, brokers []string, topics Topics, tr *Traffic, holdoutBlock uint64) (Evaluation, error) {
	last := tr.LastBlock - PatternBlocks
	e := Evaluation{HoldoutBlock: holdoutBlock, HoldoutTime: tr.TimeOfBlock(holdoutBlock), LastBlock: last,
		ByPattern: map[string][2]int{}, FalsePositives: map[string][]string{}, Missed: map[string]string{}}

	positive := map[string]string{} // entity → pattern kind
	excluded := map[string]bool{}
	for _, p := range tr.Patterns {
		for _, a := range p.Addresses {
			id := chaingen.EntityID(chaingen.ChainID, a)
			switch {
			case p.FirstBlock < holdoutBlock:
				excluded[id] = true
			case p.FirstBlock <= last:
				positive[id] = p.Kind.String()
			}
		}
	}
	for id := range excluded {
		delete(positive, id)
	}

	// The block of every transfer, by event id: an alert's subject.
	blockOf := map[string]uint64{}
	err := ReadTopic(ctx, brokers, topics.Transfers(), func(r *kgo.Record) error {
		var t chainv1.Transfer
		if err := codec.Unmarshal(r.Value, &t); err != nil {
			return fmt.Errorf("riskbench: transfer at %d/%d: %w", r.Partition, r.Offset, err)
		}
		blockOf[t.GetMeta().GetEventId()] = t.GetBlock().GetNumber()
		return nil
	})
	if err != nil {
		return e, err
	}

	alerted := map[string][]string{} // entity → rules
	err = ReadTopic(ctx, brokers, topics.Alerts(), func(r *kgo.Record) error {
		var a riskv1.RiskAlert
		if err := codec.Unmarshal(r.Value, &a); err != nil {
			return fmt.Errorf("riskbench: alert at %d/%d: %w", r.Partition, r.Offset, err)
		}
		if a.GetVersion() != 1 {
			return nil // a re-emission of a raised alert
		}
		block, ok := blockOf[a.GetSubjectEventId()]
		if !ok {
			return fmt.Errorf("riskbench: alert %s: subject %s is no transfer of the run", a.GetAlertId(), a.GetSubjectEventId())
		}
		id := a.GetEntityId()
		if block < holdoutBlock || block > last || excluded[id] {
			return nil
		}
		if !slices.Contains(alerted[id], a.GetRuleId()) {
			alerted[id] = append(alerted[id], a.GetRuleId())
		}
		return nil
	})
	if err != nil {
		return e, err
	}

	e.Positives, e.Alerted, e.Excluded = len(positive), len(alerted), len(excluded)
	for id, kind := range positive {
		c := e.ByPattern[kind]
		c[0]++
		if _, ok := alerted[id]; ok {
			c[1]++
			e.TruePos++
		} else {
			e.Missed[id] = kind
		}
		e.ByPattern[kind] = c
	}
	for id, rules := range alerted {
		if _, ok := positive[id]; !ok {
			e.FalsePositives[id] = rules
		}
	}
	if e.Alerted > 0 {
		e.Precision = float64(e.TruePos) / float64(e.Alerted)
	}
	if e.Positives > 0 {
		e.Recall = float64(e.TruePos) / float64(e.Positives)
	}
	return e, nil
}
