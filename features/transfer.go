package features

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
)

// zeroAddress is the sender of mints and the recipient of burns. It is a counterparty
// but never an entity: it takes part in every mint of every token and its features
// would mean nothing.
const zeroAddress = "0x0000000000000000000000000000000000000000"

// ErrNotAnEntity is returned by TransferEvent for the zero address's side of a mint or
// burn.
var ErrNotAnEntity = errors.New("features: the zero address is not an entity")

// EntityID returns the address entity id "<chain id>:<lowercase 0x address>" (as
// chaingen.EntityID), checking that addr is 20 bytes of hex.
func EntityID(chainID uint64, addr string) (string, error) {
	a := strings.ToLower(addr)
	if len(a) != 42 || !strings.HasPrefix(a, "0x") || strings.Trim(a[2:], "0123456789abcdef") != "" {
		return "", fmt.Errorf("features: %q is not an address", addr)
	}
	return strconv.FormatUint(chainID, 10) + ":" + a, nil
}

// TransferEvent returns the Event of one side of a transfer: the sender's (Out) or the
// recipient's (In).
func TransferEvent(tr *chainv1.Transfer, dir Direction) (Event, error) {
	from, err := EntityID(tr.GetChainId(), tr.GetFrom())
	if err != nil {
		return Event{}, err
	}
	to, err := EntityID(tr.GetChainId(), tr.GetTo())
	if err != nil {
		return Event{}, err
	}
	amount, ok := new(big.Int).SetString(tr.GetAmount().GetValue(), 10)
	if !ok || amount.Sign() < 0 {
		return Event{}, fmt.Errorf("features: bad amount %q", tr.GetAmount().GetValue())
	}
	ev := Event{
		ID: tr.GetMeta().GetEventId(), TraceID: tr.GetMeta().GetTraceId(), Direction: dir,
		TxHash: strings.ToLower(tr.GetTransactionHash()),
		Asset:  tr.GetAmount().GetAsset(), Amount: amount, Time: tr.GetMeta().GetEventTime().AsTime(),
	}
	self, other := from, to
	if dir == In {
		self, other = to, from
	}
	if strings.HasSuffix(self, ":"+zeroAddress) {
		return Event{}, ErrNotAnEntity
	}
	ev.Entity, ev.Counterparty = self, other
	return ev, ev.validate()
}
