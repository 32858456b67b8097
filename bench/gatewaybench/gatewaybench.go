package gatewaybench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/gateway"
	"github.com/weirhq/weir/gateway/deposit"
)

// progressEvery is the interval of the progress lines while a run is measured.
const progressEvery = 3 * time.Second

// rateLimit is the gateway's per-merchant rate: far above what one machine can send, so
// the token bucket is run on every request but never refuses one.
const rateLimit = 10_000_000

// Run sets up the gateway and the bare handler on fresh topics and Redis keys, drives
// both with Options.Repetitions alternating runs (see the package documentation),
// deletes what it created and returns the medians. It blocks for the whole run, about
// 2 × Repetitions × (Warmup + Duration). CPU samples of the servers' goroutines carry
// the profiler label server=full or server=bare, those of the load generator
// server=loadgen.
func Run(ctx context.Context, o Options) (Result, error) {
	o.setDefaults()
	if len(o.Brokers) == 0 {
		return Result{}, errors.New("gatewaybench: no brokers")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	b := &bench{o: o, id: hex.EncodeToString(suffix)}
	b.topicPrefix = "bench-" + b.id + "."
	b.redisPrefix = "bench:" + b.id

	b.rdb = redis.NewClient(&redis.Options{Addr: o.RedisAddr, PoolSize: gateway.RedisPoolSize})
	defer b.rdb.Close()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return Result{}, fmt.Errorf("gatewaybench: redis at %s: %w", o.RedisAddr, err)
	}
	defer b.cleanupRedis()
	// The admin client creates and deletes topics; the gateway and the bare handler
	// each get a client made as gateway.Service makes its own.
	adm, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...))
	if err != nil {
		return Result{}, fmt.Errorf("gatewaybench: kafka client: %w", err)
	}
	defer adm.Close()
	b.adm = kadm.NewClient(adm)
	defer b.cleanupKafka()
	if err := b.createTopics(ctx); err != nil {
		return Result{}, fmt.Errorf("gatewaybench: %w", err)
	}
	full, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return Result{}, fmt.Errorf("gatewaybench: kafka client: %w", err)
	}
	defer full.Close()
	bareCl, err := kgo.NewClient(kgo.SeedBrokers(o.Brokers...), kgo.ProducerLinger(0))
	if err != nil {
		return Result{}, fmt.Errorf("gatewaybench: kafka client: %w", err)
	}
	defer bareCl.Close()

	targets, stop, err := b.serve(ctx, full, bareCl)
	if err != nil {
		return Result{}, fmt.Errorf("gatewaybench: %w", err)
	}
	defer stop()
	res, err := b.measure(ctx, targets)
	if err != nil {
		return res, fmt.Errorf("gatewaybench: %w", err)
	}
	return res, nil
}

// bench is the state of one run.
type bench struct {
	o           Options
	id          string // 8 hex digits naming everything the run creates
	topicPrefix string // bench-<id>.
	redisPrefix string // bench:<id>
	rdb         *redis.Client
	adm         *kadm.Client
	// total2xx is the number of 2xx answers of both servers, warm-ups and checks
	// included: one record each on payments.intents.
	total2xx int64
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.o.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) topics() []string {
	return []string{b.topicPrefix + gateway.TopicIntents, b.topicPrefix + gateway.TopicMerchants}
}

func (b *bench) createTopics(ctx context.Context) error {
	res, err := b.adm.CreateTopics(ctx, b.o.Partitions, -1, nil, b.topics()...)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("create %s: %w", r.Topic, r.Err)
		}
	}
	b.progress("topics %s, %d partitions; Redis keys %s:*", strings.Join(b.topics(), ", "), b.o.Partitions, b.redisPrefix)
	return nil
}

// serve starts the gateway (with a merchant) and the bare handler on loopback, checks
// that each answers a create-intent request with 201, and returns them as the targets
// bare and full, with the function that shuts both down.
func (b *bench) serve(ctx context.Context, full, bareCl *kgo.Client) (map[string]target, func(), error) {
	store := gateway.NewStore(b.rdb, b.redisPrefix)
	api, err := gateway.NewServer(gateway.Options{Client: full, Store: store, TopicPrefix: b.topicPrefix,
		RateLimit: rateLimit, Logger: b.o.Logger})
	if err != nil {
		return nil, nil, err
	}
	admin := &gateway.Admin{Client: full, Store: store, TopicPrefix: b.topicPrefix}
	xpub, err := benchXpub()
	if err != nil {
		return nil, nil, err
	}
	m, keys, err := admin.CreateMerchant(ctx, "Bench Shop", xpub, 0)
	if err != nil {
		return nil, nil, err
	}
	d, err := deposit.NewDeriver(xpub)
	if err != nil {
		return nil, nil, err
	}
	addr, err := d.Address(0)
	if err != nil {
		return nil, nil, err
	}
	bh := &bare{cl: bareCl, topic: b.topicPrefix + gateway.TopicIntents, merchant: m.GetMerchantId(),
		address: strings.ToLower(addr.Hex())}

	var servers []*http.Server
	errc := make(chan error, 2)
	stop := func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		for _, s := range servers {
			_ = s.Shutdown(sctx)
		}
		for range servers {
			<-errc
		}
	}
	targets := map[string]target{}
	for _, s := range []struct {
		name string
		h    http.Handler
		auth string
	}{{"full", api, "Bearer " + keys.Secret}, {"bare", bh, ""}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			stop()
			return nil, nil, fmt.Errorf("listen: %w", err)
		}
		srv := &http.Server{Handler: s.h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
		servers = append(servers, srv)
		// The connections' goroutines inherit the label of the goroutine serving.
		go pprof.Do(context.WithoutCancel(ctx), pprof.Labels("server", s.name), func(context.Context) {
			errc <- srv.Serve(ln)
		})
		targets[s.name] = target{name: s.name, url: "http://" + ln.Addr().String() + "/v1/payment_intents", auth: s.auth}
	}
	for _, name := range []string{"full", "bare"} {
		if err := b.check(ctx, targets[name]); err != nil {
			stop()
			return nil, nil, err
		}
	}
	b.progress("merchant %s; gateway at %s, bare handler at %s", m.GetMerchantId(),
		strings.TrimSuffix(targets["full"].url, "/v1/payment_intents"), strings.TrimSuffix(targets["bare"].url, "/v1/payment_intents"))
	return targets, stop, nil
}

