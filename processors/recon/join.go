package recon

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/processors/stream"
	"github.com/weirhq/weir/schemas/codec"
	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
	reconv1 "github.com/weirhq/weir/schemas/gen/weir/reconciliation/v1"
	settlementv1 "github.com/weirhq/weir/schemas/gen/weir/settlement/v1"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
)

// The join stage's stores.
const (
	subjectsStore  = "subjects"  // "i/<intent id>", "p/<payout id>", "t/<transfer event id>" -> subject
	addressesStore = "addresses" // deposit address -> id of the latest intent that used it
	transfersStore = "transfers" // event id of an applied transfer (or failed tx) -> subject key
	txsStore       = "txs"       // "<chain>/<tx hash>" of a signed payout -> payout id
	chainsStore    = "chains"    // "<chain>" -> chainView
	pendingStore   = "pending"   // "<chain>/<block, 20 digits><subject key>" -> {}: results waiting for finality
	heldStore      = "held"      // "<address>\x00<time, 20 digits><event id>" -> Transfer held for its subject
)

// heldTimer prefixes the timer key of a held transfer (intent timers are subject keys).
const heldTimer = "h\x00"

var joinStores = []string{subjectsStore, addressesStore, transfersStore, txsStore, chainsStore, pendingStore, heldStore}

const (
	source     = "processors/recon"
	resultKind = "weir.reconciliation.v1.ReconciliationResult"
)

// Subject kinds.
const (
	subjIntent   = "i"
	subjPayout   = "p"
	subjTransfer = "t"
)

// Rules: the names a result gives, in ReconciliationResult.rule, for what decided its
// status (see the package doc for the order they are tried in).
const (
	RuleExactAmount      = "intent.exact_amount"
	RulePartialAmount    = "intent.partial_amount"
	RuleExcessAmount     = "intent.excess_amount"
	RuleAlreadyPaid      = "intent.already_paid"
	RuleAfterExpiry      = "intent.after_expiry"
	RuleWrongAsset       = "intent.wrong_asset"
	RuleExpiredUnpaid    = "intent.expired_unpaid"
	RuleExpiredUnderpaid = "intent.expired_underpaid"
	RuleNoOpenIntent     = "transfer.no_open_intent"
	RuleRetracted        = "chain.reorg_retracted"
	RulePayoutMined      = "payout.mined_as_signed"
	RulePayoutShort      = "payout.amount_short"
	RulePayoutExcess     = "payout.amount_excess"
	RulePayoutWrongAsset = "payout.wrong_asset"
	RulePayoutReverted   = "payout.reverted"
	RulePayoutPending    = "payout.signed_not_mined"
)

// transferRec is what the join keeps of one applied transfer (or, for a payout's
// FailedTx, of its reverted transaction).
type transferRec struct {
	ID        string `json:"id"`
	Tx        string `json:"tx"`
	Chain     uint64 `json:"chain"`
	Block     uint64 `json:"block"`
	Value     string `json:"value,omitempty"`
	Asset     string `json:"asset,omitempty"`
	Decimals  uint32 `json:"decimals,omitempty"`
	Time      int64  `json:"time"`
	Finalized bool   `json:"finalized,omitempty"` // its block was FINALIZED when emitted
	Late      bool   `json:"late,omitempty"`      // arrived after the intent's expiry
}

// subject is the join's state of one intent, payout or unexpected transfer.
type subject struct {
	Kind     string `json:"kind"`
	ID       string `json:"id"`
	Merchant string `json:"merchant,omitempty"`
	Version  uint64 `json:"version,omitempty"`  // of the last intent transition / payout applied
	EventID  string `json:"event_id,omitempty"` // of that intent transition
	Chain    uint64 `json:"chain,omitempty"`
	Address  string `json:"address,omitempty"`
	Value    string `json:"value,omitempty"`
	Asset    string `json:"asset,omitempty"`
	Decimals uint32 `json:"decimals,omitempty"`
	Expires  int64  `json:"expires,omitempty"` // unix nanos; 0: never
	Canceled bool   `json:"canceled,omitempty"`
	Expired  bool   `json:"expired,omitempty"` // MISSING was emitted

	RequestID string       `json:"request_id,omitempty"`
	Tx        string       `json:"tx,omitempty"`
	Signed    bool         `json:"signed,omitempty"`
	FailedTx  *transferRec `json:"failed_tx,omitempty"`

	Results      uint64        `json:"results,omitempty"` // version of the last result emitted
	Pending      string        `json:"pending,omitempty"` // its key in the pending store, if any
	Transfers    []transferRec `json:"transfers,omitempty"`
	PrimaryFinal bool          `json:"primary_final,omitempty"`
}

func (s *subject) key() string { return s.Kind + "/" + s.ID }

// chainView is what the join knows of a chain's progress.
type chainView struct {
	Head      uint64 `json:"head,omitempty"`
	Finalized uint64 `json:"finalized,omitempty"`
}

