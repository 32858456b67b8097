// Package apikey issues, parses and verifies merchant API keys for the payment gateway.
//
// A key reads kind_id_secret:
//
//	sk_2f7kq3ma6xbd_4Rj8VZtQ0pLh7wKc2YsNf1uGe6TmXaBd
//	└┘ └──────────┘ └──────────────────────────────┘
//	kind  key id              secret part
//
// The kind is "sk" for a secret key (server side, full access) and "pk" for a publishable key
// (safe to embed in a checkout page). The key id is 12 characters of lowercase base32
// (a–z, 2–7; 60 random bits): it is not secret, it names the key in logs, dashboards and
// the key store. The secret part is 32 characters of base62 (0–9, A–Z, a–z; 190 random bits)
// from crypto/rand.
//
// The gateway stores only [Digest] of the whole plain key, looked up by key id, and checks a
// presented key with [Parse] (shape, before any lookup) then [Match] (constant time). The plain
// key is shown to the merchant once, at creation, and never stored or logged.
package apikey
