package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// Charge is a micro-charge as the API shows it. Settlement is set when this charge
// brought the tab to the merchant's micro_settlement_threshold and the tab was netted.
type Charge struct {
	ID          string      `json:"id"`
	Object      string      `json:"object"`
	Customer    string      `json:"customer"`
	Amount      string      `json:"amount"`
	Asset       string      `json:"asset"`
	Decimals    uint32      `json:"decimals"`
	ChainID     uint64      `json:"chain_id"`
	Description string      `json:"description,omitempty"`
	Created     time.Time   `json:"created"`
	Settlement  *Settlement `json:"settlement,omitempty"`
}

func chargeView(c *paymentsv1.MicroCharge) Charge {
	return Charge{ID: c.GetChargeId(), Object: "charge", Customer: c.GetCustomerId(), Amount: c.GetAmount().GetValue(),
		Asset: c.GetAmount().GetAsset(), Decimals: c.GetAmount().GetDecimals(), ChainID: c.GetChainId(),
		Description: c.GetDescription(), Created: c.GetMeta().GetEventTime().AsTime().UTC()}
}

// Tab is a customer's open (not yet netted) charges in one asset on one chain.
type Tab struct {
	Object    string   `json:"object"`
	Customer  string   `json:"customer"`
	Asset     string   `json:"asset"`
	Decimals  uint32   `json:"decimals"`
	ChainID   uint64   `json:"chain_id"`
	Total     string   `json:"total"`
	ChargeIDs []string `json:"charge_ids"`
}

func tabLock(tab string) string { return "tab:" + tab }

// createCharge handles POST /v1/charges: the charge is produced and put on the
// customer's tab under the tab's lock; if the tab then reaches the merchant's
// micro_settlement_threshold, it is netted at once (still under the lock).
func (s *Server) createCharge(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req CreateChargeRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	c, aerr := req.validate(s.o.Assets)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	merchant := m.GetMerchantId()
	tab := tabKey(merchant, c.customer, c.amount.GetAsset(), c.chainID)
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		unlock, err := s.o.Store.Lock(ctx, tabLock(tab), lockTTL, billingLockWait)
		if err != nil {
			return 0, nil, unavailable("tab_busy")
		}
		defer unlock()
		actx := context.WithoutCancel(ctx)
		// A netting that died half-way is finished first, so its charges leave the tab.
		if _, err := s.finishTabPlan(actx, tab); err != nil {
			s.o.Logger.Error("tab settlement not finished", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		ch := new(paymentsv1.MicroCharge)
		if len(planned) > 0 {
			if err := proto.Unmarshal(planned, ch); err != nil {
				return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "plan_corrupt", Message: "the stored plan of this request is unreadable"}
			}
		} else {
			id := newID("ch_")
			ch = &paymentsv1.MicroCharge{
				Meta:     &commonv1.Meta{EventId: eventid.New(chargeKind, id), EventTime: timestamppb.New(s.o.Now()), Source: source},
				ChargeId: id, MerchantId: merchant, CustomerId: c.customer, Amount: c.amount, ChainId: c.chainID,
				Description: c.description,
			}
			b, err := proto.Marshal(ch)
			if err != nil {
				return 0, nil, &APIError{Status: http.StatusInternalServerError, Type: typeAPI, Code: "encode_failed", Message: "the charge could not be encoded"}
			}
			if err := plan(b); err != nil {
				return 0, nil, unavailable("store_unavailable")
			}
		}
		if _, err := s.o.Store.Charge(ctx, ch.GetChargeId()); err != nil { // else produced before a crash
			if !errors.Is(err, ErrNotFound) {
				return 0, nil, unavailable("store_unavailable")
			}
			if err := s.produceBilling(ctx, TopicCharges, merchant, ch); err != nil {
				s.o.Logger.Error("produce failed", "request_id", requestID(r), "err", err)
				return 0, nil, unavailable("kafka_unavailable")
			}
		}
		if err := billingRetry(actx, 3, func() error { return s.o.Store.ApplyCharge(actx, ch) }); err != nil {
			// Kafka has it: the projector puts it on the (then next) tab.
			s.o.Logger.Warn("charge not projected; the projector will", "charge", ch.GetChargeId(), "err", err)
		}
		view := chargeView(ch)
		if th := m.GetMicroSettlementThreshold(); th != nil && th.GetAsset() == c.amount.GetAsset() {
			limit, ok := new(big.Int).SetString(th.GetValue(), 10)
			if ok && limit.Sign() > 0 {
				_, total, err := s.o.Store.Tab(actx, tab)
				if err != nil {
					s.o.Logger.Warn("tab not read; netted on the next charge", "err", err)
				} else if total.Cmp(limit) >= 0 {
					cs, err := s.settleLocked(actx, merchant, tab, c.customer, c.amount, c.chainID)
					if err != nil {
						// The charge stands; the plan (if any) is finished by the next
						// charge or settle of this tab.
						s.o.Logger.Error("tab not netted", "request_id", requestID(r), "err", err)
					} else if cs != nil {
						v := settlementView(cs)
						view.Settlement = &v
					}
				}
			}
		}
		return http.StatusCreated, view, nil
	})
}