// role is how a transfer counts towards its intent.
type role int

const (
	roleMatched role = iota
	roleDuplicate
	roleLate
	roleWrongAsset
)

// classify assigns each of an intent's transfers, in arrival order, its role: another
// asset is WRONG_ASSET; once the matched sum reaches the amount, more is DUPLICATE; a
// transfer after expiry is LATE; the rest is matched.
func classify(s *subject) []role {
	expected := amount(s.Value)
	sum := new(big.Int)
	roles := make([]role, len(s.Transfers))
	for i, t := range s.Transfers {
		switch {
		case t.Asset != s.Asset:
			roles[i] = roleWrongAsset
		case sum.Cmp(expected) >= 0 && s.Kind == subjIntent:
			roles[i] = roleDuplicate
		case t.Late:
			roles[i] = roleLate
		default:
			roles[i] = roleMatched
			sum.Add(sum, amount(t.Value))
		}
	}
	return roles
}

func pick(s *subject, roles []role, want role, asset string) ([]transferRec, *big.Int) {
	var out []transferRec
	sum := new(big.Int)
	for i, r := range roles {
		if r == want && (asset == "" || s.Transfers[i].Asset == asset) {
			out = append(out, s.Transfers[i])
			sum.Add(sum, amount(s.Transfers[i].Value))
		}
	}
	return out, sum
}

// amount parses a canonical decimal amount (validated by the codec); "" is 0.
func amount(v string) *big.Int {
	x, ok := new(big.Int).SetString(v, 10)
	if !ok {
		return new(big.Int)
	}
	return x
}

// joinHandler is the join stage.
type joinHandler struct{ cfg Config }

// call is one Handler call's view of the task's stores.
type call struct {
	h                                                          *joinHandler
	ctx                                                        *stream.Context
	subjects, addresses, transfers, txs, chains, pending, held *stream.Store
}

func (h *joinHandler) open(ctx *stream.Context) (*call, error) {
	c := &call{h: h, ctx: ctx}
	for _, s := range []struct {
		name string
		dst  **stream.Store
	}{{subjectsStore, &c.subjects}, {addressesStore, &c.addresses}, {transfersStore, &c.transfers},
		{txsStore, &c.txs}, {chainsStore, &c.chains}, {pendingStore, &c.pending},
		{heldStore, &c.held}} {
		st, err := ctx.Store(s.name)
		if err != nil {
			return nil, err
		}
		*s.dst = st
	}
	return c, nil
}

func (h *joinHandler) Process(ctx *stream.Context, rec *kgo.Record) error {
	c, err := h.open(ctx)
	if err != nil {
		return err
	}
	switch rec.Topic {
	case h.cfg.Transfers:
		return c.transfer(rec.Value)
	case h.cfg.keyedTopic():
		switch kindOf(rec) {
		case kindIntent:
			return c.intent(rec.Value)
		case kindPayout:
			return c.payout(rec.Value)
		case kindSigned:
			return c.signed(rec.Value, header(rec, headerPayout))
		}
	case h.cfg.controlTopic():
		switch kindOf(rec) {
		case kindRetraction:
			return c.retraction(rec.Value)
		case kindFinality:
			return c.finality(rec.Value)
		case kindBlock:
			return c.block(rec.Value)
		case kindFailedTx:
			return c.failedTx(rec.Value)
		}
	}
	return fmt.Errorf("record of topic %s, kind %q: not for the join", rec.Topic, kindOf(rec))
}

// OnTimer expires an intent whose expiry the watermark passed, or forgets a held
// transfer whose hold is over.
func (h *joinHandler) OnTimer(ctx *stream.Context, at time.Time, key []byte) error {
	c, err := h.open(ctx)
	if err != nil {
		return err
	}
	if k, ok := strings.CutPrefix(string(key), heldTimer); ok {
		return c.held.Delete([]byte(k)) // its subject never came
	}
	s, err := c.load(string(key))
	if err != nil || s == nil {
		return err
	}
	if s.Canceled || s.Expired || s.Expires != at.UnixNano() {
		return nil
	}
	if err := c.expireIfUnpaid(s); err != nil {
		return err
	}
	return c.save(s)
}

// --- state ---

func (c *call) load(key string) (*subject, error) {
	b, ok, err := c.subjects.Get([]byte(key))
	if err != nil || !ok {
		return nil, err
	}
	s := new(subject)
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("stored subject %s: %w", key, err)
	}
	return s, nil
}

func (c *call) save(s *subject) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return c.subjects.Put([]byte(s.key()), b)
}

func chainKey(chain uint64) string { return strconv.FormatUint(chain, 10) }

func (c *call) chain(id uint64) (chainView, error) {
	var v chainView
	b, ok, err := c.chains.Get([]byte(chainKey(id)))
	if err != nil || !ok {
		return v, err
	}
	return v, json.Unmarshal(b, &v)
}

func (c *call) putChain(id uint64, v chainView) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.chains.Put([]byte(chainKey(id)), b)
}

