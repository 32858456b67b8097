package signer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/ethereum/go-ethereum/core/types"
)

// ErrRequestConflict is a request id reused for a different request.
var ErrRequestConflict = errors.New("signer: request id already used for a different request")

// RequestLog remembers, durably, which nonce each signing request id was given, so that
// a retried request (same id, same body) signs the same transaction at the same nonce
// instead of taking a new one, and a request id reused for another body is refused.
// Entries are written with pebble.Sync before the nonce is used. It is safe for
// concurrent use; claims of one request id are serialised (one at a time per process),
// claims of different ids run in parallel and share their fsyncs (Pebble's group
// commit).
type RequestLog struct {
	// stripes serialise the check-then-write of claims: a claim holds the stripe of
	// its request id's hash.
	stripes [4096]sync.Mutex
	db      *pebble.DB
	// held are the requests waiting for approvals (signer/approvals.go), in memory.
	held heldRequests
}

func (l *RequestLog) stripe(id string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return &l.stripes[h.Sum32()%uint32(len(l.stripes))]
}

// requestEntry is what the log keeps per request id.
type requestEntry struct {
	// Fingerprint is the SHA-256 (hex) of the request's canonical JSON.
	Fingerprint string `json:"fingerprint"`
	Chain       uint64 `json:"chain"`
	From        string `json:"from"`
	Nonce       uint64 `json:"nonce"`
}

// OpenRequestLog opens (creating it if needed) the log in dir. One process owns dir.
// Pebble's errors go to log (slog.Default when nil); its informational chatter is dropped.
func OpenRequestLog(dir string, log *slog.Logger) (*RequestLog, error) {
	if log == nil {
		log = slog.Default()
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("signer: open request log: %w", err)
	}
	return &RequestLog{db: db}, nil
}

// Close closes the log.
func (l *RequestLog) Close() error { return l.db.Close() }

func (l *RequestLog) get(id string) (requestEntry, bool, error) {
	v, closer, err := l.db.Get([]byte(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return requestEntry{}, false, nil
	}
	if err != nil {
		return requestEntry{}, false, fmt.Errorf("signer: request log: %w", err)
	}
	defer closer.Close()
	var e requestEntry
	if err := json.Unmarshal(v, &e); err != nil {
		return requestEntry{}, false, fmt.Errorf("signer: request log entry %q: %w", id, err)
	}
	return e, true, nil
}

// check returns the entry of id if there is one, or ErrRequestConflict if it was made
// for another fingerprint.
func (l *RequestLog) check(id, fingerprint string) (requestEntry, bool, error) {
	e, ok, err := l.get(id)
	if err != nil || !ok {
		return e, ok, err
	}
	if e.Fingerprint != fingerprint {
		return e, true, ErrRequestConflict
	}
	return e, true, nil
}

// claim returns the nonce of request id: the one it was given before, or else the one
// nonceFor returns, which it logs (synced) before returning it. The entry is written
// under the id's stripe and its fsync awaited after the stripe is released, so that
// claims share fsyncs; a claim that finds an entry (perhaps not yet synced by the claim
// that wrote it) waits for an fsync of its own before returning it, so no nonce is
// returned before its entry is durable.
func (l *RequestLog) claim(ctx context.Context, id, fingerprint string, chain uint64, from string,
	nonceFor func(ctx context.Context) (uint64, error)) (uint64, error) {
	n, wait, err := l.claimLocked(ctx, id, fingerprint, chain, from, nonceFor)
	if err != nil {
		return 0, err
	}
	if err := wait(); err != nil {
		return 0, fmt.Errorf("signer: request log: %w", err)
	}
	return n, nil
}

func (l *RequestLog) claimLocked(ctx context.Context, id, fingerprint string, chain uint64, from string,
	nonceFor func(ctx context.Context) (uint64, error)) (uint64, func() error, error) {
	mu := l.stripe(id)
	mu.Lock()
	defer mu.Unlock()
	e, ok, err := l.check(id, fingerprint)
	if err != nil {
		return 0, nil, err
	}
	if ok {
		return e.Nonce, func() error { return l.db.LogData(nil, pebble.Sync) }, nil
	}
	n, err := nonceFor(ctx)
	if err != nil {
		return 0, nil, err
	}
	v, err := json.Marshal(requestEntry{Fingerprint: fingerprint, Chain: chain, From: from, Nonce: n})
	if err != nil {
		return 0, nil, err
	}
	b := l.db.NewBatch()
	_ = b.Set([]byte(id), v, nil)
	if err := l.db.ApplyNoSyncWait(b, pebble.Sync); err != nil {
		b.Close()
		return 0, nil, fmt.Errorf("signer: request log: %w", err)
	}
	return n, func() error {
		defer b.Close()
		return b.SyncWait()
	}, nil
}

// pebbleLogger drops Pebble's informational messages and sends its errors to a slog
// logger; a fatal error panics, as Pebble's default logger stops the process.
type pebbleLogger struct{ log *slog.Logger }

func (pebbleLogger) Infof(string, ...any) {}
func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("request log: " + fmt.Sprintf(format, args...))
}
func (pebbleLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// claimNonce gives the signing request p its nonce through the RequestLog: the one its
// request id got before, or its own (p.req.Nonce), or else a new one reserved with the
// transaction's signing hash recorded by the double-sign guard in the same fsynced
// write (nonce.Manager.ReserveRecord), in which case recorded is true and the caller
// skips its Record. Either way the nonce is logged (synced) under the request id before
// claimNonce returns.
func (s *Server) claimNonce(ctx context.Context, p *parsedTx) (n uint64, recorded bool, err error) {
	chain, from := p.req.ChainID, p.key.Address
	n, err = s.o.Requests.claim(ctx, p.req.RequestID, p.fp, chain, from.Hex(), func(ctx context.Context) (uint64, error) {
		if p.req.Nonce != nil {
			return *p.req.Nonce, nil
		}
		n, rec, err := s.o.Nonces.ReserveRecord(ctx, chain, from, func(n uint64) ([32]byte, error) {
			tx, err := s.buildTx(p, n)
			if err != nil {
				return [32]byte{}, err
			}
			return types.LatestSignerForChainID(p.chain).Hash(tx), nil
		})
		recorded = rec
		return n, err
	})
	return n, recorded, err
}