// finishTabPlan produces and stores the planned settlement of tab, if one is left from a
// netting that failed or died, and returns it.
func (s *Server) finishTabPlan(ctx context.Context, tab string) (*paymentsv1.ChargeSettlement, error) {
	key := s.o.Store.key("tabplan", tab)
	b, err := s.o.Store.billingPlan(ctx, key)
	if err != nil || b == nil {
		return nil, err
	}
	p, err := decodeBillingPlan(b)
	if err != nil {
		return nil, err
	}
	if err := s.runBillingPlan(ctx, p); err != nil {
		return nil, err
	}
	if err := s.o.Store.rdb.Del(ctx, key).Err(); err != nil {
		return nil, fmt.Errorf("gateway: drop tab plan: %w", err)
	}
	return p.cs, nil
}

// settleLocked nets tab's open charges into one settlement and one intent for their
// total; the caller holds the tab's lock. The settlement and the intent (with ids
// derived from the tab and its charges, and a reserved deposit address) are planned in
// Redis before anything is produced, so a failure or a crash part-way is finished by
// the next charge or settle of the tab, never netted again. It returns nil when the tab
// has no open charge.
func (s *Server) settleLocked(ctx context.Context, merchant, tab, customer string, asset *commonv1.Amount, chainID uint64) (*paymentsv1.ChargeSettlement, error) {
	if cs, err := s.finishTabPlan(ctx, tab); err != nil || cs != nil {
		return cs, err
	}
	if ok, err := s.planTab(ctx, merchant, tab, customer, asset, chainID); err != nil || !ok {
		return nil, err
	}
	return s.finishTabPlan(ctx, tab)
}

// planTab plans the netting of tab's open charges (see settleLocked); it reports false
// when the tab has none.
func (s *Server) planTab(ctx context.Context, merchant, tab, customer string, asset *commonv1.Amount, chainID uint64) (bool, error) {
	ids, total, err := s.o.Store.Tab(ctx, tab)
	if err != nil || len(ids) == 0 {
		return false, err
	}
	if total.Sign() <= 0 || total.Cmp(maxUint256) > 0 {
		return false, fmt.Errorf("gateway: tab %s totals %s", tab, total)
	}
	now := s.o.Now()
	csID := billingID("cs_", append([]string{"micro", tab}, ids...)...)
	intentID := billingID("pi_", "settlement", csID)
	amount := &commonv1.Amount{Value: total.String(), Asset: asset.GetAsset(), Decimals: asset.GetDecimals()}
	addr, index, err := s.billingDepositAddress(ctx, merchant)
	if err != nil {
		return false, err
	}
	it := s.billingIntent(merchant, intentID, amount, chainID, customer, nil, addr, index, now)
	it.SettlementId = csID
	cs := &paymentsv1.ChargeSettlement{
		Meta:         &commonv1.Meta{EventId: eventid.New(settlementKind, csID), EventTime: timestamppb.New(now), Source: source},
		SettlementId: csID, MerchantId: merchant, Kind: paymentsv1.SettlementKind_SETTLEMENT_KIND_MICRO,
		CustomerId: customer, Total: amount, ChargeIds: ids, IntentId: intentID,
	}
	b, err := encodeBillingPlan(cs, it, nil)
	if err != nil {
		return false, err
	}
	if err := s.o.Store.setBillingPlan(ctx, s.o.Store.key("tabplan", tab), b); err != nil {
		return false, err
	}
	return true, nil
}