// final reports whether t can no longer be retracted: its block is FINALIZED, or has the
// chain's confirmation depth.
func (c *call) final(cv chainView, t transferRec) bool {
	if t.Finalized || (cv.Finalized > 0 && t.Block <= cv.Finalized) {
		return true
	}
	d := c.h.cfg.depth(t.Chain)
	return d > 0 && cv.Head >= t.Block && cv.Head-t.Block+1 >= d
}

// --- inputs ---

func (c *call) intent(b []byte) error {
	var it paymentsv1.IntentTransition
	if err := codec.Unmarshal(b, &it); err != nil {
		return fmt.Errorf("decode intent: %w", err)
	}
	c.ctx.SetTime(it.GetMeta().GetEventTime().AsTime())
	key := subjIntent + "/" + it.GetIntentId()
	s, err := c.load(key)
	if err != nil {
		return err
	}
	if s != nil && it.GetVersion() <= s.Version {
		return nil // a repeated or older transition
	}
	oldExpires := int64(0)
	isNew := s == nil
	if isNew {
		s = &subject{Kind: subjIntent, ID: it.GetIntentId(), Merchant: it.GetMerchantId(),
			Chain: it.GetChainId(), Address: normAddress(it.GetDepositAddress()),
			Value: it.GetAmount().GetValue(), Asset: it.GetAmount().GetAsset(), Decimals: it.GetAmount().GetDecimals()}
		if err := c.addresses.Put([]byte(s.Address), []byte(s.ID)); err != nil {
			return err
		}
	} else {
		oldExpires = s.Expires
	}
	s.Version, s.EventID = it.GetVersion(), it.GetMeta().GetEventId()
	if it.GetState() == paymentsv1.IntentState_INTENT_STATE_CANCELED {
		s.Canceled = true
	}
	if it.GetExpiresTime() != nil {
		s.Expires = it.GetExpiresTime().AsTime().UnixNano()
	}
	if oldExpires != 0 && (oldExpires != s.Expires || s.Canceled) {
		if err := c.ctx.Cancel(time.Unix(0, oldExpires), []byte(key)); err != nil {
			return err
		}
	}
	if s.Expires != 0 && !s.Canceled && !s.Expired && (oldExpires != s.Expires) {
		if err := c.ctx.Schedule(time.Unix(0, s.Expires), []byte(key)); err != nil {
			return err
		}
	}
	if err := c.save(s); err != nil {
		return err
	}
	if !isNew {
		return nil
	}
	// Transfers that overtook the intent (it travels through the rekey stage).
	return c.release(s.Address, it.GetCreatedTime().AsTime().UnixNano(), func(string) bool { return true })
}

func (c *call) payout(b []byte) error {
	var p settlementv1.Payout
	if err := codec.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("decode payout: %w", err)
	}
	c.ctx.SetTime(p.GetMeta().GetEventTime().AsTime())
	s, err := c.load(subjPayout + "/" + p.GetPayoutId())
	if err != nil {
		return err
	}
	if s != nil && s.Merchant != "" && p.GetVersion() <= s.Version {
		return nil
	}
	first := s == nil || s.Merchant == ""
	if s == nil {
		s = &subject{Kind: subjPayout, ID: p.GetPayoutId()}
	}
	s.Merchant, s.Version, s.EventID = p.GetMerchantId(), p.GetVersion(), p.GetMeta().GetEventId()
	s.Chain, s.Address, s.RequestID = p.GetChainId(), normAddress(p.GetDestination()), p.GetSigningRequestId()
	s.Value, s.Asset, s.Decimals = p.GetAmount().GetValue(), p.GetAmount().GetAsset(), p.GetAmount().GetDecimals()
	if !first || !s.Signed {
		return c.save(s)
	}
	// The signed transaction (and maybe its reversal) overtook its payout: report where
	// the payout is now, and apply its transfers that were held.
	if err := c.emitPrimary(s); err != nil {
		return err
	}
	if err := c.save(s); err != nil {
		return err
	}
	return c.releasePayout(s)
}

