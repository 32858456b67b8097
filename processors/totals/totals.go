// Package totals is the reference stateful processor: per-account debit and credit
// totals of ledger postings in event-time windows (1-minute tumbling by default).
//
// It reads ledger.postings (key: account id; value weir.ledger.v1.Posting), adds each
// posted posting's amount to the window of its event time, keyed by account, asset and
// window start, and when the task's watermark passes the window's end plus grace emits
// one weir.ledger.v1.AccountWindowTotal to ledger.account-totals.1m (key: account id)
// and forgets the window. Totals are exact integer sums of base units (math/big).
//
// What it does not count: pending and voided postings (only POSTED moves a balance).
// What goes to the DLQ: undecodable postings, invalid amounts, a decimals mismatch within
// one account and asset, and late postings (whose every window has closed).
package totals

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/processors/window"
	"github.com/weirhq/weir/schemas/codec"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	ledgerv1 "github.com/weirhq/weir/schemas/gen/weir/ledger/v1"
)

// Defaults of Config.
const (
	DefaultApp         = "totals"
	DefaultInput       = "ledger.postings"
	DefaultOutput      = "ledger.account-totals.1m"
	DefaultWindow      = time.Minute
	DefaultGrace       = 5 * time.Second
	windowsStore       = "windows"
	source             = "processors/totals"
	maxAccountIDLength = 256
)

// ErrLate marks a posting whose windows had all closed when it arrived.
var ErrLate = errors.New("late posting: its window has closed")

// Config configures the processor. The zero value takes every default.
type Config struct {
	// App is the consumer group and changelog prefix. Default: "totals".
	App string
	// Input is the postings topic. Default: "ledger.postings".
	Input string
	// Output is the totals topic. Default: "ledger.account-totals.1m".
	Output string
	// Window is the windowing. Default: 1-minute tumbling windows with 5s grace.
	Window *window.Spec
}

func (c Config) withDefaults() Config {
	if c.App == "" {
		c.App = DefaultApp
	}
	if c.Input == "" {
		c.Input = DefaultInput
	}
	if c.Output == "" {
		c.Output = DefaultOutput
	}
	if c.Window == nil {
		w := window.Tumbling(DefaultWindow).WithGrace(DefaultGrace)
		c.Window = &w
	}
	return c
}

// Topology returns the processor's declaration for the stream runtime.
func Topology(cfg Config) (stream.Topology, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Window.Validate(); err != nil {
		return stream.Topology{}, err
	}
	return stream.Topology{
		App:     cfg.App,
		Inputs:  []string{cfg.Input},
		Outputs: []string{cfg.Output},
		Stores:  []string{windowsStore},
		Handler: &handler{output: cfg.Output, spec: *cfg.Window},
	}, nil
}

type handler struct {
	output string
	spec   window.Spec
}

// Process adds a posting to its open windows.
func (h *handler) Process(ctx *stream.Context, rec *kgo.Record) error {
	var p ledgerv1.Posting
	if err := codec.Unmarshal(rec.Value, &p); err != nil {
		return fmt.Errorf("decode posting: %w", err)
	}
	amount, err := validate(&p)
	if err != nil {
		return err
	}
	at := p.GetMeta().GetEventTime().AsTime()
	ctx.SetTime(at)
	if p.GetStatus() != ledgerv1.PostingStatus_POSTING_STATUS_POSTED {
		return nil
	}
	store, err := ctx.Store(windowsStore)
	if err != nil {
		return err
	}
	watermark := ctx.Watermark()
	added := 0
	for _, w := range h.spec.Assign(at) {
		if !watermark.IsZero() && h.spec.Closed(w, watermark) {
			continue
		}
		key := stateKey(p.GetAccountId(), p.GetAmount().GetAsset(), w.Start)
		acc, found, err := load(store, key)
		if err != nil {
			return err
		}
		if !found {
			acc = accumulator{decimals: p.GetAmount().GetDecimals(), debit: new(big.Int), credit: new(big.Int)}
			if err := ctx.Schedule(h.spec.Closes(w), key); err != nil {
				return err
			}
		} else if acc.decimals != p.GetAmount().GetDecimals() {
			return fmt.Errorf("asset %s: posting has %d decimals, earlier postings %d",
				p.GetAmount().GetAsset(), p.GetAmount().GetDecimals(), acc.decimals)
		}
		if p.GetDirection() == ledgerv1.Direction_DIRECTION_DEBIT {
			acc.debit.Add(acc.debit, amount)
		} else {
			acc.credit.Add(acc.credit, amount)
		}
		acc.postings++
		if err := store.Put(key, acc.encode()); err != nil {
			return err
		}
		added++
	}
	if added == 0 {
		return fmt.Errorf("%w (event time %s, watermark %s)", ErrLate, at.Format(time.RFC3339Nano),
			watermark.Format(time.RFC3339Nano))
	}
	return nil
}