// tabOf validates the tab a request names: the customer in the path, asset and chain_id.
func (s *Server) tabOf(customer, asset string, chain uint64) (tabRef, *APIError) {
	return validateTab(s.o.Assets, customer, asset, chain)
}

// settleTab handles POST /v1/tabs/{customer}/settle.
func (s *Server) settleTab(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	body, aerr := readBody(r, s.o.MaxBody)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	var req SettleTabRequest
	if aerr := decodeJSON(body, &req); aerr != nil {
		fail(w, r, aerr)
		return
	}
	ref, aerr := s.tabOf(r.PathValue("customer"), req.Asset, req.ChainID)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	merchant := m.GetMerchantId()
	tab := tabKey(merchant, ref.customer, ref.asset.Code, ref.chainID)
	ctx := r.Context()
	s.idem(w, r, m, body, func(planned []byte, plan func([]byte) error) (int, any, *APIError) {
		unlock, err := s.o.Store.Lock(ctx, tabLock(tab), lockTTL, billingLockWait)
		if err != nil {
			return 0, nil, unavailable("tab_busy")
		}
		defer unlock()
		cs, err := s.settleLocked(context.WithoutCancel(ctx), merchant, tab, ref.customer,
			&commonv1.Amount{Asset: ref.asset.Code, Decimals: ref.asset.Decimals}, ref.chainID)
		if err != nil {
			s.o.Logger.Error("tab not netted", "request_id", requestID(r), "err", err)
			return 0, nil, unavailable("kafka_unavailable")
		}
		if cs == nil {
			return 0, nil, &APIError{Status: http.StatusConflict, Type: typeInvalidRequest, Code: "tab_empty",
				Message: "the tab has no open charges", Param: "customer"}
		}
		return http.StatusOK, settlementView(cs), nil
	})
}

// getTab handles GET /v1/tabs/{customer}?asset=&chain_id=.
func (s *Server) getTab(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	q := r.URL.Query()
	var chain uint64
	if v := q.Get("chain_id"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			fail(w, r, invalid("chain_id", "parameter_invalid", "chain_id must be an integer"))
			return
		}
		chain = n
	}
	ref, aerr := s.tabOf(r.PathValue("customer"), q.Get("asset"), chain)
	if aerr != nil {
		fail(w, r, aerr)
		return
	}
	ids, total, err := s.o.Store.Tab(r.Context(), tabKey(m.GetMerchantId(), ref.customer, ref.asset.Code, ref.chainID))
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, Tab{Object: "tab", Customer: ref.customer, Asset: ref.asset.Code, Decimals: ref.asset.Decimals,
		ChainID: ref.chainID, Total: total.String(), ChargeIDs: append([]string{}, ids...)})
}

// getSettlement handles GET /v1/settlements/{id}.
func (s *Server) getSettlement(w http.ResponseWriter, r *http.Request, m *paymentsv1.MerchantConfig) {
	cs, err := s.o.Store.Settlement(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) || (err == nil && cs.GetMerchantId() != m.GetMerchantId()) {
		fail(w, r, &APIError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "settlement_unknown",
			Message: "no such settlement", Param: "id"})
		return
	}
	if err != nil {
		s.internal(w, r, "store_unavailable", err)
		return
	}
	writeJSON(w, http.StatusOK, settlementView(cs))
}

// projectCharge is the projection of payments.charges.
func (s *Server) projectCharge(ctx context.Context, value []byte) error {
	c := new(paymentsv1.MicroCharge)
	if err := proto.Unmarshal(value, c); err != nil || c.GetChargeId() == "" {
		return nil
	}
	return s.o.Store.ApplyCharge(ctx, c)
}

// projectSettlement is the projection of payments.settlements.
func (s *Server) projectSettlement(ctx context.Context, value []byte) error {
	cs := new(paymentsv1.ChargeSettlement)
	if err := proto.Unmarshal(value, cs); err != nil || cs.GetSettlementId() == "" {
		return nil
	}
	return s.o.Store.ApplySettlement(ctx, cs)
}