func (c *call) signed(b []byte, payoutID string) error {
	var st signerv1.SignedTransaction
	if err := codec.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("decode signed transaction: %w", err)
	}
	c.ctx.SetTime(st.GetMeta().GetEventTime().AsTime())
	if payoutID == "" {
		return errors.New("signed transaction without a payout id header")
	}
	s, err := c.load(subjPayout + "/" + payoutID)
	if err != nil {
		return err
	}
	if s == nil {
		s = &subject{Kind: subjPayout, ID: payoutID}
	}
	if s.Signed {
		return nil
	}
	s.Signed, s.Tx, s.RequestID = true, strings.ToLower(st.GetTransactionHash()), st.GetRequestId()
	if s.Chain == 0 {
		s.Chain = st.GetChainId()
	}
	if err := c.txs.Put([]byte(chainKey(st.GetChainId())+"/"+s.Tx), []byte(payoutID)); err != nil {
		return err
	}
	// Its reversal may have overtaken it (the signed transaction travels three stages).
	var tx chainv1.Transaction
	rev, err := c.takeHeld(heldTxKey(st.GetChainId(), s.Tx), func(v []byte) (time.Time, error) {
		if err := codec.Unmarshal(v, &tx); err != nil {
			return time.Time{}, fmt.Errorf("held transaction: %w", err)
		}
		return tx.GetMeta().GetEventTime().AsTime(), nil
	})
	if err != nil {
		return err
	}
	if rev != nil && s.FailedTx == nil {
		c.setFailed(s, &tx)
		if err := c.index(*s.FailedTx, s); err != nil {
			return err
		}
	}
	if s.Merchant == "" {
		return c.save(s) // the payout reports once it arrives
	}
	if err := c.emitPrimary(s); err != nil {
		return err
	}
	if err := c.save(s); err != nil {
		return err
	}
	return c.releasePayout(s)
}

// releasePayout applies the held transfers of the payout's transaction to its
// destination: they overtook the signed transaction (which travels three stages).
func (c *call) releasePayout(s *subject) error {
	return c.release(s.Address, 0, func(tx string) bool { return tx == s.Tx })
}

func (c *call) transfer(b []byte) error {
	var t chainv1.Transfer
	if err := codec.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("decode transfer: %w", err)
	}
	c.ctx.SetTime(t.GetMeta().GetEventTime().AsTime())
	if _, seen, err := c.transfers.Get([]byte(t.GetMeta().GetEventId())); err != nil || seen {
		return err // seen: a repeated transfer
	}
	tr := transferRec{
		ID: t.GetMeta().GetEventId(), Tx: strings.ToLower(t.GetTransactionHash()), Chain: t.GetChainId(),
		Block: t.GetBlock().GetNumber(), Value: t.GetAmount().GetValue(), Asset: t.GetAmount().GetAsset(),
		Decimals: t.GetAmount().GetDecimals(), Time: t.GetMeta().GetEventTime().AsTime().UnixNano(),
		Finalized: t.GetConfirmation() == chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED,
	}
	to := normAddress(t.GetTo())

	// A payout's transaction, to the payout's destination.
	if id, ok, err := c.txs.Get([]byte(chainKey(tr.Chain) + "/" + tr.Tx)); err != nil {
		return err
	} else if ok {
		s, err := c.load(subjPayout + "/" + string(id))
		if err != nil {
			return err
		}
		if s != nil && s.Address == to {
			return c.payoutTransfer(s, tr)
		}
	}

	// A deposit address: an address some intent used.
	id, ok, err := c.addresses.Get([]byte(to))
	if err != nil {
		return err
	}
	if !ok {
		return c.hold(b, to, tr) // not an address of ours, or its intent is on its way
	}
	s, err := c.load(subjIntent + "/" + string(id))
	if err != nil || s == nil {
		return err
	}
	if s.Chain != tr.Chain || s.Canceled {
		return c.unexpected(s, tr)
	}
	return c.intentTransfer(s, tr)
}

// hold keeps a transfer to an address the join does not know (yet) until the watermark
// passes its time plus Config.Hold, in case the intent or payout that explains it is
// still in the other stages.
func (c *call) hold(b []byte, to string, tr transferRec) error {
	return c.holdFor(fmt.Sprintf("%s\x00%0*d%s", to, blockDigits, tr.Time, tr.ID), b, time.Unix(0, tr.Time))
}

// release applies the transfers held for address whose time is not before since and
// that keep(transaction hash) accepts, in event-time order, and forgets them.
func (c *call) release(address string, since int64, keep func(tx string) bool) error {
	type held struct {
		key string
		val []byte
		at  int64
	}
	var found []held
	prefix := address + "\x00"
	if err := c.held.Scan([]byte(prefix), func(k, v []byte) error {
		rest := k[len(prefix):]
		if len(rest) < blockDigits {
			return fmt.Errorf("malformed held key %q", k)
		}
		at, err := strconv.ParseInt(string(rest[:blockDigits]), 10, 64)
		if err != nil {
			return fmt.Errorf("malformed held key %q", k)
		}
		found = append(found, held{string(k), v, at})
		return nil
	}); err != nil {
		return err
	}
	now := c.ctx.Time()
	defer c.ctx.SetTime(now)
	for _, h := range found {
		if h.at < since {
			continue // before the subject existed: not its payment
		}
		var t chainv1.Transfer
		if err := codec.Unmarshal(h.val, &t); err != nil {
			return fmt.Errorf("held transfer: %w", err)
		}
		if !keep(strings.ToLower(t.GetTransactionHash())) {
			continue
		}
		if err := c.held.Delete([]byte(h.key)); err != nil {
			return err
		}
		until := time.Unix(0, h.at).Add(c.h.cfg.Hold)
		if err := c.ctx.Cancel(until, []byte(heldTimer+h.key)); err != nil {
			return err
		}
		if err := c.transfer(h.val); err != nil {
			return err
		}
	}
	return nil
}

func (c *call) index(tr transferRec, s *subject) error {
	return c.transfers.Put([]byte(tr.ID), []byte(s.key()))
}

func (c *call) intentTransfer(s *subject, tr transferRec) error {
	if !s.Expired && s.Expires != 0 && tr.Time > s.Expires {
		// The funds are after the expiry: expire the intent first if the watermark
		// has not done it yet.
		if err := c.ctx.Cancel(time.Unix(0, s.Expires), []byte(s.key())); err != nil {
			return err
		}
		if err := c.expireIfUnpaid(s); err != nil {
			return err
		}
	}
	tr.Late = s.Expired || (s.Expires != 0 && tr.Time > s.Expires)
	s.Transfers = append(s.Transfers, tr)
	if err := c.index(tr, s); err != nil {
		return err
	}
	roles := classify(s)
	var err error
	switch roles[len(roles)-1] {
	case roleMatched:
		err = c.emitPrimary(s)
	case roleDuplicate:
		trs, sum := pick(s, roles, roleDuplicate, "")
		err = c.emit(s, reconv1.ReconStatus_RECON_STATUS_DUPLICATE, RuleAlreadyPaid, trs, sum, s.Asset, s.Decimals, false)
	case roleLate:
		trs, sum := pick(s, roles, roleLate, "")
		err = c.emit(s, reconv1.ReconStatus_RECON_STATUS_LATE, RuleAfterExpiry, trs, sum, s.Asset, s.Decimals, false)
	case roleWrongAsset:
		trs, sum := pick(s, roles, roleWrongAsset, tr.Asset)
		err = c.emit(s, reconv1.ReconStatus_RECON_STATUS_WRONG_ASSET, RuleWrongAsset, trs, sum, tr.Asset, tr.Decimals, false)
	}
	if err != nil {
		return err
	}
	return c.save(s)
}

func (c *call) payoutTransfer(s *subject, tr transferRec) error {
	s.Transfers = append(s.Transfers, tr)
	if err := c.index(tr, s); err != nil {
		return err
	}
	var err error
	if tr.Asset != s.Asset {
		roles := classify(s)
		trs, sum := pick(s, roles, roleWrongAsset, tr.Asset)
		err = c.emit(s, reconv1.ReconStatus_RECON_STATUS_WRONG_ASSET, RulePayoutWrongAsset, trs, sum, tr.Asset, tr.Decimals, false)
	} else {
		err = c.emitPrimary(s)
	}
	if err != nil {
		return err
	}
	return c.save(s)
}

func (c *call) unexpected(owner *subject, tr transferRec) error {
	s := &subject{Kind: subjTransfer, ID: tr.ID, Merchant: owner.Merchant, Chain: tr.Chain, Address: owner.Address,
		Transfers: []transferRec{tr}}
	if err := c.index(tr, s); err != nil {
		return err
	}
	if err := c.emit(s, reconv1.ReconStatus_RECON_STATUS_UNEXPECTED, RuleNoOpenIntent, s.Transfers,
		amount(tr.Value), tr.Asset, tr.Decimals, false); err != nil {
		return err
	}
	return c.save(s)
}

func (c *call) failedTx(b []byte) error {
	var tx chainv1.Transaction
	if err := codec.Unmarshal(b, &tx); err != nil {
		return fmt.Errorf("decode transaction: %w", err)
	}
	c.ctx.SetTime(tx.GetMeta().GetEventTime().AsTime())
	hk := heldTxKey(tx.GetChainId(), strings.ToLower(tx.GetHash()))
	id, ok, err := c.txs.Get([]byte(hk[len(heldTxPrefix):]))
	if err != nil {
		return err
	}
	if !ok {
		// Not a payout's transaction, or its signed transaction is still on its way.
		return c.holdFor(hk, b, tx.GetMeta().GetEventTime().AsTime())
	}
	s, err := c.load(subjPayout + "/" + string(id))
	if err != nil || s == nil || s.FailedTx != nil {
		return err
	}
	c.setFailed(s, &tx)
	if err := c.index(*s.FailedTx, s); err != nil {
		return err
	}
	if s.Merchant == "" {
		return c.save(s) // the payout itself is not here yet; it reports FAILED when it is
	}
	if err := c.emitPrimary(s); err != nil {
		return err
	}
	return c.save(s)
}

func (c *call) setFailed(s *subject, tx *chainv1.Transaction) {
	s.FailedTx = &transferRec{ID: tx.GetMeta().GetEventId(), Tx: strings.ToLower(tx.GetHash()), Chain: tx.GetChainId(),
		Block: tx.GetBlock().GetNumber(), Time: tx.GetMeta().GetEventTime().AsTime().UnixNano(),
		Finalized: tx.GetConfirmation() == chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED}
}

