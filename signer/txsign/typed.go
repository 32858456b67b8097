package txsign

import (
	"context"
	"fmt"

	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// SignTypedData signs EIP-712 typed data through s, as eth_signTypedData_v4 does: the
// digest is keccak256(0x19 0x01 || domainSeparator || hashStruct(message)) computed by
// go-ethereum's apitypes.TypedDataAndHash. It returns the 65-byte signature R || S || V
// with V = 27 or 28, and the digest. It blocks for as long as s.Sign does.
func SignTypedData(ctx context.Context, s Signer, data apitypes.TypedData) (sig []byte, hash [32]byte, err error) {
	h, _, err := apitypes.TypedDataAndHash(data)
	if err != nil {
		return nil, hash, fmt.Errorf("txsign: typed data: %w", err)
	}
	copy(hash[:], h)
	sig, err = signDigest(ctx, s, hash)
	if err != nil {
		return nil, hash, err
	}
	sig[64] += 27
	return sig, hash, nil
}
