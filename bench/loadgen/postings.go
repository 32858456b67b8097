// Package loadgen generates load for weir: ledger postings for the stream runtime's
// reference processor, at a fixed rate (a component of weir dev) or as fast as asked (the
// benchmarks).
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/codec"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
)

// Generator makes ledger postings. The zero value is usable.
type Generator struct {
	// Accounts is the number of distinct accounts (record keys). Default 100.
	Accounts int
	// Size pads each encoded posting to this many bytes (if it is larger than the
	// posting). Default 0: no padding.
	Size int
	// IDPrefix starts every event id; give each run its own so ids stay unique.
	// Default "gen-".
	IDPrefix string
}

// Posting returns the i-th posting, encoded: account i mod Accounts, debit for even i,
// an amount of 1..997 base units of USDC (6 decimals), at the given event time. The
// result passes the codec's validation.
func (g Generator) Posting(i int, at time.Time) (*ledgerv1.Posting, []byte, error) {
	accounts, prefix := g.Accounts, g.IDPrefix
	if accounts <= 0 {
		accounts = 100
	}
	if prefix == "" {
		prefix = "gen-"
	}
	account := "acct-" + strconv.Itoa(i%accounts)
	id := prefix + strconv.Itoa(i)
	p := &ledgerv1.Posting{
		Meta:      &commonv1.Meta{EventId: id, EventTime: timestamppb.New(at), Source: "loadgen", TraceId: id},
		PostingId: "p" + strconv.Itoa(i), JournalId: "j" + strconv.Itoa(i/2), AccountId: account,
		Direction: ledgerv1.Direction_DIRECTION_CREDIT,
		Amount:    &commonv1.Amount{Value: strconv.Itoa(1 + i%997), Asset: "USDC", Decimals: 6},
		Status:    ledgerv1.PostingStatus_POSTING_STATUS_POSTED,
	}
	if i%2 == 0 {
		p.Direction = ledgerv1.Direction_DIRECTION_DEBIT
	}
	v, err := codec.Marshal(p)
	if err != nil {
		return nil, nil, err
	}
	if room := g.Size - len(v); room > 2 {
		// The description field costs a 1-byte tag, its length as a varint, and itself.
		pad := room - 2
		for pad > 0 && 1+protowire.SizeVarint(uint64(pad))+pad > room {
			pad--
		}
		p.Description = string(make([]byte, pad))
		if v, err = codec.Marshal(p); err != nil {
			return nil, nil, err
		}
	}
	return p, v, nil
}

// Postings produces generated postings to a topic at a fixed rate, with event time =
// wall-clock time, as a weir component.
type Postings struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Topic receives the postings. Default "ledger.postings".
	Topic string
	// Rate is postings per second. Required, positive.
	Rate int
	// Accounts is the number of distinct accounts (keys). Default 100.
	Accounts int
	// Logger receives a line when the generator starts. Default: discard.
	Logger *slog.Logger
}

// Name returns "demo-postings".
func (g *Postings) Name() string { return "demo-postings" }

// Describe says what the generator writes.
func (g *Postings) Describe() string {
	g.setDefaults()
	return fmt.Sprintf("writes %d generated postings/s over %d accounts to %s", g.Rate, g.Accounts, g.Topic)
}

func (g *Postings) setDefaults() {
	if g.Topic == "" {
		g.Topic = "ledger.postings"
	}
	if g.Accounts <= 0 {
		g.Accounts = 100
	}
	if g.Logger == nil {
		g.Logger = slog.New(slog.DiscardHandler)
	}
}

// tick is how often Run produces a burst of Rate/ticksPerSecond postings.
const ticksPerSecond = 10

// Run produces until ctx is cancelled, then flushes what it produced and returns nil.
// Produce errors end it with the first error.
func (g *Postings) Run(ctx context.Context) error {
	g.setDefaults()
	if g.Rate <= 0 || len(g.Brokers) == 0 {
		return errors.New("loadgen: want brokers and a positive rate")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(g.Brokers...), kgo.DefaultProduceTopic(g.Topic),
		kgo.MaxBufferedRecords(10*g.Rate+100))
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	defer cl.Close()
	g.Logger.Info("generating postings", "topic", g.Topic, "rate", g.Rate, "accounts", g.Accounts)
	perTick := max(1, g.Rate/ticksPerSecond)
	t := time.NewTicker(time.Second / ticksPerSecond)
	defer t.Stop()
	failed := make(chan error, 1)
	gen := Generator{Accounts: g.Accounts, IDPrefix: "demo-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-"}
	for i := 0; ; {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return cl.Flush(fctx)
		case err := <-failed:
			return fmt.Errorf("loadgen: produce: %w", err)
		case <-t.C:
		}
		for range perTick {
			p, v, err := gen.Posting(i, time.Now())
			if err != nil {
				return err
			}
			cl.Produce(ctx, &kgo.Record{Key: []byte(p.GetAccountId()), Value: v}, func(_ *kgo.Record, err error) {
				if err != nil && !errors.Is(err, context.Canceled) {
					select {
					case failed <- err:
					default:
					}
				}
			})
			i++
		}
	}
}
