package signer_test

import (
	"context"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/testenv"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

// softHSMToken makes a SoftHSM2 token of the test's own (label "weir-test", user PIN
// pin) in a temporary directory, points SOFTHSM2_CONF at it and returns the module
// (WEIR_SOFTHSM2_MODULE, which deploy/local/stack.env sets). Without SoftHSM2 the test
// is skipped, or fails when CI is set.
func softHSMToken(t *testing.T, pin string) string {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + ": run deploy/local/up.sh (it installs softhsm2) and source deploy/local/stack.env"
		if v := strings.ToLower(os.Getenv("CI")); v != "" && v != "false" && v != "0" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	module := os.Getenv("WEIR_SOFTHSM2_MODULE")
	if module == "" {
		missing("WEIR_SOFTHSM2_MODULE is not set")
	}
	if _, err := os.Stat(module); err != nil {
		missing("WEIR_SOFTHSM2_MODULE: %v", err)
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		missing("softhsm2-util: %v", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	if err := os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	if out, err := exec.Command(util, "--init-token", "--free", "--label", "weir-test", "--pin", pin, "--so-pin", "87654321").CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return module
}

// TestHSMThroughTheAPI runs the signer Service on the real Kafka with a PKCS#11 backend
// (SoftHSM2), creates a key on the token through POST /v1/keys, signs an EIP-1559
// transaction with it through POST /v1/sign/transaction, and checks with go-ethereum
// that the transaction's sender is the key's address (and that the key's public key
// matches it); the AuditRecord and SignedTransaction are on Kafka, and no event holds
// the PIN.
func TestHSMThroughTheAPI(t *testing.T) {
	const pin = "hsm-user-pin-4711"
	module := softHSMToken(t, pin)
	brokers := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prefix := fmt.Sprintf("signerhsm-%d.", time.Now().UnixNano())
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	topics := []string{prefix + signer.TopicRequests, prefix + signer.TopicSigned, prefix + signer.TopicAudit}
	if _, err := adm.CreateTopics(ctx, 1, 1, nil, topics...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics...) })

	listening := make(chan string, 1)
	svc := &signer.Service{
		Addr: "127.0.0.1:0", Brokers: brokers, TopicPrefix: prefix, StateDir: t.TempDir(), KeystoreDir: t.TempDir(),
		Passphrase:   func(context.Context) (string, error) { return "correct horse", nil },
		KeystoreOpts: []keys.KeystoreOption{keys.WithScrypt(keys.ScryptLight)},
		HSMModule:    module,
		HSMOpts: []keys.HSMOption{keys.WithTokenLabel("weir-test"),
			keys.WithPIN(func(context.Context) (string, error) { return pin, nil })},
		Operators:    []signer.Operator{{ID: "operator:alice", Token: testToken}},
		ChainIDs:     []uint64{chainID},
		PendingNonce: func(context.Context, uint64, common.Address) (uint64, error) { return 0, nil },
		OnListen:     func(addr string) { listening <- addr },
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(rctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	h := &harness{t: t, brokers: brokers, prefix: prefix}
	select {
	case addr := <-listening:
		h.base = "http://" + addr
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-ctx.Done():
		t.Fatal("signer did not listen")
	}

	if st := h.call("POST", "/v1/policies", allowAll, nil); st != http.StatusCreated {
		t.Fatalf("draft: %d", st)
	}
	if st := h.call("POST", "/v1/policies/default/1/publish", nil, nil); st != 200 {
		t.Fatalf("publish: %d", st)
	}
	var key struct {
		ID        string `json:"id"`
		Address   string `json:"address"`
		PublicKey string `json:"public_key"`
		Backend   string `json:"backend"`
	}
	if st := h.call("POST", "/v1/keys", map[string]string{"label": "cold", "backend": "hsm"}, &key); st != http.StatusCreated || key.Backend != "hsm" {
		t.Fatalf("create hsm key: %d %+v", st, key)
	}
	pub, err := crypto.UnmarshalPubkey(hexutil.MustDecode(key.PublicKey))
	if err != nil || crypto.PubkeyToAddress(*pub) != common.HexToAddress(key.Address) {
		t.Fatalf("public key %s does not give address %s: %v", key.PublicKey, key.Address, err)
	}
	var ok signer.TxResponse
	body := map[string]any{"request_id": "hsm-1", "key_id": key.ID, "chain_id": chainID, "to": "0x00000000000000000000000000000000000000b0",
		"value": "12345", "gas": 21000, "max_fee_per_gas": "3000000000", "max_priority_fee_per_gas": "1000000000", "data": "0x"}
	if st := h.call("POST", "/v1/sign/transaction", body, &ok); st != 200 {
		t.Fatalf("sign: %d", st)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(hexutil.MustDecode(ok.RawTx)); err != nil {
		t.Fatal(err)
	}
	if tx.Type() != types.DynamicFeeTxType || tx.ChainId().Uint64() != chainID || tx.Value().Cmp(big.NewInt(12345)) != 0 || tx.Hash().Hex() != ok.Hash {
		t.Fatalf("transaction: type %d chain %v value %v hash %s (answer %+v)", tx.Type(), tx.ChainId(), tx.Value(), tx.Hash().Hex(), ok)
	}
	from, err := types.Sender(types.NewLondonSigner(tx.ChainId()), &tx)
	if err != nil || from != common.HexToAddress(key.Address) {
		t.Fatalf("sender %v (%v), want the HSM key's address %s", from, err, key.Address)
	}
	v, r, s := tx.RawSignatureValues()
	if !crypto.ValidateSignatureValues(byte(v.Uint64()), r, s, true) {
		t.Fatalf("signature values not canonical (homestead low-S): v %v r %v s %v", v, r, s)
	}

	signed := consume[*signerv1.SignedTransaction](ctx, t, brokers, prefix+signer.TopicSigned, 1)
	if signed[0].GetTransactionHash() != ok.Hash || signed[0].GetKeyId() != key.ID {
		t.Errorf("signed event %v", signed[0])
	}
	audits := consume[*signerv1.AuditRecord](ctx, t, brokers, prefix+signer.TopicAudit, 4)
	var created bool
	for _, a := range audits {
		if a.GetAction() == "key.create" && a.GetResource() == "backend:hsm" && a.GetKeyId() == key.ID {
			created = true
		}
		if strings.Contains(a.String(), pin) {
			t.Errorf("PIN in audit record %v", a)
		}
	}
	if !created {
		t.Error("no audit record of the HSM key's creation")
	}
}
