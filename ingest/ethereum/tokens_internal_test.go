package ethereum

import (
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
)

func abiString(t testing.TB, s string) []byte {
	t.Helper()
	typ, _ := abi.NewType("string", "", nil)
	b, err := abi.Arguments{{Type: typ}}.Pack(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeSymbol(t *testing.T) {
	tests := []struct {
		name string
		out  []byte
		want string
	}{
		{"ABI string", abiString(t, "USDC"), "USDC"},
		{"empty string", abiString(t, ""), ""},
		{"bytes32 (early tokens)", common.RightPadBytes([]byte("MKR"), 32), "MKR"},
		{"too long", abiString(t, strings.Repeat("A", maxSymbol+1)), ""},
		{"not UTF-8", common.RightPadBytes([]byte{0xff, 0xfe}, 32), ""},
		{"nothing", nil, ""},
		{"length past the data", append(append(common.LeftPadBytes([]byte{32}, 32), common.LeftPadBytes([]byte{200}, 32)...), 'x'), ""},
		{"odd offset", append(common.LeftPadBytes([]byte{64}, 32), make([]byte, 64)...), ""},
	}
	for _, tt := range tests {
		if got := decodeSymbol(tt.out); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if d, ok := decodeDecimals(common.LeftPadBytes([]byte{18}, 32)); !ok || d != 18 {
		t.Errorf("decimals 18: %d %v", d, ok)
	}
	if _, ok := decodeDecimals(common.LeftPadBytes([]byte{1, 0}, 32)); ok {
		t.Error("decimals 256 accepted")
	}
	if _, ok := decodeDecimals([]byte{18}); ok {
		t.Error("a short answer accepted as decimals")
	}
}

// FuzzDecodeSymbol: any answer gives a string of at most maxSymbol bytes, never a panic.
func FuzzDecodeSymbol(f *testing.F) {
	f.Add(abiString(f, "USDC"))
	f.Add(common.RightPadBytes([]byte("MKR"), 32))
	f.Fuzz(func(t *testing.T, out []byte) {
		if s := decodeSymbol(out); len(s) > maxSymbol {
			t.Fatalf("symbol of %d bytes", len(s))
		}
		decodeDecimals(out)
	})
}
