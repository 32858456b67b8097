package ethereum

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
)

// Event signatures (topic 0) of the token standards the indexer decodes.
var (
	// TopicTransfer is Transfer(address,address,uint256): ERC-20 (value in data) and
	// ERC-721 (token id as the third indexed topic) share it.
	TopicTransfer = crypto.Keccak256Hash([]byte("Transfer(address,address,uint256)"))
	// TopicApproval is Approval(address,address,uint256), shared the same way.
	TopicApproval = crypto.Keccak256Hash([]byte("Approval(address,address,uint256)"))
	// TopicTransferSingle is ERC-1155's TransferSingle(operator, from, to, id, value).
	TopicTransferSingle = crypto.Keccak256Hash([]byte("TransferSingle(address,address,address,uint256,uint256)"))
	// TopicTransferBatch is ERC-1155's TransferBatch(operator, from, to, ids, values).
	TopicTransferBatch = crypto.Keccak256Hash([]byte("TransferBatch(address,address,address,uint256[],uint256[])"))
)

// Standard says which token standard a decoded event follows.
type Standard int

// The token standards.
const (
	ERC20 Standard = iota + 1
	ERC721
	ERC1155
)

func (s Standard) String() string {
	switch s {
	case ERC20:
		return "ERC-20"
	case ERC721:
		return "ERC-721"
	case ERC1155:
		return "ERC-1155"
	}
	return fmt.Sprintf("Standard(%d)", int(s))
}

// TokenTransfer is one movement of tokens decoded from a log. A TransferBatch log yields
// one TokenTransfer per id, numbered by BatchIndex.
type TokenTransfer struct {
	Standard Standard
	// Token is the contract that emitted the log.
	Token    common.Address
	Operator common.Address // ERC-1155 only: who moved the tokens
	From, To common.Address
	// Amount is the value moved in base units: the ERC-20 value, 1 for an ERC-721
	// token, the ERC-1155 value. At most 2^256-1.
	Amount *big.Int
	// TokenID is the ERC-721 or ERC-1155 token id; nil for ERC-20.
	TokenID *big.Int
	// BatchIndex is the position in a TransferBatch; 0 otherwise.
	BatchIndex uint32
}

// TokenApproval is an ERC-20 allowance or an ERC-721 single-token approval.
type TokenApproval struct {
	Standard       Standard
	Token          common.Address
	Owner, Spender common.Address
	// Amount is the ERC-20 allowance; nil for ERC-721.
	Amount *big.Int
	// TokenID is the ERC-721 token approved; nil for ERC-20.
	TokenID *big.Int
}

// Errors of the decoders. Every error a decoder returns wraps one of them.
var (
	// ErrNotTokenEvent: the log's first topic is not one of the decoded events (or the
	// log has no topics). Most logs of a block are not token events; this is not a
	// malformed log.
	ErrNotTokenEvent = errors.New("not a token event")
	// ErrMalformed: the log has a token event's signature but its topics or data do not
	// fit the event. Such logs exist on chain (contracts that misuse the signature) and
	// are reported, never indexed as transfers.
	ErrMalformed = errors.New("malformed token event")
)

// maxBatch bounds the entries of a TransferBatch log the decoder accepts, so that a
// hostile log cannot make it allocate without limit. Logs are bounded by gas anyway;
// 4096 entries is far above anything a block carries in one log.
const maxBatch = 4096

// DecodeTransfer decodes a Transfer, TransferSingle or TransferBatch log.
func DecodeTransfer(l *types.Log) ([]TokenTransfer, error) {
	if len(l.Topics) == 0 {
		return nil, ErrNotTokenEvent
	}
	switch l.Topics[0] {
	case TopicTransfer:
		return decodeTransfer(l)
	case TopicTransferSingle, TopicTransferBatch:
		return decode1155(l)
	}
	return nil, ErrNotTokenEvent
}

func decodeTransfer(l *types.Log) ([]TokenTransfer, error) {
	from, to, err := twoAddresses(l)
	if err != nil {
		return nil, err
	}
	t := TokenTransfer{Token: l.Address, From: from, To: to}
	switch {
	case len(l.Topics) == 3 && len(l.Data) == 32:
		t.Standard, t.Amount = ERC20, new(big.Int).SetBytes(l.Data)
	case len(l.Topics) == 4 && len(l.Data) == 0:
		t.Standard, t.Amount, t.TokenID = ERC721, big.NewInt(1), l.Topics[3].Big()
	default:
		return nil, malformed(l, "Transfer with %d topics and %d data bytes (want 3 and 32, or 4 and 0)",
			len(l.Topics), len(l.Data))
	}
	return []TokenTransfer{t}, nil
}

