package ethereum

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/rpc"
)

// Token is what the indexer knows of a token contract.
type Token struct {
	Address common.Address
	// Symbol is the contract's symbol(), or "" if it has none (or not a readable one).
	Symbol string
	// Decimals is the contract's decimals(): the base units of an ERC-20 amount. 0 when
	// the contract has no decimals() (ERC-721 and ERC-1155 tokens, odd ERC-20s).
	Decimals uint8
	// HasDecimals says decimals() answered.
	HasDecimals bool
}

// ContractCaller runs eth_call. ethclient.Client and the simulated backend's client
// both implement it.
type ContractCaller interface {
	CallContract(ctx context.Context, msg ethereum.CallMsg, blockNumber *big.Int) ([]byte, error)
}

// The 4-byte selectors of decimals() and symbol().
var (
	selectorDecimals = []byte{0x31, 0x3c, 0xe5, 0x67}
	selectorSymbol   = []byte{0x95, 0xd8, 0x9b, 0x41}
)

// maxSymbol bounds the symbol kept, in bytes.
const maxSymbol = 64

// TokenCache fetches a token's metadata once and keeps it. A contract that reverts or
// answers garbage is remembered as having no decimals/symbol; a failed call (node
// unreachable) is not remembered, so the next lookup asks again. It is safe for
// concurrent use; concurrent lookups of one token make one set of calls.
type TokenCache struct {
	caller ContractCaller
	max    int

	mu     sync.Mutex
	tokens map[common.Address]*tokenEntry
}

type tokenEntry struct {
	done  chan struct{}
	token Token
	err   error
}

// NewTokenCache returns a cache holding at most max tokens (default 100000 when max is
// not positive); when full, it forgets an arbitrary token to make room.
func NewTokenCache(caller ContractCaller, max int) *TokenCache {
	if max <= 0 {
		max = 100000
	}
	return &TokenCache{caller: caller, max: max, tokens: map[common.Address]*tokenEntry{}}
}

// Lookup returns the metadata of the token at addr, fetching it on first use.
func (c *TokenCache) Lookup(ctx context.Context, addr common.Address) (Token, error) {
	c.mu.Lock()
	e, ok := c.tokens[addr]
	if !ok {
		if len(c.tokens) >= c.max {
			for k := range c.tokens { // forget one: the cache bounds memory, not misses
				delete(c.tokens, k)
				break
			}
		}
		e = &tokenEntry{done: make(chan struct{})}
		c.tokens[addr] = e
		c.mu.Unlock()
		e.token, e.err = c.fetch(ctx, addr)
		if e.err != nil {
			c.mu.Lock()
			delete(c.tokens, addr) // not remembered: the next lookup asks again
			c.mu.Unlock()
		}
		close(e.done)
		return e.token, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.token, e.err
	case <-ctx.Done():
		return Token{}, ctx.Err()
	}
}

func (c *TokenCache) fetch(ctx context.Context, addr common.Address) (Token, error) {
	t := Token{Address: addr}
	out, err := c.caller.CallContract(ctx, ethereum.CallMsg{To: &addr, Data: selectorDecimals}, nil)
	switch {
	case err == nil:
		if d, ok := decodeDecimals(out); ok {
			t.Decimals, t.HasDecimals = d, true
		}
	case !answered(err):
		return Token{}, fmt.Errorf("decimals() of %s: %w", addr.Hex(), err)
	}
	out, err = c.caller.CallContract(ctx, ethereum.CallMsg{To: &addr, Data: selectorSymbol}, nil)
	switch {
	case err == nil:
		t.Symbol = decodeSymbol(out)
	case !answered(err):
		return Token{}, fmt.Errorf("symbol() of %s: %w", addr.Hex(), err)
	}
	return t, nil
}

// answered reports whether err is the node's answer about the call (it reverted, hit an
// invalid opcode) rather than a failure to ask.
func answered(err error) bool {
	var rpcErr rpc.Error
	var dataErr rpc.DataError
	if errors.As(err, &rpcErr) || errors.As(err, &dataErr) {
		return true
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "execution reverted") || strings.Contains(msg, "invalid opcode")
}

// decodeDecimals reads a uint8 returned as one 32-byte word.
func decodeDecimals(out []byte) (uint8, bool) {
	if len(out) != 32 {
		return 0, false
	}
	v := new(big.Int).SetBytes(out)
	if !v.IsUint64() || v.Uint64() > 255 {
		return 0, false
	}
	return uint8(v.Uint64()), true
}

// decodeSymbol reads an ABI-encoded string, or the bytes32 some early tokens return;
// anything else, or text that is not UTF-8, gives "".
func decodeSymbol(out []byte) string {
	if len(out) == 32 { // bytes32, NUL-padded
		n := 0
		for n < 32 && out[n] != 0 {
			n++
		}
		return clean(out[:n])
	}
	off, ok := word(out, 0)
	if !ok || off != 32 {
		return ""
	}
	n, ok := word(out, 32)
	if !ok || 64+n > len(out) {
		return ""
	}
	return clean(out[64 : 64+n])
}

func clean(b []byte) string {
	if len(b) > maxSymbol || !utf8.Valid(b) {
		return ""
	}
	return string(b)
}
