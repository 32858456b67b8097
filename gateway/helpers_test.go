package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"

	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

// testXpub returns the account xpub m/44'/60'/0' of a fixed test seed.
func testXpub(t testing.TB) string {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, 32)
	k, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint32{44, 60, 0} {
		if k, err = k.Derive(hdkeychain.HardenedKeyStart + i); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := k.Neuter()
	if err != nil {
		t.Fatal(err)
	}
	return pub.String()
}

// env is one test's gateway on the real Kafka and Redis, with topics and Redis keys of
// its own.
type env struct {
	t        *testing.T
	brokers  []string
	prefix   string // topic prefix
	rdb      *redis.Client
	store    *Store
	client   *kgo.Client
	server   *Server
	http     *httptest.Server
	admin    *Admin
	merchant *paymentsv1.MerchantConfig
	keys     Keys
}

func newEnv(t *testing.T, opts ...func(*Options)) *env {
	t.Helper()
	brokers := testenv.Kafka(t)
	raddr := testenv.Redis(t)
	e := &env{t: t, brokers: brokers, prefix: fmt.Sprintf("gwtest-%d.", time.Now().UnixNano())}
	e.rdb = redis.NewClient(&redis.Options{Addr: raddr})
	t.Cleanup(func() { e.rdb.Close() })
	storePrefix := "test:" + strings.TrimSuffix(e.prefix, ".")
	t.Cleanup(func() { flushPrefix(e.rdb, storePrefix) })
	e.store = NewStore(e.rdb, storePrefix)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.client = cl
	adm := kadm.NewClient(cl)
	var topics []string
	for _, tp := range catalog.All() { // the gateway's topics: what it reads and writes
		if strings.HasPrefix(tp.Name, "payments.") || tp.Name == TopicRecon || tp.Name == "settlement.payouts" {
			topics = append(topics, e.prefix+tp.Name)
		}
	}
	ctx := context.Background()
	res, err := adm.CreateTopics(ctx, 3, 1, nil, topics...)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create %s: %v", r.Topic, r.Err)
		}
	}
	t.Cleanup(func() { _, _ = adm.DeleteTopics(context.Background(), topics...) })
	o := Options{Client: cl, Store: e.store, TopicPrefix: e.prefix}
	for _, f := range opts {
		f(&o)
	}
	if e.server, err = NewServer(o); err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.server)
	t.Cleanup(e.http.Close)
	e.admin = &Admin{Client: cl, Store: e.store, TopicPrefix: e.prefix, Now: o.Now}
	if e.merchant, e.keys, err = e.admin.CreateMerchant(ctx, "Test Shop", testXpub(t), 0); err != nil {
		t.Fatal(err)
	}
	return e
}

func flushPrefix(rdb *redis.Client, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// response is an API response.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) apiError(t testing.TB) APIError {
	t.Helper()
	var body struct{ Error APIError }
	r.json(t, &body)
	return body.Error
}

// do sends a request with key as the bearer token and the given headers (name, value
// pairs).
func (e *env) do(method, path, key, body string, headers ...string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.http.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// create creates an intent and returns it.
func (e *env) create(body string, headers ...string) Intent {
	e.t.Helper()
	r := e.do("POST", "/v1/payment_intents", e.keys.Secret, body, headers...)
	if r.status != http.StatusCreated {
		e.t.Fatalf("create: %d %s", r.status, r.body)
	}
	var it Intent
	r.json(e.t, &it)
	return it
}

// intents returns every record of payments.intents, read committed.
func (e *env) intents() []*paymentsv1.IntentTransition {
	e.t.Helper()
	var out []*paymentsv1.IntentTransition
	for _, v := range e.records(TopicIntents) {
		it := new(paymentsv1.IntentTransition)
		if err := proto.Unmarshal(v, it); err != nil {
			e.t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

// records returns the values of every committed record of topic (named without the
// prefix).
func (e *env) records(topic string) [][]byte {
	e.t.Helper()
	var out [][]byte
	for _, r := range kafkatest.ReadCommitted(e.t, e.brokers, e.prefix+topic) {
		out = append(out, r.Value)
	}
	return out
}

// eventually polls f until it returns "" or the deadline passes.
func eventually(t testing.TB, timeout time.Duration, f func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := f()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(20 * time.Millisecond) // polling the projection, with a deadline
	}
}
