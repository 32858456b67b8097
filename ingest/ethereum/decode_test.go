package ethereum

import (
	"errors"
	"math/big"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

var (
	token    = common.HexToAddress("0x00000000000000000000000000000000000000aa")
	alice    = common.HexToAddress("0x1111111111111111111111111111111111111111")
	bob      = common.HexToAddress("0x2222222222222222222222222222222222222222")
	operator = common.HexToAddress("0x3333333333333333333333333333333333333333")
	maxU256  = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
)

func addrTopic(a common.Address) common.Hash { return common.BytesToHash(a.Bytes()) }

func u256(x *big.Int) []byte { return common.LeftPadBytes(x.Bytes(), 32) }

// batchData encodes (uint256[] ids, uint256[] values) as Solidity does, with
// go-ethereum's ABI encoder, so the test does not share the decoder's assumptions.
func batchData(t *testing.T, ids, values []*big.Int) []byte {
	t.Helper()
	arr, err := abi.NewType("uint256[]", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := abi.Arguments{{Type: arr}, {Type: arr}}.Pack(ids, values)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeTransfer(t *testing.T) {
	tests := []struct {
		name string
		log  types.Log
		want []TokenTransfer
		err  error
	}{
		{
			name: "ERC-20",
			log: types.Log{Address: token, Topics: []common.Hash{TopicTransfer, addrTopic(alice), addrTopic(bob)},
				Data: u256(big.NewInt(1_500_000))},
			want: []TokenTransfer{{Standard: ERC20, Token: token, From: alice, To: bob, Amount: big.NewInt(1_500_000)}},
		},
		{
			name: "ERC-20 of 2^256-1 (mint from the zero address)",
			log: types.Log{Address: token, Topics: []common.Hash{TopicTransfer, {}, addrTopic(bob)},
				Data: u256(maxU256)},
			want: []TokenTransfer{{Standard: ERC20, Token: token, From: common.Address{}, To: bob, Amount: maxU256}},
		},
		{
			name: "ERC-721",
			log: types.Log{Address: token, Topics: []common.Hash{TopicTransfer, addrTopic(alice), addrTopic(bob),
				common.BigToHash(big.NewInt(42))}},
			want: []TokenTransfer{{Standard: ERC721, Token: token, From: alice, To: bob, Amount: big.NewInt(1), TokenID: big.NewInt(42)}},
		},
		{
			name: "ERC-1155 single",
			log: types.Log{Address: token, Topics: []common.Hash{TopicTransferSingle, addrTopic(operator), addrTopic(alice), addrTopic(bob)},
				Data: append(u256(big.NewInt(7)), u256(big.NewInt(300))...)},
			want: []TokenTransfer{{Standard: ERC1155, Token: token, Operator: operator, From: alice, To: bob,
				Amount: big.NewInt(300), TokenID: big.NewInt(7)}},
		},
		{
			name: "ERC-1155 batch",
			log: types.Log{Address: token, Topics: []common.Hash{TopicTransferBatch, addrTopic(operator), addrTopic(alice), addrTopic(bob)},
				Data: batchData(t, []*big.Int{big.NewInt(1), big.NewInt(2), big.NewInt(3)},
					[]*big.Int{big.NewInt(10), big.NewInt(20), maxU256})},
			want: []TokenTransfer{
				{Standard: ERC1155, Token: token, Operator: operator, From: alice, To: bob, TokenID: big.NewInt(1), Amount: big.NewInt(10)},
				{Standard: ERC1155, Token: token, Operator: operator, From: alice, To: bob, TokenID: big.NewInt(2), Amount: big.NewInt(20), BatchIndex: 1},
				{Standard: ERC1155, Token: token, Operator: operator, From: alice, To: bob, TokenID: big.NewInt(3), Amount: maxU256, BatchIndex: 2},
			},
		},
		{
			name: "ERC-1155 empty batch",
			log: types.Log{Address: token, Topics: []common.Hash{TopicTransferBatch, addrTopic(operator), addrTopic(alice), addrTopic(bob)},
				Data: batchData(t, []*big.Int{}, []*big.Int{})},
			want: []TokenTransfer{},
		},
		{name: "no topics", log: types.Log{Address: token}, err: ErrNotTokenEvent},
		{name: "another event", log: types.Log{Topics: []common.Hash{common.HexToHash("0x01")}}, err: ErrNotTokenEvent},
		{name: "Transfer with 2 topics", log: types.Log{Topics: []common.Hash{TopicTransfer, addrTopic(alice)}, Data: u256(big.NewInt(1))}, err: ErrMalformed},
		{name: "ERC-20 with short data", log: types.Log{Topics: []common.Hash{TopicTransfer, addrTopic(alice), addrTopic(bob)}, Data: []byte{1}}, err: ErrMalformed},
		{name: "ERC-721 with data", log: types.Log{Topics: []common.Hash{TopicTransfer, addrTopic(alice), addrTopic(bob), {}}, Data: u256(big.NewInt(1))}, err: ErrMalformed},
		{name: "from is not an address", log: types.Log{Topics: []common.Hash{TopicTransfer, common.HexToHash("0xff00000000000000000000000000000000000000000000000000000000000001"), addrTopic(bob)}, Data: u256(big.NewInt(1))}, err: ErrMalformed},
		{name: "1155 single with 3 topics", log: types.Log{Topics: []common.Hash{TopicTransferSingle, addrTopic(operator), addrTopic(alice)}, Data: make([]byte, 64)}, err: ErrMalformed},
		{name: "1155 single with short data", log: types.Log{Topics: []common.Hash{TopicTransferSingle, addrTopic(operator), addrTopic(alice), addrTopic(bob)}, Data: make([]byte, 63)}, err: ErrMalformed},
		{name: "1155 batch with an offset past the data", log: types.Log{Topics: []common.Hash{TopicTransferBatch, addrTopic(operator), addrTopic(alice), addrTopic(bob)}, Data: append(u256(big.NewInt(1_000_000)), u256(big.NewInt(64))...)}, err: ErrMalformed},
		{name: "1155 batch with ids and values of different lengths", log: types.Log{Topics: []common.Hash{TopicTransferBatch, addrTopic(operator), addrTopic(alice), addrTopic(bob)},
			Data: batchData(t, []*big.Int{big.NewInt(1)}, []*big.Int{})}, err: ErrMalformed},
		{name: "1155 batch claiming 2^40 entries", log: types.Log{Topics: []common.Hash{TopicTransferBatch, addrTopic(operator), addrTopic(alice), addrTopic(bob)},
			Data: append(append(u256(big.NewInt(64)), u256(big.NewInt(64))...), u256(new(big.Int).Lsh(big.NewInt(1), 40))...)}, err: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeTransfer(&tt.log)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d transfers, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				if !sameTransfer(got[i], tt.want[i]) {
					t.Errorf("transfer %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func sameTransfer(a, b TokenTransfer) bool {
	eq := func(x, y *big.Int) bool { return (x == nil) == (y == nil) && (x == nil || x.Cmp(y) == 0) }
	return a.Standard == b.Standard && a.Token == b.Token && a.Operator == b.Operator && a.From == b.From &&
		a.To == b.To && eq(a.Amount, b.Amount) && eq(a.TokenID, b.TokenID) && a.BatchIndex == b.BatchIndex
}

func TestDecodeApproval(t *testing.T) {
	a, err := DecodeApproval(&types.Log{Address: token, Topics: []common.Hash{TopicApproval, addrTopic(alice), addrTopic(bob)}, Data: u256(maxU256)})
	if err != nil || a.Standard != ERC20 || a.Owner != alice || a.Spender != bob || a.Amount.Cmp(maxU256) != 0 || a.TokenID != nil {
		t.Errorf("ERC-20 approval = %+v, %v", a, err)
	}
	a, err = DecodeApproval(&types.Log{Address: token, Topics: []common.Hash{TopicApproval, addrTopic(alice), addrTopic(bob), common.BigToHash(big.NewInt(9))}})
	if err != nil || a.Standard != ERC721 || a.TokenID.Int64() != 9 || a.Amount != nil {
		t.Errorf("ERC-721 approval = %+v, %v", a, err)
	}
	if _, err := DecodeApproval(&types.Log{Topics: []common.Hash{TopicTransfer}}); !errors.Is(err, ErrNotTokenEvent) {
		t.Errorf("a Transfer log as approval: %v", err)
	}
	if _, err := DecodeApproval(&types.Log{Topics: []common.Hash{TopicApproval, addrTopic(alice), addrTopic(bob)}}); !errors.Is(err, ErrMalformed) {
		t.Errorf("approval without data: %v", err)
	}
}

// FuzzDecodeLog feeds arbitrary topics and data, under each decoded signature, to the
// decoders: they return transfers or an error wrapping ErrNotTokenEvent or ErrMalformed,
// never panic, and what they return is well formed.
func FuzzDecodeLog(f *testing.F) {
	f.Add(uint8(0), []byte{}, u256(big.NewInt(5)))
	f.Add(uint8(0), append(addrTopic(alice).Bytes(), addrTopic(bob).Bytes()...), u256(big.NewInt(5)))
	f.Add(uint8(2), append(append(addrTopic(operator).Bytes(), addrTopic(alice).Bytes()...), addrTopic(bob).Bytes()...),
		[]byte(nil))
	f.Add(uint8(3), append(append(addrTopic(operator).Bytes(), addrTopic(alice).Bytes()...), addrTopic(bob).Bytes()...),
		append(append(u256(big.NewInt(64)), u256(big.NewInt(96))...), u256(big.NewInt(0))...))
	signatures := []common.Hash{TopicTransfer, TopicApproval, TopicTransferSingle, TopicTransferBatch, {}}
	f.Fuzz(func(t *testing.T, sig uint8, topics, data []byte) {
		l := &types.Log{Address: token, Data: data, Topics: []common.Hash{signatures[int(sig)%len(signatures)]}}
		for len(topics) >= 32 && len(l.Topics) < 6 {
			l.Topics = append(l.Topics, common.BytesToHash(topics[:32]))
			topics = topics[32:]
		}
		transfers, err := DecodeTransfer(l)
		if err != nil {
			if !errors.Is(err, ErrNotTokenEvent) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		}
		for _, tr := range transfers {
			if tr.Amount == nil || tr.Amount.Sign() < 0 || tr.Amount.Cmp(maxU256) > 0 {
				t.Fatalf("amount out of range: %+v", tr)
			}
			if tr.Standard != ERC20 && (tr.TokenID == nil || tr.TokenID.Cmp(maxU256) > 0) {
				t.Fatalf("token id missing or out of range: %+v", tr)
			}
		}
		if _, err := DecodeApproval(l); err != nil && !errors.Is(err, ErrNotTokenEvent) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("unexpected approval error kind: %v", err)
		}
	})
}
