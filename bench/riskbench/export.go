package riskbench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/weirhq/weir/internal/kafkaread"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// ReadTopic calls fn with every committed record of topic: kafkaread.Committed.
func ReadTopic(ctx context.Context, brokers []string, topic string, fn func(*kgo.Record) error) error {
	return kafkaread.Committed(ctx, brokers, topic, fn)
}

// Export writes the training input of models/train/train.py into dir (created if
// missing): scores.jsonl, every RiskScore of the run's risk.scores with its served
// features, and labels.jsonl, every RiskLabel of its risk.labels, one protojson
// message per line (see models/train/README.md). It returns the numbers of lines.
func Export(ctx context.Context, brokers []string, topics Topics, dir string) (scores, labels int, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	if scores, err = exportTopic(ctx, brokers, topics.Scores(), filepath.Join(dir, "scores.jsonl"),
		func() codec.Event { return new(riskv1.RiskScore) }); err != nil {
		return 0, 0, err
	}
	if labels, err = exportTopic(ctx, brokers, topics.Labels(), filepath.Join(dir, "labels.jsonl"),
		func() codec.Event { return new(riskv1.RiskLabel) }); err != nil {
		return 0, 0, err
	}
	return scores, labels, nil
}

func exportTopic(ctx context.Context, brokers []string, topic, path string, msg func() codec.Event) (n int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	mo := protojson.MarshalOptions{UseProtoNames: false}
	err = ReadTopic(ctx, brokers, topic, func(r *kgo.Record) error {
		m := msg()
		if err := codec.Unmarshal(r.Value, m); err != nil {
			return fmt.Errorf("riskbench: %s offset %d/%d: %w", topic, r.Partition, r.Offset, err)
		}
		b, err := mo.Marshal(m)
		if err != nil {
			return err
		}
		// Without Multiline protojson writes one line (its spacing varies between
		// builds, which JSON readers ignore).
		if _, err := w.Write(b); err != nil {
			return err
		}
		n++
		return w.WriteByte('\n')
	})
	if err != nil {
		return n, err
	}
	if n == 0 {
		return 0, errors.New("riskbench: " + topic + " is empty")
	}
	return n, w.Flush()
}
