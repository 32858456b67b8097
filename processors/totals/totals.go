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
	"sync"
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
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	p := &sc.posting
	if err := codec.Unmarshal(rec.Value, p); err != nil {
		return fmt.Errorf("decode posting: %w", err)
	}
	if err := validate(p); err != nil {
		return err
	}
	if err := sc.parseAmount(p.GetAmount().GetValue()); err != nil {
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
	sc.windows = h.spec.AppendAssign(sc.windows[:0], at)
	for _, w := range sc.windows {
		if !watermark.IsZero() && h.spec.Closed(w, watermark) {
			continue
		}
		sc.key = appendStateKey(sc.key[:0], p.GetAccountId(), p.GetAmount().GetAsset(), w.Start)
		acc := &sc.acc
		found, err := acc.load(store, sc.key)
		if err != nil {
			return err
		}
		if !found {
			acc.reset(p.GetAmount().GetDecimals())
			if err := ctx.Schedule(h.spec.Closes(w), sc.key); err != nil {
				return err
			}
		} else if acc.decimals != p.GetAmount().GetDecimals() {
			return fmt.Errorf("asset %s: posting has %d decimals, earlier postings %d",
				p.GetAmount().GetAsset(), p.GetAmount().GetDecimals(), acc.decimals)
		}
		if p.GetDirection() == ledgerv1.Direction_DIRECTION_DEBIT {
			acc.debit.Add(&acc.debit, &sc.amount)
		} else {
			acc.credit.Add(&acc.credit, &sc.amount)
		}
		acc.postings++
		sc.val = acc.appendEncoded(sc.val[:0])
		if err := store.Put(sc.key, sc.val); err != nil { // Put copies key and value
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

// scratch is the reusable memory of one Process call: the handler runs for many tasks at
// once, so each call takes its own from scratchPool. Nothing in it outlives the call.
type scratch struct {
	posting ledgerv1.Posting
	amount  big.Int
	acc     accumulator
	windows []window.Window
	key     []byte
	val     []byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// parseAmount sets sc.amount to a validated amount (canonical decimal digits).
func (sc *scratch) parseAmount(s string) error {
	if len(s) <= 19 { // fits in a uint64: skip math/big's general parser
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			sc.amount.SetUint64(u)
			return nil
		}
	}
	if _, ok := sc.amount.SetString(s, 10); !ok {
		return fmt.Errorf("amount %q is not a decimal number", s)
	}
	return nil
}

// OnTimer emits a closed window's totals and forgets it.
func (h *handler) OnTimer(ctx *stream.Context, _ time.Time, key []byte) error {
	store, err := ctx.Store(windowsStore)
	if err != nil {
		return err
	}
	var acc accumulator
	found, err := acc.load(store, key)
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
func validate(p *ledgerv1.Posting) error {
	switch {
	case len(p.GetAccountId()) > maxAccountIDLength:
		return fmt.Errorf("account id: %d bytes, want at most %d", len(p.GetAccountId()), maxAccountIDLength)
	case strings.IndexByte(p.GetAccountId(), 0) >= 0:
		return errors.New("account id contains a NUL byte")
	case strings.IndexByte(p.GetAmount().GetAsset(), 0) >= 0:
		return errors.New("asset contains a NUL byte")
	case p.GetDirection() != ledgerv1.Direction_DIRECTION_DEBIT && p.GetDirection() != ledgerv1.Direction_DIRECTION_CREDIT:
		return fmt.Errorf("direction %v: want DEBIT or CREDIT", p.GetDirection())
	}
	return nil
}

// accumulator is one open window's running totals. It is stored as
// decimals(4) postings(8) len(debit)(1) debit len(credit)(1) credit, with the totals as
// big-endian unsigned integers (at most 2^256-1 times the postings, so a few dozen bytes).
type accumulator struct {
	decimals      uint32
	postings      uint64
	debit, credit big.Int
}

func (a *accumulator) reset(decimals uint32) {
	a.decimals, a.postings = decimals, 0
	a.debit.SetUint64(0)
	a.credit.SetUint64(0)
}

func (a *accumulator) appendEncoded(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, a.decimals)
	b = binary.BigEndian.AppendUint64(b, a.postings)
	b = appendInt(b, &a.debit)
	return appendInt(b, &a.credit)
}

func appendInt(b []byte, x *big.Int) []byte {
	n := (x.BitLen() + 7) / 8
	b = append(b, byte(n))
	start := len(b)
	b = append(b, make([]byte, n)...)
	x.FillBytes(b[start:])
	return b
}

var errMalformedWindow = errors.New("stored window: malformed")

func (a *accumulator) decode(b []byte) error {
	if len(b) < 14 {
		return errMalformedWindow
	}
	a.decimals, a.postings = binary.BigEndian.Uint32(b), binary.BigEndian.Uint64(b[4:])
	b = b[12:]
	n := int(b[0])
	if len(b) < 1+n+1 {
		return errMalformedWindow
	}
	a.debit.SetBytes(b[1 : 1+n])
	b = b[1+n:]
	if len(b) != 1+int(b[0]) {
		return errMalformedWindow
	}
	a.credit.SetBytes(b[1:])
	return nil
}

// load reads the window stored under key into a, reporting whether there was one.
func (a *accumulator) load(store *stream.Store, key []byte) (bool, error) {
	b, ok, err := store.Get(key)
	if err != nil || !ok {
		return false, err
	}
	return true, a.decode(b)
}

// appendStateKey appends account 0x00 asset 0x00 windowStart(8, big endian unix nanos).
func appendStateKey(b []byte, account, asset string, start time.Time) []byte {
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