// OnTimer emits a closed window's totals and forgets it.
func (h *handler) OnTimer(ctx *stream.Context, _ time.Time, key []byte) error {
	store, err := ctx.Store(windowsStore)
	if err != nil {
		return err
	}
	acc, found, err := load(store, key)
	if err != nil || !found {
		return err
	}
	account, asset, start, err := parseStateKey(key)
	if err != nil {
		return err
	}
	id := eventID(key)
	end := timestamppb.New(start.Add(h.spec.Size()))
	b, err := proto.Marshal(&ledgerv1.AccountWindowTotal{
		Meta:        &commonv1.Meta{EventId: id, EventTime: end, Source: source, TraceId: id},
		AccountId:   account,
		Asset:       asset,
		Decimals:    acc.decimals,
		WindowStart: timestamppb.New(start),
		WindowEnd:   end,
		DebitTotal:  acc.debit.String(),
		CreditTotal: acc.credit.String(),
		Postings:    acc.postings,
	})
	if err != nil {
		return fmt.Errorf("encode total: %w", err)
	}
	if err := ctx.Emit(h.output, []byte(account), b); err != nil {
		return err
	}
	return store.Delete(key)
}

// validate checks what the codec's schema rules leave to the processor: the codec has
// already checked Meta, the amount (canonical decimal base units within uint256), the
// asset and that required fields are set.
func validate(p *ledgerv1.Posting) (*big.Int, error) {
	switch {
	case len(p.GetAccountId()) > maxAccountIDLength:
		return nil, fmt.Errorf("account id: %d bytes, want at most %d", len(p.GetAccountId()), maxAccountIDLength)
	case strings.IndexByte(p.GetAccountId(), 0) >= 0:
		return nil, errors.New("account id contains a NUL byte")
	case strings.IndexByte(p.GetAmount().GetAsset(), 0) >= 0:
		return nil, errors.New("asset contains a NUL byte")
	case p.GetDirection() != ledgerv1.Direction_DIRECTION_DEBIT && p.GetDirection() != ledgerv1.Direction_DIRECTION_CREDIT:
		return nil, fmt.Errorf("direction %v: want DEBIT or CREDIT", p.GetDirection())
	}
	return parseAmount(p.GetAmount().GetValue())
}

// parseAmount converts a validated amount (canonical decimal digits) to an integer.
func parseAmount(s string) (*big.Int, error) {
	if len(s) <= 19 { // fits in a uint64: skip math/big's general parser
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return new(big.Int).SetUint64(u), nil
		}
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, fmt.Errorf("amount %q is not a decimal number", s)
	}
	return v, nil
}

// accumulator is one open window's running totals. It is stored as
// decimals(4) postings(8) len(debit)(1) debit len(credit)(1) credit, with the totals as
// big-endian unsigned integers (at most 2^256-1 times the postings, so a few dozen bytes).
type accumulator struct {
	decimals      uint32
	postings      uint64
	debit, credit *big.Int
}

func (a accumulator) encode() []byte {
	d, c := a.debit.Bytes(), a.credit.Bytes()
	b := make([]byte, 0, 14+len(d)+len(c))
	b = binary.BigEndian.AppendUint32(b, a.decimals)
	b = binary.BigEndian.AppendUint64(b, a.postings)
	b = append(b, byte(len(d)))
	b = append(b, d...)
	b = append(b, byte(len(c)))
	return append(b, c...)
}

var errMalformedWindow = errors.New("stored window: malformed")

func decodeAccumulator(b []byte) (accumulator, error) {
	bad := errMalformedWindow
	if len(b) < 14 {
		return accumulator{}, bad
	}
	a := accumulator{decimals: binary.BigEndian.Uint32(b), postings: binary.BigEndian.Uint64(b[4:])}
	b = b[12:]
	n := int(b[0])
	if len(b) < 1+n+1 {
		return accumulator{}, bad
	}
	a.debit = new(big.Int).SetBytes(b[1 : 1+n])
	b = b[1+n:]
	m := int(b[0])
	if len(b) != 1+m {
		return accumulator{}, bad
	}
	a.credit = new(big.Int).SetBytes(b[1:])
	return a, nil
}

func load(store *stream.Store, key []byte) (accumulator, bool, error) {
	b, ok, err := store.Get(key)
	if err != nil || !ok {
		return accumulator{}, false, err
	}
	a, err := decodeAccumulator(b)
	return a, err == nil, err
}

// stateKey is account 0x00 asset 0x00 windowStart(8, big endian unix nanos).
func stateKey(account, asset string, start time.Time) []byte {
	b := make([]byte, 0, len(account)+len(asset)+10)
	b = append(b, account...)
	b = append(b, 0)
	b = append(b, asset...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, uint64(start.UnixNano()))
}

func parseStateKey(k []byte) (account, asset string, start time.Time, err error) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) < i+1+9 {
		return "", "", time.Time{}, fmt.Errorf("malformed window key %q", k)
	}
	rest := k[i+1 : len(k)-8]
	if len(rest) == 0 || rest[len(rest)-1] != 0 {
		return "", "", time.Time{}, fmt.Errorf("malformed window key %q", k)
	}
	start = time.Unix(0, int64(binary.BigEndian.Uint64(k[len(k)-8:]))).UTC()
	return string(k[:i]), string(rest[:len(rest)-1]), start, nil
}

// eventID is deterministic: the same window of the same account and asset always has the
// same id, so a consumer can deduplicate across reprocessing.
func eventID(key []byte) string {
	sum := sha256.Sum256(append([]byte(source+"\x00"), key...))
	return hex.EncodeToString(sum[:16])
}