// heldTxPrefix starts the held key of a reverted transaction; no address starts so.
const heldTxPrefix = "\x00tx\x00"

// heldTxKey is the held key of a reverted transaction; without the prefix, its key in
// the txs store.
func heldTxKey(chain uint64, hash string) string { return heldTxPrefix + chainKey(chain) + "/" + hash }

// holdFor keeps value under key in the held store until the watermark passes at plus
// Config.Hold.
func (c *call) holdFor(key string, value []byte, at time.Time) error {
	hold := c.h.cfg.Hold
	if hold <= 0 {
		return nil
	}
	until := at.Add(hold)
	if wm := c.ctx.Watermark(); !wm.IsZero() && !until.After(wm) {
		return nil // already past its hold
	}
	if err := c.held.Put([]byte(key), value); err != nil {
		return err
	}
	return c.ctx.Schedule(until, []byte(heldTimer+key))
}

// takeHeld returns and forgets the value held under key, if any.
func (c *call) takeHeld(key string, at func([]byte) (time.Time, error)) ([]byte, error) {
	v, ok, err := c.held.Get([]byte(key))
	if err != nil || !ok {
		return nil, err
	}
	t, err := at(v)
	if err != nil {
		return nil, err
	}
	if err := c.held.Delete([]byte(key)); err != nil {
		return nil, err
	}
	return v, c.ctx.Cancel(t.Add(c.h.cfg.Hold), []byte(heldTimer+key))
}

func (c *call) block(b []byte) error {
	var blk chainv1.Block
	if err := codec.Unmarshal(b, &blk); err != nil {
		return fmt.Errorf("decode block: %w", err)
	}
	c.ctx.SetTime(blk.GetMeta().GetEventTime().AsTime())
	cv, err := c.chain(blk.GetChainId())
	if err != nil {
		return err
	}
	if blk.GetNumber() <= cv.Head {
		return nil
	}
	cv.Head = blk.GetNumber()
	if blk.GetStatus() == chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED && cv.Head > cv.Finalized {
		cv.Finalized = cv.Head
	}
	if err := c.putChain(blk.GetChainId(), cv); err != nil {
		return err
	}
	return c.progress(blk.GetChainId())
}

func (c *call) finality(b []byte) error {
	var m chainv1.FinalityMarker
	if err := codec.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("decode finality marker: %w", err)
	}
	c.ctx.SetTime(m.GetMeta().GetEventTime().AsTime())
	if m.GetStatus() != chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED {
		return nil // SAFE is not final
	}
	cv, err := c.chain(m.GetChainId())
	if err != nil {
		return err
	}
	if m.GetBlock().GetNumber() <= cv.Finalized {
		return nil
	}
	cv.Finalized = m.GetBlock().GetNumber()
	if err := c.putChain(m.GetChainId(), cv); err != nil {
		return err
	}
	return c.progress(m.GetChainId())
}

// blockDigits is the width of a block number in a pending key: zero-padded, so that
// keys sort by block.
const blockDigits = 20

// errStopScan ends a Scan early.
var errStopScan = errors.New("stop scan")

// pendingKey orders the subjects waiting for finality by chain and by the newest block
// of their result that is not final yet, so that a chain's progress visits only those
// it made final.
func pendingKey(chain, block uint64, subjectKey string) string {
	return fmt.Sprintf("%d/%0*d%s", chain, blockDigits, block, subjectKey)
}

// progress re-emits, as final, the results that chain's progress made final.
func (c *call) progress(chain uint64) error {
	cv, err := c.chain(chain)
	if err != nil {
		return err
	}
	upTo := cv.Finalized // every block at or below is final
	if d := c.h.cfg.depth(chain); d > 0 && cv.Head+1 >= d {
		upTo = max(upTo, cv.Head+1-d)
	}
	prefix := chainKey(chain) + "/"
	var keys []string
	err = c.pending.Scan([]byte(prefix), func(k, _ []byte) error {
		rest := k[len(prefix):]
		if len(rest) < blockDigits {
			return fmt.Errorf("malformed pending key %q", k)
		}
		if n, err := strconv.ParseUint(string(rest[:blockDigits]), 10, 64); err != nil || n > upTo {
			return errStopScan
		}
		keys = append(keys, string(k))
		return nil
	})
	if err != nil && !errors.Is(err, errStopScan) {
		return err
	}
	for _, k := range keys {
		s, err := c.load(k[len(prefix)+blockDigits:])
		if err != nil {
			return err
		}
		if s == nil || s.Pending != k {
			if err := c.pending.Delete([]byte(k)); err != nil { // stale
				return err
			}
			continue
		}
		if err := c.emitPrimary(s); err != nil {
			return err
		}
		if err := c.save(s); err != nil {
			return err
		}
	}
	return nil
}

// unpend forgets that s waits for finality.
func (c *call) unpend(s *subject) error {
	if s.Pending == "" {
		return nil
	}
	k := s.Pending
	s.Pending = ""
	return c.pending.Delete([]byte(k))
}

