package signer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/proctest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/codec"
	signerv1 "github.com/weirhq/weir/schemas/gen/weir/signer/v1"
	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

// TestKillNineNeverSignsANonceTwice runs the signer as a child process on the real
// Kafka, with one keystore key and a policy that allows everything, and has 8 clients
// sign 240 transfers, each under a request id of its own and with a value of its own,
// retrying the same request id and body on every failure as a real client does. Three
// times, while requests are in flight, the child is killed with SIGKILL and started again
// on the same state directory and port. Then, over every answer and every record of
// signer.signed (read committed): each nonce carries one signed transaction, byte for
// byte, whatever the number of times it was signed; each request id one transaction
// hash, the one its client was answered and that a later retry is answered again; and
// every signature recovers to the key's address.
func TestKillNineNeverSignsANonceTwice(t *testing.T) {
	const (
		requests = 240
		workers  = 8
	)
	kills := []int64{30, 90, 150} // SIGKILL once this many requests have been answered
	brokers := testenv.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	prefix := fmt.Sprintf("signerkill-%d.", time.Now().UnixNano())
	adm := kadm.NewClient(newKafkaClient(t, brokers))
	topics := []string{prefix + signer.TopicRequests, prefix + signer.TopicSigned, prefix + signer.TopicAudit}
	res, err := adm.CreateTopics(ctx, 1, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics...) })

	// The key, made before the first start in the keystore every child opens.
	const pass = "correct horse"
	ksDir := t.TempDir()
	ks, err := keys.NewKeystore(ksDir, keys.WithPassphrase(func(context.Context) (string, error) { return pass, nil }),
		keys.WithScrypt(keys.ScryptLight))
	if err != nil {
		t.Fatal(err)
	}
	key, err := ks.Create(ctx, "hot")
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Close(); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	child := &signerChild{t: t, url: "http://" + addr, env: []string{
		childEnv + "=1",
		"CHILD_ADDR=" + addr,
		"CHILD_BROKERS=" + strings.Join(brokers, ","),
		"CHILD_TOPIC_PREFIX=" + prefix,
		"CHILD_STATE_DIR=" + t.TempDir(),
		"CHILD_KEYSTORE_DIR=" + ksDir,
		"CHILD_PASSPHRASE=" + pass,
		"CHILD_TOKEN=" + testToken,
		fmt.Sprintf("CHILD_CHAIN_ID=%d", chainID),
	}}
	began := time.Now()
	child.start()
	c := &killClient{url: child.url,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}

	// A policy that allows everything, published once: it lives in the state directory.
	pol := `{"id": "default", "rules": [{"name": "any", "action": "allow", "match": {}}]}`
	if r, err := c.do(ctx, "POST", "/v1/policies", []byte(pol)); err != nil || r.status != http.StatusCreated {
		t.Fatalf("draft policy: %d %s %v", r.status, r.body, err)
	}
	if r, err := c.do(ctx, "POST", "/v1/policies/default/1/publish", nil); err != nil || r.status != http.StatusOK {
		t.Fatalf("publish policy: %d %s %v", r.status, r.body, err)
	}

	bodies := make([][]byte, requests)
	for i := range bodies {
		bodies[i] = killTxRequest(t, key.ID, i)
	}
	got := make([]signer.TxResponse, requests) // by request number; each written by the worker that took it
	reached := make([]chan struct{}, len(kills))
	for i := range reached {
		reached[i] = make(chan struct{})
	}
	wctx, wcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { wcancel(); wg.Wait() }()
	var next atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= requests || wctx.Err() != nil {
					return
				}
				r, err := c.sign(wctx, bodies[i])
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					continue
				}
				got[i] = r
				n := c.ok.Add(1)
				for k, at := range kills {
					if n == at {
						close(reached[k])
					}
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for k, at := range kills {
		select {
		case <-reached[k]:
		case <-done:
			t.Fatalf("every request ended before %d were answered", at)
		}
		inFlight := c.inFlight.Load()
		child.c.Kill(t)
		t.Logf("%v: SIGKILL after %d answers, %d requests in flight", time.Since(began).Round(time.Millisecond), c.ok.Load(), inFlight)
		child.start()
		t.Logf("%v: restarted", time.Since(began).Round(time.Millisecond))
	}
	<-done
	t.Logf("%v: %d of %d requests answered; %d attempts lost their connection, %d found no server, %d answered 5xx",
		time.Since(began).Round(time.Millisecond), c.ok.Load(), requests, c.lost.Load(), c.refused.Load(), c.unavailable.Load())
	// A request that got no answer is an error already; the log is checked all the same.
	if c.lost.Load() == 0 {
		t.Error("no request lost its connection to a killed signer: the test proved nothing")
	}

	// Every request, retried once more on the last signer, is answered the same
	// transaction.
	for i, body := range bodies {
		if got[i].Hash == "" {
			continue // not answered (an error above)
		}
		r, err := c.sign(ctx, body)
		if err != nil {
			t.Errorf("request %d again: %v", i, err)
			continue
		}
		if r != got[i] {
			t.Errorf("request %d again: %+v, first answer %+v", i, r, got[i])
		}
	}
	child.c.Stop(t)
	t.Logf("%v: stopped", time.Since(began).Round(time.Millisecond))

	evs := readSigned(ctx, t, brokers, adm, prefix+signer.TopicSigned)
	checkSigned(t, key.Address, bodies, got, evs)
	t.Logf("%v: checked", time.Since(began).Round(time.Millisecond))
}

