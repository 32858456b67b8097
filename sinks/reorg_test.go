package sinks_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/weirhq/weir/bench/chaingen"
	"github.com/weirhq/weir/ingest/ethereum"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/internal/testenv"
	"github.com/weirhq/weir/schemas/catalog"
	"github.com/weirhq/weir/schemas/codec"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	"github.com/weirhq/weir/sinks"
)

// chainEventTopics are the topics of block events, the ones a retraction undoes.
var chainEventTopics = []string{"chain.blocks", "chain.transactions", "chain.receipts", "chain.logs",
	"chain.transfers", "chain.approvals"}

// TestReorgReachesTheStores indexes the simulated chain, reorganises it five blocks
// deep, lets the indexer retract and re-emit, and lands the chain topics in ClickHouse
// and Elasticsearch through the sinks: the ClickHouse *_canonical views and the
// Elasticsearch documents not marked retracted then hold exactly the events of the
// node's canonical chain.
func TestReorgReachesTheStores(t *testing.T) {
	chAddr, esURL := testenv.ClickHouse(t), testenv.Elasticsearch(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	chain, err := chaingen.Start(ctx, chaingen.Config{Accounts: 8, Rate: 10, FraudRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer chain.Close()
	if err := chain.Blocks(ctx, 40); err != nil {
		t.Fatal(err)
	}

	brokers := kafkatest.Cluster(t)
	var topics []catalog.Topic
	for _, tp := range catalog.All() {
		if strings.HasPrefix(tp.Name, "chain.") {
			topics = append(topics, tp)
		}
	}
	w := &workload{brokers: brokers}
	cl := w.client(t)
	defer cl.Close()
	if _, err := catalog.Apply(ctx, kadm.NewClient(cl), topics); err != nil {
		t.Fatal(err)
	}
	ix, err := ethereum.New(ethereum.Config{RPCURL: chain.URL(), ChainID: chaingen.ChainID, Brokers: brokers,
		PollInterval: 20 * time.Millisecond, FinalityDepth: 64})
	if err != nil {
		t.Fatal(err)
	}
	ixCtx, stopIx := context.WithCancel(ctx)
	ixDone := make(chan error, 1)
	go func() { ixDone <- ix.Run(ixCtx) }()
	waitIndexed(t, chain, brokers)
	if _, err := chain.Reorg(ctx, 5); err != nil {
		t.Fatalf("reorg: %v", err)
	}
	if err := chain.Blocks(ctx, 3); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, chain, brokers)
	stopIx()
	if err := <-ixDone; err != nil {
		t.Fatalf("indexer: %v", err)
	}

	// What the topics hold, and what the node says is canonical.
	want := map[string]int{}
	for _, topic := range append(chainEventTopics, "chain.retractions") {
		want[topic] = len(kafkatest.ReadCommitted(t, brokers, topic))
	}
	if want["chain.retractions"] != 5 {
		t.Fatalf("%d retractions in the topic, want 5", want["chain.retractions"])
	}
	canonical := canonicalChainIDs(t, chain.URL())

	db, prefix := fmt.Sprintf("reorg%d", time.Now().UnixNano()), fmt.Sprintf("reorg%d-", time.Now().UnixNano())
	t.Cleanup(func() { dropDatabase(t, chAddr, db); deleteIndices(t, esURL, prefix) })
	sinkTopics := append(append([]string(nil), chainEventTopics...), "chain.retractions")
	for _, kind := range []string{"clickhouse", "elasticsearch"} {
		store, name := chAddr, db
		if kind == "elasticsearch" {
			store, name = esURL, prefix
		}
		writer, closeW, err := openWriter(ctx, kind, store, name)
		if err != nil {
			t.Fatal(err)
		}
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- sinks.Run(sctx, writer, sinks.Options{Brokers: brokers, Topics: sinkTopics, MaxBatch: 500})
		}()
		waitLanded(t, kind, store, name, want)
		stop()
		if err := <-done; err != nil {
			t.Fatalf("%s sink: %v", kind, err)
		}
		closeW()
	}

	if got := clickHouseCanonical(t, chAddr, db); !sameIDs(got, canonical) {
		t.Errorf("ClickHouse canonical views: %d events, the canonical chain %d; differences: %v",
			len(got), len(canonical), diffIDs(got, canonical))
	}
	if got := elasticCanonical(t, esURL, prefix); !sameIDs(got, canonical) {
		t.Errorf("Elasticsearch documents not retracted: %d, the canonical chain %d; differences: %v",
			len(got), len(canonical), diffIDs(got, canonical))
	}
}

// waitIndexed waits until the indexer's checkpoint names the node's head block.
func waitIndexed(t *testing.T, chain *chaingen.Chain, brokers []string) {
	t.Helper()
	node, err := ethereum.Dial(context.Background(), chain.URL(), chaingen.ChainID, ethereum.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		head, err := node.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		hash, err := node.CanonicalHash(context.Background(), head)
		if err != nil {
			t.Fatal(err)
		}
		recs := kafkatest.ReadCommitted(t, brokers, "chain.checkpoints")
		if len(recs) > 0 {
			cp := new(chainv1.IngestCheckpoint)
			if err := codec.Unmarshal(recs[len(recs)-1].Value, cp); err != nil {
				t.Fatal(err)
			}
			if c := cp.GetCanonical(); len(c) > 0 && c[len(c)-1].GetHash() == hash.Hex() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the indexer did not reach block %d", head)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// canonicalChainIDs converts every canonical block of the node and returns the ids of
// their events.
func canonicalChainIDs(t *testing.T, url string) map[string]bool {
	t.Helper()
	ctx := context.Background()
	node, err := ethereum.Dial(ctx, url, chaingen.ChainID, ethereum.NodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	head, err := node.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conv := &ethereum.Converter{ChainID: chaingen.ChainID}
	ids := map[string]bool{}
	for b := uint64(0); b <= head; b++ {
		fs, err := node.Blocks(ctx, []uint64{b})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := conv.ConvertFetched(ctx, fs[0], ethereum.Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ev.EventIDs() {
			ids[id] = true
		}
	}
	return ids
}

// waitLanded waits until the store holds as many rows or documents per topic as the
// topic has records.
func waitLanded(t *testing.T, kind, store, name string, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got := map[string]int{}
		for topic := range want {
			got[topic] = storeCount(t, kind, store, name, topic)
		}
		done := true
		for topic, n := range want {
			done = done && got[topic] == n
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %v, the topics %v", kind, got, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func storeCount(t *testing.T, kind, store, name, topic string) int {
	t.Helper()
	if kind == "clickhouse" {
		conn, err := sql.Open("clickhouse", "clickhouse://"+store+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var n uint64
		if err := conn.QueryRow("SELECT count() FROM " + strings.NewReplacer(".", "_").Replace(topic)).Scan(&n); err != nil {
			return -1
		}
		return int(n)
	}
	return elasticCounterFor(store, name, topic)
}

func elasticCounterFor(url, prefix, topic string) int {
	if resp, err := http.Post(url+"/"+prefix+topic+"-*/_refresh", "application/json", nil); err == nil {
		resp.Body.Close()
	}
	resp, err := http.Get(url + "/" + prefix + topic + "-*/_count")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var c struct {
		Count int `json:"count"`
	}
	if json.NewDecoder(resp.Body).Decode(&c) != nil {
		return -1
	}
	return c.Count
}

func clickHouseCanonical(t *testing.T, addr, db string) map[string]bool {
	t.Helper()
	conn, err := sql.Open("clickhouse", "clickhouse://"+addr+"/"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ids := map[string]bool{}
	for _, topic := range chainEventTopics {
		rows, err := conn.Query("SELECT event_id FROM " + strings.ReplaceAll(topic, ".", "_") + "_canonical")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

func elasticCanonical(t *testing.T, url, prefix string) map[string]bool {
	t.Helper()
	// The retraction marks are bulk updates: a search sees them after a refresh (every
	// second by default), so refresh first rather than race the interval.
	if resp, err := http.Post(url+"/"+prefix+"*/_refresh", "application/json", nil); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	ids := map[string]bool{}
	for _, topic := range chainEventTopics {
		body := strings.NewReader(`{"size":10000,"_source":false,"query":{"term":{"retracted":false}}}`)
		resp, err := http.Post(url+"/"+prefix+topic+"-*/_search", "application/json", body)
		if err != nil {
			t.Fatal(err)
		}
		var r struct {
			Hits struct {
				Hits []struct {
					ID string `json:"_id"`
				} `json:"hits"`
			} `json:"hits"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range r.Hits.Hits {
			ids[h.ID] = true
		}
	}
	return ids
}

func sameIDs(a, b map[string]bool) bool {
	return len(diffIDs(a, b)) == 0
}

// diffIDs lists up to five ids in one set and not the other.
func diffIDs(got, want map[string]bool) []string {
	var d []string
	for id := range got {
		if !want[id] {
			d = append(d, "extra "+id)
		}
	}
	for id := range want {
		if !got[id] {
			d = append(d, "missing "+id)
		}
	}
	sort.Strings(d)
	if len(d) > 5 {
		d = append(d[:5], fmt.Sprintf("… %d in all", len(d)))
	}
	return d
}