func (c *call) retraction(b []byte) error {
	var r chainv1.Retraction
	if err := codec.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("decode retraction: %w", err)
	}
	c.ctx.SetTime(r.GetMeta().GetEventTime().AsTime())
	bySubject := map[string]map[string]bool{}
	var order []string
	for _, id := range r.GetRetractedEventIds() {
		k, ok, err := c.transfers.Get([]byte(id))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := c.transfers.Delete([]byte(id)); err != nil {
			return err
		}
		if bySubject[string(k)] == nil {
			bySubject[string(k)] = map[string]bool{}
			order = append(order, string(k))
		}
		bySubject[string(k)][id] = true
	}
	for _, k := range order {
		s, err := c.load(k)
		if err != nil {
			return err
		}
		if s == nil {
			continue
		}
		if err := c.retract(s, bySubject[k]); err != nil {
			return err
		}
	}
	return nil
}

// retract undoes the retracted transfers of s. If any of them counted (matched, or the
// subject's own transfer, or a payout's reverted transaction), it emits RETRACTED and
// then the result of what remains.
func (c *call) retract(s *subject, ids map[string]bool) error {
	var counted []transferRec
	switch s.Kind {
	case subjTransfer:
		counted = s.Transfers
	default:
		roles := classify(s)
		for i, t := range s.Transfers {
			if ids[t.ID] && (roles[i] == roleMatched || s.Kind == subjPayout) {
				counted = append(counted, t)
			}
		}
	}
	failed := s.FailedTx != nil && ids[s.FailedTx.ID]
	if failed {
		s.FailedTx = nil
	}
	kept := s.Transfers[:0]
	for _, t := range s.Transfers {
		if !ids[t.ID] {
			kept = append(kept, t)
		}
	}
	s.Transfers = kept
	if len(counted) == 0 && !failed {
		return c.save(s) // only duplicates, late or wrong-asset funds went
	}
	_, _, _, remaining := c.primary(s)
	if remaining == nil {
		remaining = new(big.Int)
	}
	asset, dec := s.Asset, s.Decimals
	if s.Kind == subjTransfer {
		asset, dec = counted[0].Asset, counted[0].Decimals
		remaining = new(big.Int)
	}
	if err := c.emit(s, reconv1.ReconStatus_RECON_STATUS_RETRACTED, RuleRetracted, counted, remaining, asset, dec, false); err != nil {
		return err
	}
	if err := c.unpend(s); err != nil {
		return err
	}
	s.PrimaryFinal = false
	if s.Kind == subjTransfer {
		return c.subjects.Delete([]byte(s.key()))
	}
	if st, _, _, _ := c.primary(s); st != reconv1.ReconStatus_RECON_STATUS_UNSPECIFIED &&
		st != reconv1.ReconStatus_RECON_STATUS_PENDING {
		if err := c.emitPrimary(s); err != nil {
			return err
		}
	}
	if s.Kind == subjIntent && !s.Expired && s.Expires != 0 && c.ctx.Watermark().UnixNano() >= s.Expires {
		if err := c.expireIfUnpaid(s); err != nil { // its timer is spent
			return err
		}
	}
	return c.save(s)
}

// expireIfUnpaid emits MISSING for an intent not paid in full and marks it expired.
func (c *call) expireIfUnpaid(s *subject) error {
	roles := classify(s)
	trs, sum := pick(s, roles, roleMatched, "")
	if sum.Cmp(amount(s.Value)) >= 0 {
		return nil
	}
	s.Expired = true
	rule := RuleExpiredUnpaid
	if sum.Sign() > 0 {
		rule = RuleExpiredUnderpaid
	}
	if err := c.unpend(s); err != nil {
		return err
	}
	return c.emit(s, reconv1.ReconStatus_RECON_STATUS_MISSING, rule, trs, sum, s.Asset, s.Decimals, true)
}

// primary returns the subject's main outcome from what counts now: for an intent, its
// matched transfers against the amount; for a payout, FAILED once its transaction
// reverted, else its transfers against the amount, else PENDING once signed.
func (c *call) primary(s *subject) (reconv1.ReconStatus, string, []transferRec, *big.Int) {
	if s.Kind == subjPayout && s.FailedTx != nil {
		return reconv1.ReconStatus_RECON_STATUS_FAILED, RulePayoutReverted, []transferRec{*s.FailedTx}, new(big.Int)
	}
	roles := classify(s)
	trs, sum := pick(s, roles, roleMatched, "")
	if len(trs) == 0 {
		if s.Kind == subjPayout && s.Signed {
			return reconv1.ReconStatus_RECON_STATUS_PENDING, RulePayoutPending, nil, nil
		}
		return reconv1.ReconStatus_RECON_STATUS_UNSPECIFIED, "", nil, sum
	}
	exact, short, excess := RuleExactAmount, RulePartialAmount, RuleExcessAmount
	if s.Kind == subjPayout {
		exact, short, excess = RulePayoutMined, RulePayoutShort, RulePayoutExcess
	}
	switch sum.Cmp(amount(s.Value)) {
	case 0:
		return reconv1.ReconStatus_RECON_STATUS_MATCHED, exact, trs, sum
	case -1:
		return reconv1.ReconStatus_RECON_STATUS_UNDERPAID, short, trs, sum
	default:
		return reconv1.ReconStatus_RECON_STATUS_OVERPAID, excess, trs, sum
	}
}