// DecodeApproval decodes an ERC-20 or ERC-721 Approval log.
func DecodeApproval(l *types.Log) (TokenApproval, error) {
	if len(l.Topics) == 0 || l.Topics[0] != TopicApproval {
		return TokenApproval{}, ErrNotTokenEvent
	}
	owner, spender, err := twoAddresses(l)
	if err != nil {
		return TokenApproval{}, err
	}
	a := TokenApproval{Token: l.Address, Owner: owner, Spender: spender}
	switch {
	case len(l.Topics) == 3 && len(l.Data) == 32:
		a.Standard, a.Amount = ERC20, new(big.Int).SetBytes(l.Data)
	case len(l.Topics) == 4 && len(l.Data) == 0:
		a.Standard, a.TokenID = ERC721, l.Topics[3].Big()
	default:
		return TokenApproval{}, malformed(l, "Approval with %d topics and %d data bytes (want 3 and 32, or 4 and 0)",
			len(l.Topics), len(l.Data))
	}
	return a, nil
}

// twoAddresses reads topics 1 and 2 as addresses.
func twoAddresses(l *types.Log) (common.Address, common.Address, error) {
	if len(l.Topics) < 3 {
		return common.Address{}, common.Address{}, malformed(l, "%d topics, want at least 3", len(l.Topics))
	}
	a, err := address(l, 1)
	if err != nil {
		return common.Address{}, common.Address{}, err
	}
	b, err := address(l, 2)
	if err != nil {
		return common.Address{}, common.Address{}, err
	}
	return a, b, nil
}

// address reads topic i as an address: 12 zero bytes, then 20 bytes of address.
func address(l *types.Log, i int) (common.Address, error) {
	t := l.Topics[i]
	for _, b := range t[:12] {
		if b != 0 {
			return common.Address{}, malformed(l, "topic %d is not an address (%s)", i, t.Hex())
		}
	}
	return common.BytesToAddress(t[12:]), nil
}

func decode1155(l *types.Log) ([]TokenTransfer, error) {
	if len(l.Topics) != 4 {
		return nil, malformed(l, "ERC-1155 transfer with %d topics, want 4", len(l.Topics))
	}
	operator, err := address(l, 1)
	if err != nil {
		return nil, err
	}
	from, err := address(l, 2)
	if err != nil {
		return nil, err
	}
	to, err := address(l, 3)
	if err != nil {
		return nil, err
	}
	base := TokenTransfer{Standard: ERC1155, Token: l.Address, Operator: operator, From: from, To: to}
	if l.Topics[0] == TopicTransferSingle {
		if len(l.Data) != 64 {
			return nil, malformed(l, "TransferSingle with %d data bytes, want 64", len(l.Data))
		}
		base.TokenID = new(big.Int).SetBytes(l.Data[:32])
		base.Amount = new(big.Int).SetBytes(l.Data[32:])
		return []TokenTransfer{base}, nil
	}
	ids, err := uintArray(l, 0)
	if err != nil {
		return nil, err
	}
	values, err := uintArray(l, 1)
	if err != nil {
		return nil, err
	}
	if len(ids) != len(values) {
		return nil, malformed(l, "TransferBatch with %d ids and %d values", len(ids), len(values))
	}
	out := make([]TokenTransfer, len(ids))
	for i := range ids {
		t := base
		t.TokenID, t.Amount, t.BatchIndex = ids[i], values[i], uint32(i)
		out[i] = t
	}
	return out, nil
}

// uintArray reads the arg-th head slot of the ABI-encoded data as the offset of a
// uint256[] and returns its elements. Every offset and length is checked against the
// data before use.
func uintArray(l *types.Log, arg int) ([]*big.Int, error) {
	data := l.Data
	head := arg * 32
	off, ok := word(data, head)
	if !ok {
		return nil, malformed(l, "TransferBatch data of %d bytes has no argument %d", len(data), arg)
	}
	n, ok := word(data, off)
	if !ok {
		return nil, malformed(l, "TransferBatch argument %d: offset %d outside %d data bytes", arg, off, len(data))
	}
	if n > maxBatch {
		return nil, malformed(l, "TransferBatch argument %d: %d entries, more than %d", arg, n, maxBatch)
	}
	start := off + 32
	if start+n*32 > len(data) {
		return nil, malformed(l, "TransferBatch argument %d: %d entries overrun %d data bytes", arg, n, len(data))
	}
	out := make([]*big.Int, n)
	for i := range out {
		out[i] = new(big.Int).SetBytes(data[start+i*32 : start+(i+1)*32])
	}
	return out, nil
}

// word reads the 32-byte big-endian word at pos as a non-negative int that fits in
// 32 bits (offsets and lengths in a log's data are far smaller); ok is false if the word
// is out of range or too large.
func word(data []byte, pos int) (int, bool) {
	if pos < 0 || pos+32 > len(data) || pos+32 < pos {
		return 0, false
	}
	w := data[pos : pos+32]
	for _, b := range w[:28] {
		if b != 0 {
			return 0, false
		}
	}
	v := binary.BigEndian.Uint32(w[28:])
	if v > 1<<30 {
		return 0, false
	}
	return int(v), true
}

func malformed(l *types.Log, format string, args ...any) error {
	return fmt.Errorf("%w: log %d of tx %s from %s: %s", ErrMalformed, l.Index, l.TxHash.Hex(),
		l.Address.Hex(), fmt.Sprintf(format, args...))
}
