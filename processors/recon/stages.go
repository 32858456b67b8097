package recon

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	settlementv1 "github.com/weirhq/weir/schemas/gen/weir/settlement/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
)

// Headers of the internal topics. A record's value is the original event's bytes; the
// kind header says which event it is.
const (
	headerKind   = "weir.recon.kind"
	headerPayout = "weir.recon.payout" // on a kindSigned record of <app>.keyed: the payout id
)

// Kinds of internal records.
const (
	kindIntent     = "intent"     // weir.payments.v1.IntentTransition
	kindPayout     = "payout"     // weir.settlement.v1.Payout
	kindSigned     = "signed"     // weir.signer.v1.SignedTransaction
	kindRetraction = "retraction" // weir.chain.v1.Retraction
	kindFinality   = "finality"   // weir.chain.v1.FinalityMarker
	kindBlock      = "block"      // weir.chain.v1.Block
	kindFailedTx   = "failed-tx"  // weir.chain.v1.Transaction with status FAILED
)

func kindOf(rec *kgo.Record) string {
	for _, h := range rec.Headers {
		if h.Key == headerKind {
			return string(h.Value)
		}
	}
	return ""
}

func header(rec *kgo.Record, key string) string {
	for _, h := range rec.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func kindHeader(kind string) kgo.RecordHeader {
	return kgo.RecordHeader{Key: headerKind, Value: []byte(kind)}
}

// normAddress is the join key of an address: lowercase, trimmed.
func normAddress(a string) string { return strings.ToLower(strings.TrimSpace(a)) }

// broadcastKeys returns, for each partition p of an n-partition topic, a key that the
// runtime's partitioner (Kafka's murmur2, like every client's default) sends to p. The
// keys are fixed ("ctl-<p>-<i>" with the first i that fits), so broadcasting needs no
// partition-aware producer.
func broadcastKeys(n int32) [][]byte {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("")
	keys := make([][]byte, n)
	for p := range n {
		for i := 0; ; i++ {
			k := []byte("ctl-" + strconv.Itoa(int(p)) + "-" + strconv.Itoa(i))
			if int32(part.Partition(&kgo.Record{Key: k}, int(n))) == p {
				keys[p] = k
				break
			}
		}
	}
	return keys
}

// broadcast emits value to every partition of topic.
func broadcast(ctx *stream.Context, keys [][]byte, topic, kind string, value []byte) error {
	for _, k := range keys {
		if err := ctx.Emit(topic, k, value, kindHeader(kind)); err != nil {
			return err
		}
	}
	return nil
}

// rekeyHandler is the rekey stage: it re-keys intents and on-chain payouts by the
// address funds go to (<app>.keyed), payouts by their signing request (<app>.signing),
// and broadcasts reverted transactions to every partition of <app>.control.
type rekeyHandler struct {
	cfg  Config
	keys [][]byte
}

func (h *rekeyHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	switch rec.Topic {
	case h.cfg.Intents:
		var it paymentsv1.IntentTransition
		if err := codec.Unmarshal(rec.Value, &it); err != nil {
			return fmt.Errorf("decode intent: %w", err)
		}
		ctx.SetTime(it.GetMeta().GetEventTime().AsTime())
		if it.GetDepositAddress() == "" || it.GetChainId() == 0 {
			return nil // not an on-chain intent
		}
		return ctx.Emit(h.cfg.keyedTopic(), []byte(normAddress(it.GetDepositAddress())), rec.Value, kindHeader(kindIntent))
	case h.cfg.Payouts:
		var p settlementv1.Payout
		if err := codec.Unmarshal(rec.Value, &p); err != nil {
			return fmt.Errorf("decode payout: %w", err)
		}
		ctx.SetTime(p.GetMeta().GetEventTime().AsTime())
		if p.GetRail() != settlementv1.PayoutRail_PAYOUT_RAIL_ONCHAIN || p.GetChainId() == 0 {
			return nil
		}
		if err := ctx.Emit(h.cfg.keyedTopic(), []byte(normAddress(p.GetDestination())), rec.Value, kindHeader(kindPayout)); err != nil {
			return err
		}
		if p.GetSigningRequestId() == "" {
			return nil
		}
		return ctx.Emit(h.cfg.signingTopic(), []byte(p.GetSigningRequestId()), rec.Value, kindHeader(kindPayout))
	case h.cfg.Transactions:
		var tx chainv1.Transaction
		if err := codec.Unmarshal(rec.Value, &tx); err != nil {
			return fmt.Errorf("decode transaction: %w", err)
		}
		ctx.SetTime(tx.GetMeta().GetEventTime().AsTime())
		if tx.GetStatus() != chainv1.TransactionStatus_TRANSACTION_STATUS_FAILED {
			return nil
		}
		return broadcast(ctx, h.keys, h.cfg.controlTopic(), kindFailedTx, rec.Value)
	}
	return fmt.Errorf("unexpected topic %s", rec.Topic)
}

func (h *rekeyHandler) OnTimer(*stream.Context, time.Time, []byte) error { return nil }

// signedHandler is the signed stage: it re-keys signed transactions by their signing
// request id (<app>.signing), where the pair stage meets them with their payouts.
type signedHandler struct{ cfg Config }

func (h *signedHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	var s signerv1.SignedTransaction
	if err := codec.Unmarshal(rec.Value, &s); err != nil {
		return fmt.Errorf("decode signed transaction: %w", err)
	}
	ctx.SetTime(s.GetMeta().GetEventTime().AsTime())
	return ctx.Emit(h.cfg.signingTopic(), []byte(s.GetRequestId()), rec.Value, kindHeader(kindSigned))
}

func (h *signedHandler) OnTimer(*stream.Context, time.Time, []byte) error { return nil }

// broadcastHandler is the broadcast stage: it copies each chain control record
// (retraction, finality marker, block) to every partition of <app>.control.
type broadcastHandler struct {
	cfg  Config
	keys [][]byte
}

func (h *broadcastHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	var kind string
	var ev codec.Event
	switch rec.Topic {
	case h.cfg.Retractions:
		kind, ev = kindRetraction, new(chainv1.Retraction)
	case h.cfg.Finality:
		kind, ev = kindFinality, new(chainv1.FinalityMarker)
	case h.cfg.Blocks:
		kind, ev = kindBlock, new(chainv1.Block)
	default:
		return fmt.Errorf("unexpected topic %s", rec.Topic)
	}
	if err := codec.Unmarshal(rec.Value, ev); err != nil {
		return fmt.Errorf("decode %s: %w", kind, err)
	}
	ctx.SetTime(ev.GetMeta().GetEventTime().AsTime())
	return broadcast(ctx, h.keys, h.cfg.controlTopic(), kind, rec.Value)
}

func (h *broadcastHandler) OnTimer(*stream.Context, time.Time, []byte) error { return nil }

// requestsStore is the pair stage's store: signing request id -> pairing.
const requestsStore = "requests"

// pairing is what the pair stage knows of one signing request.
type pairing struct {
	PayoutID    string `json:"payout_id,omitempty"`
	Destination string `json:"destination,omitempty"`
	Signed      []byte `json:"signed,omitempty"` // the SignedTransaction, until forwarded
	Forwarded   bool   `json:"forwarded,omitempty"`
}

// pairHandler is the pair stage: it meets each payout with the signed transaction of
// its signing request (either may come first) and forwards the signed transaction,
// keyed by the payout's destination and tagged with the payout id, to <app>.keyed.
type pairHandler struct{ cfg Config }

func (h *pairHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	store, err := ctx.Store(requestsStore)
	if err != nil {
		return err
	}
	var pr pairing
	if b, ok, err := store.Get(rec.Key); err != nil {
		return err
	} else if ok {
		if err := json.Unmarshal(b, &pr); err != nil {
			return fmt.Errorf("stored pairing: %w", err)
		}
	}
	if pr.Forwarded {
		return nil // a repeated payout version or signed transaction
	}
	switch kindOf(rec) {
	case kindPayout:
		var p settlementv1.Payout
		if err := codec.Unmarshal(rec.Value, &p); err != nil {
			return fmt.Errorf("decode payout: %w", err)
		}
		ctx.SetTime(p.GetMeta().GetEventTime().AsTime())
		if pr.PayoutID == "" {
			pr.PayoutID, pr.Destination = p.GetPayoutId(), normAddress(p.GetDestination())
		}
	case kindSigned:
		var s signerv1.SignedTransaction
		if err := codec.Unmarshal(rec.Value, &s); err != nil {
			return fmt.Errorf("decode signed transaction: %w", err)
		}
		ctx.SetTime(s.GetMeta().GetEventTime().AsTime())
		pr.Signed = rec.Value
	default:
		return fmt.Errorf("record of unknown kind %q", kindOf(rec))
	}
	if pr.PayoutID != "" && pr.Signed != nil {
		if err := ctx.Emit(h.cfg.keyedTopic(), []byte(pr.Destination), pr.Signed, kindHeader(kindSigned),
			kgo.RecordHeader{Key: headerPayout, Value: []byte(pr.PayoutID)}); err != nil {
			return err
		}
		pr.Signed, pr.Forwarded = nil, true
	}
	b, err := json.Marshal(&pr)
	if err != nil {
		return err
	}
	return store.Put(rec.Key, b)
}

func (h *pairHandler) OnTimer(*stream.Context, time.Time, []byte) error { return nil }
