package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/features"
	"github.com/weirhq/weir/features/online"
	"github.com/weirhq/weir/internal/kafkatest"
	"github.com/weirhq/weir/schemas/codec"
	riskv1 "github.com/weirhq/weir/schemas/gen/weir/risk/v1"
)

// TestDevScoresTheSimulatedChain runs `weir dev` and, while the simulated chain's
// traffic (ETH and ERC-20 transfers, fraud patterns) flows, finds in the embedded broker:
// feature vectors on risk.features and, for each committed vector, exactly one committed
// score on risk.scores naming it, with the shipped model's and rules' versions and the
// shipped sanctions list's; scores of ERC-20 transfers among them; nothing in the
// features DLQ; the latest vector of a scored entity in the risk component's in-process
// Redis (the online store); and alerts on risk.alerts raised from the scores by the
// alerts processor (the generator's fraud patterns and ordinary traffic trigger rules);
// and the dev gateway's payout to a scored address scored from the online store, its
// score recorded.
func TestDevScoresTheSimulatedChain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs weir dev for up to two minutes")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	gw := freeAddr(t)
	l, errc := startWeir(t, ctx, "dev", "--for", "3m", "--data", dir, "--broker-port", "0", "--http", "127.0.0.1:0",
		"--gateway-addr", gw, "--signer-addr", "", "--reorg-every", "0", "--chain-rate", "30", "--log-level", "warn",
		"--shutdown-timeout", "30s") // a machine shared with other tests can take longer than 10 s to stop nine components
	broker := strings.Fields(field(t, l, "broker"))[0]
	l.waitFor(t, "running for 3m")
	l.mu.Lock()
	banner := strings.Join(l.all, "\n")
	l.mu.Unlock()
	for _, want := range []string{"component   risk: reads chain.transfers", "writes risk.features and risk.scores",
		"online store (in-process Redis", "component   alerts"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	brokers := []string{broker}

	var (
		vectors map[string]*riskv1.FeatureVector
		scores  []*riskv1.RiskScore
		alerts  int
		tokens  int
	)
	for deadline := time.Now().Add(150 * time.Second); ; time.Sleep(2 * time.Second) {
		// Scores first: a vector is committed with its score, so the vectors read after
		// them include every one they name.
		scores, tokens = scores[:0], 0
		for _, r := range kafkatest.ReadCommitted(t, brokers, "risk.scores") {
			s := new(riskv1.RiskScore)
			if err := codec.Unmarshal(r.Value, s); err != nil {
				t.Fatal(err)
			}
			scores = append(scores, s)
			for _, f := range s.GetFeatures() {
				if strings.HasPrefix(f.GetAsset(), "erc20:1337:") {
					tokens++
					break
				}
			}
		}
		vectors = map[string]*riskv1.FeatureVector{}
		for _, r := range kafkatest.ReadCommitted(t, brokers, "risk.features") {
			v := new(riskv1.FeatureVector)
			if err := codec.Unmarshal(r.Value, v); err != nil {
				t.Fatal(err)
			}
			if !hasHeader(r.Headers, features.HeaderRefresh) {
				vectors[v.GetMeta().GetEventId()] = v
			}
		}
		alerts = len(kafkatest.ReadCommitted(t, brokers, "risk.alerts"))
		if len(scores) >= 100 && tokens > 0 && alerts > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 150s: %d vectors, %d scores (%d of ERC-20 transfers), %d alerts; want 100 scores, some of tokens, an alert",
				len(vectors), len(scores), tokens, alerts)
		}
	}
	// Each score names a committed vector, once.
	seen := map[string]bool{}
	for _, s := range scores {
		id := s.GetFeatureVectorEventId()
		v, ok := vectors[id]
		switch {
		case seen[id]:
			t.Errorf("vector %s scored twice", id)
		case !ok:
			t.Errorf("score %s of vector %s, which is not committed", s.GetMeta().GetEventId(), id)
		case s.GetEntityId() != v.GetEntityId() || s.GetSubjectEventId() != v.GetSubjectEventId() || len(s.GetFeatures()) != len(v.GetFeatures()):
			t.Errorf("score %s does not match its vector", s.GetMeta().GetEventId())
		case s.GetModelVersion() == "" || s.GetRulesVersion() == "" || s.GetSanctionsListVersion() == "":
			t.Errorf("score %s lacks a version: model %q rules %q sanctions %q", s.GetMeta().GetEventId(),
				s.GetModelVersion(), s.GetRulesVersion(), s.GetSanctionsListVersion())
		}
		seen[id] = true
	}
	if n := len(kafkatest.ReadCommitted(t, brokers, "features.activity.dlq")); n != 0 {
		t.Errorf("features.activity.dlq holds %d records, want none (ERC-20 transfers must score)", n)
	}
	// The online store holds a vector of a scored entity.
	b, err := os.ReadFile(filepath.Join(dir, "risk", "redis-addr"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: strings.TrimSpace(string(b))})
	defer rdb.Close()
	store := online.New(rdb, features.AddressActivity.Name)
	entity := scores[0].GetEntityId()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		got, err := store.Read(ctx, entity)
		if err == nil && got.GetEntityId() == entity && len(got.GetFeatures()) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("online store for %s: %v, %v", entity, got, err)
		}
	}

	// The dev gateway scores a payout to that entity's address against the online store
	// and records the score (source "gateway", the vector's features) before answering:
	// 201 (ALLOW), 403 risk_review (REVIEW: the demo merchant has no approvers) or 403
	// risk_blocked (BLOCK).
	keyFile := filepath.Join(dir, "gateway", demoMerchantFile)
	var keys struct {
		SecretKey string `json:"secret_key"`
	}
	dest := entity[strings.IndexByte(entity, ':')+1:]
	var status int
	var body []byte
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if b, err := os.ReadFile(keyFile); err == nil && json.Unmarshal(b, &keys) == nil && keys.SecretKey != "" {
			status, body = post(t, "http://"+gw+"/v1/payouts", keys.SecretKey,
				`{"amount":"1000","asset":"ETH","chain_id":1337,"destination":"`+dest+`"}`)
			if status != 0 && status != http.StatusServiceUnavailable {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dev gateway did not answer a payout: %d %s", status, body)
		}
	}
	if status != http.StatusCreated && status != http.StatusAccepted &&
		!(status == http.StatusForbidden && (strings.Contains(string(body), "risk_blocked") || strings.Contains(string(body), "risk_review"))) {
		t.Fatalf("payout to %s: %d %s", dest, status, body)
	}
	var gwScore *riskv1.RiskScore
	for _, r := range kafkatest.ReadCommitted(t, brokers, "risk.scores") {
		s := new(riskv1.RiskScore)
		if err := codec.Unmarshal(r.Value, s); err != nil {
			t.Fatal(err)
		}
		if s.GetMeta().GetSource() == "gateway" {
			gwScore = s
		}
	}
	if gwScore == nil || gwScore.GetEntityId() != entity || len(gwScore.GetFeatures()) == 0 || gwScore.GetFeatureVectorEventId() == "" {
		t.Fatalf("the payout's score on risk.scores: %v", gwScore)
	}

	cancel() // Ctrl-C
	if err := waitErr(t, errc, time.Minute); err != nil {
		t.Fatalf("weir dev: %v", err)
	}
}

func hasHeader(hs []kgo.RecordHeader, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}
