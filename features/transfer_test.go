package features

import (
	"testing"

	"google.golang.org/protobuf/types/known/timestamppb"

	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// TestTransferEventCarriesTransaction checks that a transfer's two events and the vectors
// they give name the transfer's transaction (lowercased), so scores and alerts can.
func TestTransferEventCarriesTransaction(t *testing.T) {
	tr := &chainv1.Transfer{
		Meta:            &commonv1.Meta{EventId: "ev1", EventTime: timestamppb.New(t0)},
		ChainId:         1,
		TransactionHash: "0xABCDEF",
		From:            "0x00000000000000000000000000000000000000AA",
		To:              "0x00000000000000000000000000000000000000bb",
		Amount:          &commonv1.Amount{Value: "5", Asset: "ETH", Decimals: 18},
	}
	h := newHarness(t)
	for _, dir := range []Direction{Out, In} {
		ev, err := TransferEvent(tr, dir)
		if err != nil {
			t.Fatal(err)
		}
		v, err := h.e.Apply(h.st, ev, t0)
		if err != nil {
			t.Fatal(err)
		}
		if v.GetTransactionHash() != "0xabcdef" {
			t.Errorf("direction %v: vector transaction_hash %q, want 0xabcdef", dir, v.GetTransactionHash())
		}
	}
}