// checkSigned checks the answers (by request number) and the signer.signed records:
// one transaction per nonce and per request id, each the answer's, each signed by from.
func checkSigned(t *testing.T, from common.Address, bodies [][]byte, got []signer.TxResponse, evs []*signerv1.SignedTransaction) {
	t.Helper()
	txSigner := types.LatestSignerForChainID(big.NewInt(chainID))
	byNonce := map[uint64][]byte{}   // nonce → raw transaction
	byRequest := map[string]string{} // request id → transaction hash
	count := map[string]int{}        // request id → records
	see := func(what, requestID string, nonce uint64, raw []byte, hash string) {
		var tx types.Transaction
		if err := tx.UnmarshalBinary(raw); err != nil {
			t.Errorf("%s %s: raw transaction: %v", what, requestID, err)
			return
		}
		if tx.Nonce() != nonce || tx.Hash().Hex() != hash {
			t.Errorf("%s %s: raw transaction has nonce %d hash %s, said %d %s", what, requestID, tx.Nonce(), tx.Hash().Hex(), nonce, hash)
		}
		if sender, err := types.Sender(txSigner, &tx); err != nil || sender != from {
			t.Errorf("%s %s: signature recovers to %s (%v), want %s", what, requestID, sender.Hex(), err, from.Hex())
		}
		if first, ok := byNonce[nonce]; !ok {
			byNonce[nonce] = raw
		} else if !bytes.Equal(first, raw) {
			t.Errorf("nonce %d signed twice with different payloads:\n%x\n%x (%s %s)", nonce, first, raw, what, requestID)
		}
		if first, ok := byRequest[requestID]; !ok {
			byRequest[requestID] = hash
		} else if first != hash {
			t.Errorf("request %s has two transactions: %s and %s", requestID, first, hash)
		}
	}
	for _, ev := range evs {
		if ev.GetFrom() != from.Hex() || ev.GetChainId() != chainID {
			t.Errorf("signed event from %s chain %d", ev.GetFrom(), ev.GetChainId())
		}
		count[ev.GetRequestId()]++
		see("signed event", ev.GetRequestId(), ev.GetNonce(), ev.GetRawTransaction(), ev.GetTransactionHash())
	}
	resigned := 0
	for _, n := range count {
		if n > 2 { // the answer and the retry at the end make 2
			resigned++
		}
	}
	answered := 0
	for i, r := range got {
		if r.Hash == "" {
			continue // not answered (an error already)
		}
		answered++
		var req signer.TxRequest
		if err := json.Unmarshal(bodies[i], &req); err != nil {
			t.Fatal(err)
		}
		if r.RequestID != req.RequestID || r.From != from.Hex() {
			t.Errorf("answer to %s: %+v", req.RequestID, r)
		}
		if _, ok := byRequest[r.RequestID]; !ok {
			t.Errorf("request %s was answered %s but is not in %s", r.RequestID, r.Hash, signer.TopicSigned)
		}
		raw, err := hexutil.Decode(r.RawTx)
		if err != nil {
			t.Errorf("answer to %s: %v", r.RequestID, err)
			continue
		}
		see("answer", r.RequestID, r.Nonce, raw, r.Hash)
		var tx types.Transaction
		if err := tx.UnmarshalBinary(raw); err == nil && tx.Value().String() != req.Value {
			t.Errorf("answer to %s moves %s, asked %s", r.RequestID, tx.Value(), req.Value)
		}
	}
	if len(byRequest) < answered {
		t.Errorf("%d request ids signed, want at least the %d answered", len(byRequest), answered)
	}
	var top uint64
	for n := range byNonce {
		top = max(top, n)
	}
	t.Logf("%s: %d records, %d nonces signed (highest %d, %d left as gaps by a crash), %d request ids signed again after a crash",
		signer.TopicSigned, len(evs), len(byNonce), top, int(top)+1-len(byNonce), resigned)
}

