package signerbench

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
)

// firstChain is the chain id of the first chain; the others follow.
const firstChain = 1337

// progressEvery is the interval of the progress lines while a path is measured.
const progressEvery = 2 * time.Second

// policyJSON allows every ETH transfer of at most 1 ETH: the allow rule runs and every
// request's usage is recorded.
const policyJSON = `{"id": "default", "rules": [
  {"name": "bench", "action": "allow", "match": {"assets": ["ETH"], "amount": {"max": "1000000000000000000"}}}]}`

// Run measures both paths (see the package documentation) on fresh topics, deletes
// them and returns the figures. It blocks for about 2 × (Warmup + Duration) plus set-up.
func Run(ctx context.Context, o Options) (Result, error) {
	o.setDefaults()
	if len(o.Brokers) == 0 {
		return Result{}, errors.New("signerbench: no brokers")
	}
	if o.Dir == "" {
		return Result{}, errors.New("signerbench: no directory")
	}
	b := &bench{o: o}
	id := randHex(4)
	b.prefix = "bench-" + id + "."
	adm, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...))
	if err != nil {
		return Result{}, fmt.Errorf("signerbench: kafka client: %w", err)
	}
	defer adm.Close()
	b.adm = kadm.NewClient(adm)
	topics := []string{b.prefix + signer.TopicRequests, b.prefix + signer.TopicSigned, b.prefix + signer.TopicAudit}
	res, err := b.adm.CreateTopics(ctx, o.Partitions, -1, nil, topics...)
	if err != nil {
		return Result{}, fmt.Errorf("signerbench: create topics: %w", err)
	}
	defer func() { _, _ = b.adm.DeleteTopics(context.WithoutCancel(ctx), topics...) }()
	for _, r := range res {
		if r.Err != nil {
			return Result{}, fmt.Errorf("signerbench: create %s: %w", r.Topic, r.Err)
		}
	}
	b.progress("topics %s*, %d partitions", b.prefix, o.Partitions)

	out := Result{Workers: o.Workers, Keys: o.Keys, Chains: o.Chains, Duration: o.Duration, Warmup: o.Warmup}
	raw, err := b.raw(ctx)
	if err != nil {
		return out, err
	}
	out.RawSignsPerS = raw
	st, err := b.signer(ctx)
	if err != nil {
		return out, err
	}
	out.SignsPerS, out.P50Ms, out.P99Ms, out.Signed, out.Errors = st.rate, st.p50, st.p99, st.ok, st.errs
	if out.RawSignsPerS > 0 {
		out.Ratio = out.SignsPerS / out.RawSignsPerS
	}
	return out, nil
}

type bench struct {
	o      Options
	prefix string
	adm    *kadm.Client
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func randHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

// stats are one path's measured figures.
type stats struct {
	rate, p50, p99 float64
	ok, errs       int64
}

// drive runs o.Workers copies of op in closed loops for Warmup + Duration, counting the
// calls that return nil and end inside the measured window, and their latencies.
func (b *bench) drive(ctx context.Context, name string, op func(ctx context.Context, worker int, seq uint64) error) (stats, error) {
	var (
		measuring atomic.Bool
		ok, errs  atomic.Int64
		total     atomic.Int64
		firstErr  atomic.Value
	)
	lat := make([][]time.Duration, b.o.Workers)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := range b.o.Workers {
		wg.Add(1)
		// CPU samples of the workers (and of the goroutines they start) carry the
		// profiler label phase=raw or phase=signer.
		go pprof.Do(rctx, pprof.Labels("phase", name), func(rctx context.Context) {
			defer wg.Done()
			for seq := uint64(0); rctx.Err() == nil; seq++ {
				t0 := time.Now()
				err := op(rctx, w, seq)
				d := time.Since(t0)
				if rctx.Err() != nil {
					return
				}
				total.Add(1)
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					if measuring.Load() {
						errs.Add(1)
					}
					continue
				}
				if measuring.Load() {
					ok.Add(1)
					lat[w] = append(lat[w], d)
				}
			}
		})
	}
	wait := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	b.progress("%8s: warm-up %v, %d workers", name, b.o.Warmup, b.o.Workers)
	wait(b.o.Warmup)
	measuring.Store(true)
	start := time.Now()
	tick := time.NewTicker(progressEvery)
	last, lastT := int64(0), start
	for done := false; !done && ctx.Err() == nil; {
		left := b.o.Duration - time.Since(start)
		if left <= 0 {
			break
		}
		select {
		case now := <-tick.C:
			n := ok.Load()
			b.progress("%8s: %.0f/s, %d ok, %d errors", name, float64(n-last)/now.Sub(lastT).Seconds(), n, errs.Load())
			last, lastT = n, now
		case <-time.After(left):
			done = true
		case <-ctx.Done():
		}
	}
	measuring.Store(false)
	elapsed := time.Since(start)
	tick.Stop()
	cancel()
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return stats{}, err
	}
	s := stats{ok: ok.Load(), errs: errs.Load()}
	s.rate = float64(s.ok) / elapsed.Seconds()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) > 0 {
		s.p50 = float64(all[len(all)/2]) / float64(time.Millisecond)
		s.p99 = float64(all[min(len(all)-1, len(all)*99/100)]) / float64(time.Millisecond)
	}
	b.progress("%8s: %.0f/s over %v, %d ok, %d errors, p50 %.2f ms, p99 %.2f ms", name, s.rate, elapsed.Round(time.Millisecond),
		s.ok, s.errs, s.p50, s.p99)
	if s.ok == 0 || float64(s.errs) > 0.001*float64(s.ok+s.errs) {
		err, _ := firstErr.Load().(error)
		return s, fmt.Errorf("signerbench: %s: %d errors for %d signatures (first: %v)", name, s.errs, s.ok, err)
	}
	_ = total.Load()
	return s, nil
}