func (c *call) allFinal(trs []transferRec) bool {
	if len(trs) == 0 {
		return false
	}
	for _, t := range trs {
		cv, err := c.chain(t.Chain)
		if err != nil || !c.final(cv, t) {
			return false
		}
	}
	return true
}

// emitPrimary emits the subject's primary result and tracks whether it still waits for
// finality.
func (c *call) emitPrimary(s *subject) error {
	st, rule, trs, sum := c.primary(s)
	if st == reconv1.ReconStatus_RECON_STATUS_UNSPECIFIED {
		return nil
	}
	if err := c.emit(s, st, rule, trs, sum, s.Asset, s.Decimals, false); err != nil {
		return err
	}
	if err := c.unpend(s); err != nil {
		return err
	}
	s.PrimaryFinal = c.allFinal(trs)
	if s.PrimaryFinal || st == reconv1.ReconStatus_RECON_STATUS_PENDING {
		return nil
	}
	var newest uint64
	for _, t := range trs {
		if !t.Finalized {
			newest = max(newest, t.Block)
		}
	}
	s.Pending = pendingKey(trs[0].Chain, newest, s.key())
	return c.pending.Put([]byte(s.Pending), []byte{1})
}

// emit writes the subject's next result. received is in asset (nil: unset); the
// difference |received - expected| is set for MATCHED, UNDERPAID, OVERPAID and MISSING;
// forceFinal marks a decision that no reorg undoes (an expiry).
func (c *call) emit(s *subject, st reconv1.ReconStatus, rule string, trs []transferRec, received *big.Int,
	asset string, decimals uint32, forceFinal bool,
) error {
	withDiff := st == reconv1.ReconStatus_RECON_STATUS_MATCHED || st == reconv1.ReconStatus_RECON_STATUS_UNDERPAID ||
		st == reconv1.ReconStatus_RECON_STATUS_OVERPAID || st == reconv1.ReconStatus_RECON_STATUS_MISSING
	s.Results++
	r := &reconv1.ReconciliationResult{
		Meta: &commonv1.Meta{
			EventId:   eventid.New(resultKind, s.ID, strconv.FormatUint(s.Results, 10)),
			EventTime: timestamppb.New(c.ctx.Time()),
			Source:    source,
		},
		MerchantId:     s.Merchant,
		Version:        s.Results,
		Status:         st,
		ChainId:        s.Chain,
		DepositAddress: s.Address,
		Rule:           rule,
	}
	switch s.Kind {
	case subjIntent:
		r.Subject, r.IntentId, r.IntentEventId = reconv1.ReconSubject_RECON_SUBJECT_INTENT, s.ID, s.EventID
	case subjPayout:
		r.Subject, r.PayoutId, r.SigningRequestId = reconv1.ReconSubject_RECON_SUBJECT_PAYOUT, s.ID, s.RequestID
	case subjTransfer:
		r.Subject = reconv1.ReconSubject_RECON_SUBJECT_TRANSFER
	}
	if s.Kind != subjTransfer {
		r.Expected = &commonv1.Amount{Value: s.Value, Asset: s.Asset, Decimals: s.Decimals}
	}
	if received != nil {
		r.Received = &commonv1.Amount{Value: received.String(), Asset: asset, Decimals: decimals}
	}
	if withDiff && received != nil {
		d := new(big.Int).Sub(received, amount(s.Value))
		r.Difference = &commonv1.Amount{Value: d.Abs(d).String(), Asset: s.Asset, Decimals: s.Decimals}
	}
	seenTx := map[string]bool{}
	var newest uint64
	for _, t := range trs {
		if st != reconv1.ReconStatus_RECON_STATUS_FAILED {
			r.TransferEventIds = append(r.TransferEventIds, t.ID)
		}
		if !seenTx[t.Tx] {
			seenTx[t.Tx] = true
			r.TransactionHashes = append(r.TransactionHashes, t.Tx)
		}
		newest = max(newest, t.Block)
	}
	if len(trs) > 0 {
		cv, err := c.chain(trs[0].Chain)
		if err != nil {
			return err
		}
		r.Confirmations = 1
		if cv.Head >= newest {
			r.Confirmations = cv.Head - newest + 1
		}
	}
	r.Final = forceFinal || (st != reconv1.ReconStatus_RECON_STATUS_RETRACTED && c.allFinal(trs))
	b, err := codec.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return c.ctx.Emit(c.h.cfg.Results, []byte(s.Merchant), b)
}