// killTxRequest is the body of request i: an EIP-1559 transfer of a value of its own.
func killTxRequest(t *testing.T, keyID string, i int) []byte {
	t.Helper()
	b, err := json.Marshal(signer.TxRequest{RequestID: fmt.Sprintf("kill9-%03d", i), KeyID: keyID, ChainID: chainID,
		Purpose: "payout", To: "0x00000000000000000000000000000000000000b0", Value: fmt.Sprint(1000 + i), Gas: 21000,
		MaxFeePerGas: "2000000000", MaxPriorityFeePerGas: "1000000000"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newKafkaClient(t *testing.T, brokers []string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// readSigned reads topic, read committed, from the start to its end offsets as they
// are now.
func readSigned(ctx context.Context, t *testing.T, brokers []string, adm *kadm.Client, topic string) []*signerv1.SignedTransaction {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	cl := newKafkaClient(t, brokers, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	var out []*signerv1.SignedTransaction
	for len(want) > 0 {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil {
			t.Fatalf("%s: %d records read, partitions %v not read to their end", topic, len(out), want)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Errorf("%s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			ev := &signerv1.SignedTransaction{}
			if err := codec.Unmarshal(r.Value, ev); err != nil {
				t.Errorf("%s: %v", topic, err)
			} else {
				out = append(out, ev)
			}
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// signerChild is the signer Service running as a child process (TestMain) on a fixed
// loopback port and state directory, the same for every start.
type signerChild struct {
	t   *testing.T
	env []string
	url string
	c   *proctest.Child
}

// start starts the child and waits until it answers.
func (s *signerChild) start() {
	s.t.Helper()
	s.c = proctest.Start(s.t, s.env...)
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequest("GET", s.url+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		res, err := hc.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("signer child does not answer: %v", err)
		}
		<-tick.C
	}
}

// killClient is an API client that retries a signing request with the same request id
// and body until it is answered, counting what went wrong on the way. Safe for
// concurrent use.
type killClient struct {
	url  string
	http *http.Client

	ok, inFlight, lost, refused, unavailable atomic.Int64
}

// Retry bounds of one request.
const (
	killRetryFor      = 30 * time.Second
	killRetryAttempts = 1000
)

// sign sends body until it gets a 200 and returns the answer; a 5xx or a failed
// connection is retried, any other answer is an error.
func (c *killClient) sign(ctx context.Context, body []byte) (signer.TxResponse, error) {
	deadline := time.Now().Add(killRetryFor)
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		r, err := c.do(ctx, "POST", "/v1/sign/transaction", body)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			c.refused.Add(1)
		case err != nil:
			if ctx.Err() != nil {
				return signer.TxResponse{}, ctx.Err()
			}
			c.lost.Add(1)
		case r.status == http.StatusOK:
			var tr signer.TxResponse
			if err := json.Unmarshal(r.body, &tr); err != nil || tr.Hash == "" {
				return tr, fmt.Errorf("200 with %s", r.body)
			}
			return tr, nil
		case r.status >= 500:
			c.unavailable.Add(1)
		default:
			return signer.TxResponse{}, fmt.Errorf("attempt %d: %d %s", attempt, r.status, r.body)
		}
		if attempt >= killRetryAttempts || time.Now().Add(backoff).After(deadline) {
			return signer.TxResponse{}, fmt.Errorf("no answer after %d attempts: last %d %s %v", attempt, r.status, r.body, err)
		}
		t := time.NewTimer(backoff) // a client's backoff between retries
		select {
		case <-ctx.Done():
			t.Stop()
			return signer.TxResponse{}, ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

type killResponse struct {
	status int
	body   []byte
}

// do sends one request with the operator token.
func (c *killClient) do(ctx context.Context, method, path string, body []byte) (killResponse, error) {
	c.inFlight.Add(1)
	defer c.inFlight.Add(-1)
	req, err := http.NewRequestWithContext(ctx, method, c.url+path, bytes.NewReader(body))
	if err != nil {
		return killResponse{}, err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := c.http.Do(req)
	if err != nil {
		return killResponse{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return killResponse{status: res.StatusCode, body: b}, err
}