// raw measures crypto.Sign alone.
func (b *bench) raw(ctx context.Context) (float64, error) {
	privs := make([]*ecdsa.PrivateKey, b.o.Keys)
	for i := range privs {
		var err error
		if privs[i], err = crypto.GenerateKey(); err != nil {
			return 0, err
		}
	}
	digests := make([][32]byte, b.o.Workers)
	s, err := b.drive(ctx, "raw", func(_ context.Context, w int, seq uint64) error {
		d := &digests[w]
		d[0], d[1], d[2], d[3] = byte(seq), byte(seq>>8), byte(seq>>16), byte(w)
		_, err := crypto.Sign(d[:], privs[w%len(privs)])
		return err
	})
	return s.rate, err
}

// signer measures the signer's POST /v1/sign/transaction.
func (b *bench) signer(ctx context.Context) (stats, error) {
	token := randHex(16)
	pass := randHex(16)
	chains := make([]uint64, b.o.Chains)
	for i := range chains {
		chains[i] = firstChain + uint64(i)
	}
	svc := &signer.Service{
		Brokers: b.o.Brokers, TopicPrefix: b.prefix,
		StateDir: filepath.Join(b.o.Dir, "state"), KeystoreDir: filepath.Join(b.o.Dir, "keystore"),
		Passphrase: func(context.Context) (string, error) { return pass, nil },
		// Light scrypt makes creating the keys quick; it is not on the measured path,
		// which signs with keys decrypted once and held for the whole run.
		KeystoreOpts: []keys.KeystoreOption{keys.WithScrypt(keys.ScryptLight), keys.WithUnlockDuration(time.Hour)},
		Operators:    []signer.Operator{{ID: "operator:bench", Token: token}},
		ChainIDs:     chains,
		PendingNonce: func(context.Context, uint64, common.Address) (uint64, error) { return 0, nil },
		Logger:       b.o.Logger,
	}
	api, closeAPI, err := svc.Open(ctx)
	if err != nil {
		return stats{}, fmt.Errorf("signerbench: signer: %w", err)
	}
	defer func() { _ = closeAPI() }()
	call := func(path string, body []byte, out any) error {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			return fmt.Errorf("%s: %d %s", path, rec.Code, bytes.TrimSpace(rec.Body.Bytes()))
		}
		if out != nil {
			return json.Unmarshal(rec.Body.Bytes(), out)
		}
		return nil
	}
	var draft struct {
		ID      string `json:"id"`
		Version uint64 `json:"version"`
	}
	if err := call("/v1/policies", []byte(policyJSON), &draft); err != nil {
		return stats{}, fmt.Errorf("signerbench: %w", err)
	}
	if err := call(fmt.Sprintf("/v1/policies/%s/%d/publish", draft.ID, draft.Version), nil, nil); err != nil {
		return stats{}, fmt.Errorf("signerbench: %w", err)
	}
	keyIDs := make([]string, b.o.Keys)
	for i := range keyIDs {
		var k struct{ ID string }
		if err := call("/v1/keys", fmt.Appendf(nil, `{"label": "bench-%d", "backend": "keystore"}`, i), &k); err != nil {
			return stats{}, fmt.Errorf("signerbench: %w", err)
		}
		keyIDs[i] = k.ID
	}
	accounts := b.o.Keys * b.o.Chains
	b.progress("  signer: %d keys on %d chains (%d nonce sequences), policy %s@%d", b.o.Keys, b.o.Chains, accounts, draft.ID, draft.Version)
	run := randHex(4)
	var okAll atomic.Int64
	sign := func(a int, id string) error {
		body := fmt.Appendf(nil, `{"request_id":"%s","key_id":"%s","chain_id":%d,"purpose":"bench",`+
			`"to":"0x00000000000000000000000000000000000000b0","value":"1","gas":21000,`+
			`"max_fee_per_gas":"2000000000","max_priority_fee_per_gas":"1000000000"}`,
			id, keyIDs[a%b.o.Keys], chains[a/b.o.Keys])
		// The signer's answer waits for Kafka whatever the caller does; the worker's
		// context is not passed, so a request in flight at the end is counted too.
		if err := call("/v1/sign/transaction", body, nil); err != nil {
			return err
		}
		okAll.Add(1)
		return nil
	}
	// One signature per account first: each key is decrypted (scrypt) here, once, and
	// held in memory for the run; each nonce sequence starts.
	for a := range accounts {
		if err := sign(a, fmt.Sprintf("%s-prime-%d", run, a)); err != nil {
			return stats{}, fmt.Errorf("signerbench: %w", err)
		}
	}
	s, err := b.drive(ctx, "signer", func(_ context.Context, w int, seq uint64) error {
		return sign(w%accounts, fmt.Sprintf("%s-%d-%d", run, w, seq))
	})
	if err != nil {
		return s, err
	}
	// Every 200 answer has its SignedTransaction on Kafka.
	ends, err := b.adm.ListEndOffsets(ctx, b.prefix+signer.TopicSigned)
	if err != nil {
		return s, fmt.Errorf("signerbench: end offsets: %w", err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	if n < okAll.Load() {
		return s, fmt.Errorf("signerbench: %d signed answers but %d SignedTransaction records", okAll.Load(), n)
	}
	b.progress("  signer: %d SignedTransaction records on %s for %d signed answers", n, b.prefix+signer.TopicSigned, okAll.Load())
	return s, nil
}