// check sends t one create-intent request and wants 201 with an intent in requires_payment.
func (b *bench) check(ctx context.Context, t target) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, strings.NewReader(requestBody))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "bench-check-"+b.id)
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s: %w", t.name, err)
	}
	var it gateway.Intent
	if res.StatusCode != http.StatusCreated || json.Unmarshal(body, &it) != nil || it.Status != "requires_payment" {
		return fmt.Errorf("%s: create intent: %d %s", t.name, res.StatusCode, bytes.TrimSpace(body))
	}
	b.total2xx++
	return nil
}

// measure runs the repetitions and checks that payments.intents holds a record for
// every 2xx answer.
func (b *bench) measure(ctx context.Context, targets map[string]target) (Result, error) {
	o := b.o
	res := Result{Connections: o.Connections, Duration: o.Duration, Warmup: o.Warmup, Repetitions: o.Repetitions}
	b.progress("%d repetitions of bare and full, %d connections each, %v warm-up + %v measured per run",
		o.Repetitions, o.Connections, o.Warmup, o.Duration)
	for rep := range o.Repetitions {
		order := []string{"bare", "full"}
		if rep%2 == 1 {
			order = []string{"full", "bare"}
		}
		for _, name := range order {
			t := targets[name]
			b.progress("  repetition %d/%d, %s", rep+1, o.Repetitions, name)
			var (
				run RunStats
				n   int64
				err error
			)
			pprof.Do(ctx, pprof.Labels("server", "loadgen"), func(ctx context.Context) {
				run, n, err = drive(ctx, t, o.Connections, fmt.Sprintf("bench-%s-%d-%s", b.id, rep, name),
					o.Warmup, o.Duration, b.progress)
			})
			b.total2xx += n
			if err != nil {
				return res, err
			}
			b.progress("    %s: %.0f req/s, p50 %s, p90 %s, p99 %s, max %s; %d ok, %d errors, %d connections opened",
				name, run.RPS, ms(run.P50), ms(run.P90), ms(run.P99), ms(run.Max), run.OK, run.Errors, run.Dials)
			if name == "full" {
				res.Full = append(res.Full, run)
			} else {
				res.Bare = append(res.Bare, run)
			}
		}
	}
	pick := func(runs []RunStats, f func(RunStats) float64) float64 {
		xs := make([]float64, len(runs))
		for i, r := range runs {
			xs[i] = f(r)
		}
		return median(xs)
	}
	msOf := func(d func(RunStats) time.Duration) func(RunStats) float64 {
		return func(r RunStats) float64 { return float64(d(r).Microseconds()) / 1000 }
	}
	res.RPS = pick(res.Full, func(r RunStats) float64 { return r.RPS })
	res.BareRPS = pick(res.Bare, func(r RunStats) float64 { return r.RPS })
	res.Ratio = res.RPS / res.BareRPS
	res.P99Ms = pick(res.Full, msOf(func(r RunStats) time.Duration { return r.P99 }))
	res.P50Ms = pick(res.Full, msOf(func(r RunStats) time.Duration { return r.P50 }))
	res.BareP99Ms = pick(res.Bare, msOf(func(r RunStats) time.Duration { return r.P99 }))
	res.BareP50Ms = pick(res.Bare, msOf(func(r RunStats) time.Duration { return r.P50 }))
	return res, b.checkRecords(ctx)
}

// checkRecords fails unless payments.intents holds at least one record per 2xx answer
// (a request that failed after its record was acknowledged adds one more).
func (b *bench) checkRecords(ctx context.Context) error {
	ends, err := b.adm.ListEndOffsets(ctx, b.topicPrefix+gateway.TopicIntents)
	if err != nil {
		return fmt.Errorf("end offsets: %w", err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	if n < b.total2xx {
		return fmt.Errorf("%s holds %d records for %d created intents", b.topicPrefix+gateway.TopicIntents, n, b.total2xx)
	}
	b.progress("%s holds %d records for %d created intents", b.topicPrefix+gateway.TopicIntents, n, b.total2xx)
	return nil
}

func (b *bench) cleanupKafka() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = b.adm.DeleteTopics(ctx, b.topics()...)
}

// cleanupRedis deletes every key of the run.
func (b *bench) cleanupRedis() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	iter := b.rdb.Scan(ctx, 0, b.redisPrefix+":*", 1000).Iterator()
	batch := make([]string, 0, 1000)
	flush := func() {
		if len(batch) > 0 {
			_ = b.rdb.Unlink(ctx, batch...).Err()
			batch = batch[:0]
		}
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == cap(batch) {
			flush()
		}
	}
	flush()
}

// benchXpub returns the account xpub m/44'/60'/0' of a fixed seed (the gateway tests').
func benchXpub() (string, error) {
	k, err := hdkeychain.NewMaster(bytes.Repeat([]byte{7}, 32), &chaincfg.MainNetParams)
	if err != nil {
		return "", err
	}
	for _, i := range []uint32{44, 60, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			return "", err
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		return "", err
	}
	return pub.String(), nil
}

// median returns the median of xs (the mean of the middle two for an even count), 0
// for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }
