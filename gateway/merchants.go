package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/gateway/apikey"
	"github.com/weirhq/weir/gateway/deposit"
	"github.com/weirhq/weir/schemas/eventid"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
	paymentsv1 "github.com/weirhq/weir/schemas/gen/weir/payments/v1"
)

const merchantKind = "weir.payments.v1.MerchantConfig"

// errBadURL is returned for a webhook URL the gateway does not accept.
var errBadURL = errors.New("webhook URL not accepted")

// Admin changes merchant configurations: every change is a new version of the merchant's
// MerchantConfig on payments.merchants (acknowledged by Kafka), then stored in the
// projection. Changes to one merchant are serialized by its lock. Safe for concurrent use.
type Admin struct {
	// Client produces to payments.merchants. Required.
	Client *kgo.Client
	// Store is the projection. Required.
	Store *Store
	// TopicPrefix is put before the topic name. Default "".
	TopicPrefix string
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (a *Admin) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// Keys are the plain API keys made by a change; they are shown once and never stored.
type Keys struct {
	// Secret is the new secret key ("sk_…"), if one was made.
	Secret string
	// Publishable is the new publishable key ("pk_…"), if one was made.
	Publishable string
}

// CreateMerchant registers a merchant with its account-level xpub and makes a secret and a
// publishable key. ratePerSecond 0 means the gateway's default.
func (a *Admin) CreateMerchant(ctx context.Context, name, xpub string, ratePerSecond uint32) (*paymentsv1.MerchantConfig, Keys, error) {
	if _, err := deposit.NewDeriver(xpub); err != nil {
		return nil, Keys{}, fmt.Errorf("gateway: merchant xpub: %w", err)
	}
	now := a.now()
	m := &paymentsv1.MerchantConfig{MerchantId: newID("m_"), Name: name, Xpub: xpub, RateLimitPerSecond: ratePerSecond}
	var keys Keys
	for _, kind := range []apikey.Kind{apikey.Secret, apikey.Publishable} {
		k, plain, err := newAPIKey(kind, now)
		if err != nil {
			return nil, Keys{}, err
		}
		m.ApiKeys = append(m.ApiKeys, k)
		if kind == apikey.Secret {
			keys.Secret = plain
		} else {
			keys.Publishable = plain
		}
	}
	if err := a.publish(ctx, m, now); err != nil {
		return nil, Keys{}, err
	}
	return m, keys, nil
}

// RollKey makes a new key of kind for merchant; the merchant's own keys of that kind (not
// its users' keys) stop working after grace (0: at once).
func (a *Admin) RollKey(ctx context.Context, merchant string, kind apikey.Kind, grace time.Duration) (*paymentsv1.MerchantConfig, Keys, error) {
	var keys Keys
	m, err := a.change(ctx, merchant, func(m *paymentsv1.MerchantConfig, now time.Time) error {
		want := paymentsv1.ApiKeyKind_API_KEY_KIND_SECRET
		if kind == apikey.Publishable {
			want = paymentsv1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE
		}
		expiry := now.Add(grace)
		kept := m.ApiKeys[:0]
		for _, k := range m.GetApiKeys() {
			if k.GetExpiresTime() != nil && !now.Before(k.GetExpiresTime().AsTime()) {
				continue // expired: dropped from the configuration
			}
			if k.GetKind() == want && k.GetUserId() == "" && (k.GetExpiresTime() == nil || expiry.Before(k.GetExpiresTime().AsTime())) {
				k.ExpiresTime = timestamppb.New(expiry)
			}
			kept = append(kept, k)
		}
		k, plain, err := newAPIKey(kind, now)
		if err != nil {
			return err
		}
		m.ApiKeys = append(kept, k)
		if kind == apikey.Secret {
			keys.Secret = plain
		} else {
			keys.Publishable = plain
		}
		return nil
	})
	return m, keys, err
}

// AddWebhookEndpoint adds an endpoint receiving the merchant's webhooks. rawURL must be an
// absolute http(s) URL without user info.
func (a *Admin) AddWebhookEndpoint(ctx context.Context, merchant, rawURL string) (*paymentsv1.MerchantConfig, *paymentsv1.WebhookEndpoint, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(rawURL) > 2048 {
		return nil, nil, fmt.Errorf("%w: it must be an absolute http(s) URL of at most 2048 bytes", errBadURL)
	}
	if u.User != nil {
		return nil, nil, fmt.Errorf("%w: it must not carry user info (credentials would end up in configuration)", errBadURL)
	}
	ep := &paymentsv1.WebhookEndpoint{EndpointId: newID("we_"), Url: u.String(), SigningVersion: 1}
	m, err := a.change(ctx, merchant, func(m *paymentsv1.MerchantConfig, _ time.Time) error {
		m.WebhookEndpoints = append(m.WebhookEndpoints, ep)
		return nil
	})
	return m, ep, err
}

// RollWebhookSecret moves endpoint to the next signing version; deliveries are signed
// with the previous version too until grace has passed.
func (a *Admin) RollWebhookSecret(ctx context.Context, merchant, endpoint string, grace time.Duration) (*paymentsv1.WebhookEndpoint, error) {
	var out *paymentsv1.WebhookEndpoint
	_, err := a.change(ctx, merchant, func(m *paymentsv1.MerchantConfig, now time.Time) error {
		for _, ep := range m.GetWebhookEndpoints() {
			if ep.GetEndpointId() == endpoint {
				ep.PreviousSigningVersion = ep.GetSigningVersion()
				ep.PreviousSigningExpiresTime = timestamppb.New(now.Add(grace))
				ep.SigningVersion++
				out = ep
				return nil
			}
		}
		return fmt.Errorf("%w: endpoint %s", ErrNotFound, endpoint)
	})
	return out, err
}

// change applies edit to the merchant's current configuration under its lock and
// publishes the result as the next version.
func (a *Admin) change(ctx context.Context, merchant string, edit func(*paymentsv1.MerchantConfig, time.Time) error) (*paymentsv1.MerchantConfig, error) {
	unlock, err := a.Store.Lock(ctx, "merchant:"+merchant, lockTTL, lockWait)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, err := a.Store.Merchant(ctx, merchant)
	if err != nil {
		return nil, fmt.Errorf("gateway: merchant %s: %w", merchant, err)
	}
	now := a.now()
	if err := edit(m, now); err != nil {
		return nil, err
	}
	if err := a.publish(ctx, m, now); err != nil {
		return nil, err
	}
	return m, nil
}

// publish produces m as its next version and stores it.
func (a *Admin) publish(ctx context.Context, m *paymentsv1.MerchantConfig, now time.Time) error {
	m.Version++
	m.Meta = &commonv1.Meta{
		EventId:   eventid.New(merchantKind, m.GetMerchantId(), fmt.Sprint(m.GetVersion())),
		EventTime: timestamppb.New(now),
		Source:    source,
	}
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("gateway: encode merchant: %w", err)
	}
	rec := &kgo.Record{Topic: a.TopicPrefix + TopicMerchants, Key: []byte(m.GetMerchantId()), Value: b}
	if err := a.Client.ProduceSync(ctx, rec).FirstErr(); err != nil {
		return fmt.Errorf("gateway: produce merchant %s: %w", m.GetMerchantId(), err)
	}
	if _, err := a.Store.ApplyMerchant(ctx, m); err != nil {
		return fmt.Errorf("gateway: store merchant %s (Kafka has it; the projector will store it): %w", m.GetMerchantId(), err)
	}
	return nil
}

func newAPIKey(kind apikey.Kind, now time.Time) (*paymentsv1.ApiKey, string, error) {
	k, err := apikey.New(kind)
	if err != nil {
		return nil, "", fmt.Errorf("gateway: new API key: %w", err)
	}
	pk := paymentsv1.ApiKeyKind_API_KEY_KIND_SECRET
	if kind == apikey.Publishable {
		pk = paymentsv1.ApiKeyKind_API_KEY_KIND_PUBLISHABLE
	}
	return &paymentsv1.ApiKey{KeyId: k.ID, Kind: pk, Sha256: apikey.Digest(k.Plain), CreatedTime: timestamppb.New(now)}, k.Plain, nil
}
