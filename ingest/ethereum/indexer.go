package ethereum

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weirhq/weir/schemas/eventid"
	chainv1 "github.com/weirhq/weir/schemas/gen/weir/chain/v1"
	commonv1 "github.com/weirhq/weir/schemas/gen/weir/common/v1"
)

// Config configures an Indexer of one chain. RPCURL, ChainID and Brokers are required;
// every other field has a default.
type Config struct {
	// Name names the indexer. With the chain id it forms the indexer id
	// "<name>/<chain id>", which keys its checkpoints and names its Kafka transactional
	// id, so two indexers of one chain need two names. Default "ingest-eth".
	Name string
	// RPCURL is the node's JSON-RPC endpoint (http(s):// or ws(s)://). Required.
	RPCURL string
	// WSURL is a WebSocket endpoint for the newHeads subscription; when empty (the
	// default) the indexer polls the head every PollInterval. With a subscription it
	// still polls, at PollInterval, in case a notification is lost.
	WSURL string
	// ChainID is the chain the node must serve; another chain is an error at start.
	// Required.
	ChainID uint64
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topics are the topics written. Default DefaultTopics().
	Topics Topics
	// StartBlock is the first block indexed when the indexer has no checkpoint yet.
	// Default 0 (genesis); see StartAtHead.
	StartBlock uint64
	// StartAtHead starts a new indexer (one without a checkpoint) at the node's head
	// instead of StartBlock. Default false.
	StartAtHead bool
	// StopBlock, when not 0, makes Run return nil once every block up to it is
	// committed: a bounded backfill. Default 0: follow the head forever.
	StopBlock uint64
	// Parallelism is how many RPC batches are in flight during a backfill. Default 4.
	Parallelism int
	// BatchBlocks is how many blocks one RPC batch fetches. Default 20.
	BatchBlocks int
	// TxnBlocks bounds the blocks committed in one Kafka transaction during a backfill.
	// Default 200.
	TxnBlocks int
	// TxnRecords bounds the records of one Kafka transaction (a block is never split).
	// Default 50,000.
	TxnRecords int
	// Depth is how many recent canonical blocks are tracked to undo a reorg; a deeper
	// reorg stops the indexer with ErrReorgTooDeep. Default 128.
	Depth int
	// FinalityDepth, when not 0, deems a block final once it has this many blocks on
	// top of it. Default 0: use the node's "finalized" block tag.
	FinalityDepth uint64
	// PollInterval is how often the head is polled once the indexer has caught up.
	// Default 1s.
	PollInterval time.Duration
	// TransactionTimeout is the Kafka transaction timeout. Default 60s.
	TransactionTimeout time.Duration
	// RetryBackoff is the first wait after a failure (RPC or Kafka) before the indexer
	// starts again from its last checkpoint; it doubles up to one minute. Default 1s.
	RetryBackoff time.Duration
	// InternalTransfers adds the internal transfers of every block, from the node's
	// callTracer (debug_traceBlockByHash); a node without it is an error at start.
	// Default false: tracing costs the node far more than the block itself.
	InternalTransfers bool
	// Node configures the RPC client's retries. Zero value: NodeOptions defaults.
	Node NodeOptions
	// Converter configures the events; its ChainID is set from ChainID and its Tokens
	// default to a TokenCache on the node.
	Converter Converter
	// Logger receives progress and errors. Default slog.Default().
	Logger *slog.Logger
	// Metrics receives the indexer's measurements. Default: none.
	Metrics *Metrics
	// KafkaOpts are extra franz-go options (TLS, SASL) for the producer.
	KafkaOpts []kgo.Opt
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "ingest-eth"
	}
	if c.Topics == (Topics{}) {
		c.Topics = DefaultTopics()
	}
	if c.Parallelism <= 0 {
		c.Parallelism = 4
	}
	if c.BatchBlocks <= 0 {
		c.BatchBlocks = 20
	}
	if c.TxnBlocks <= 0 {
		c.TxnBlocks = 200
	}
	if c.TxnRecords <= 0 {
		c.TxnRecords = 50_000
	}
	if c.Depth <= 0 {
		c.Depth = 128
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = time.Minute
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// ID returns the indexer id, "<name>/<chain id>".
func (c Config) ID() string {
	name := c.Name
	if name == "" {
		name = "ingest-eth"
	}
	return name + "/" + strconv.FormatUint(c.ChainID, 10)
}

// Indexer follows one chain into the chain topics, exactly once: the records of a batch
// of blocks and the checkpoint that ends the batch are one Kafka transaction. It
// backfills from its checkpoint (or StartBlock) with parallel batched fetches, then
// follows the head; both are the same loop, so the handover is seamless. On a reorg it
// retracts the orphaned blocks, newest first, before emitting their replacements.
type Indexer struct {
	cfg  Config
	log  *slog.Logger
	node *Node
	conv Converter
	w    *writer

	// committed counts what this Indexer committed since New, for progress reports.
	committed struct{ blocks, records, logs, transfers atomic.Uint64 }

	// The state below is rebuilt from the last checkpoint at every (re)start.
	canon     *Canon
	ids       map[common.Hash][]string // event ids of the tracked blocks
	finalized uint64                   // highest block announced FINALIZED
	safe      uint64                   // highest block emitted as SAFE or better
	next      uint64                   // the next block to emit

	// progress is when progress was last logged, and the block count then.
	progress struct {
		at     time.Time
		blocks uint64
	}
}

// progressEvery is how often a running indexer logs how far it got.
const progressEvery = 10 * time.Second

// New checks cfg and returns an indexer; it connects to nothing until Run.
func New(cfg Config) (*Indexer, error) {
	cfg.setDefaults()
	switch {
	case cfg.RPCURL == "":
		return nil, errors.New("ingest: no RPC URL")
	case cfg.ChainID == 0:
		return nil, errors.New("ingest: no chain id")
	case len(cfg.Brokers) == 0:
		return nil, errors.New("ingest: no Kafka brokers")
	}
	conv := cfg.Converter
	conv.ChainID = cfg.ChainID
	return &Indexer{cfg: cfg, conv: conv,
		log: cfg.Logger.With("indexer", cfg.ID(), "rpc", cfg.RPCURL)}, nil
}

// Committed is what an Indexer has committed to Kafka since it was created.
type Committed struct {
	// Blocks and Records count committed blocks and records (retractions, markers and
	// checkpoints included in Records); Logs and Transfers count those events.
	Blocks, Records, Logs, Transfers uint64
}

// Committed returns what the indexer has committed so far. Safe for concurrent use.
func (ix *Indexer) Committed() Committed {
	return Committed{Blocks: ix.committed.blocks.Load(), Records: ix.committed.records.Load(),
		Logs: ix.committed.logs.Load(), Transfers: ix.committed.transfers.Load()}
}

// Name returns the indexer id.
func (ix *Indexer) Name() string { return ix.cfg.ID() }

// Run indexes until ctx is done (then returns nil) or, with StopBlock, until that block
// is committed. An unreachable node, a node of another chain, or an unreachable Kafka
// is an error at start. Later failures are retried from the last checkpoint with a
// growing backoff; a reorg deeper than Depth is returned as ErrReorgTooDeep.
func (ix *Indexer) Run(ctx context.Context) error {
	node, err := Dial(ctx, ix.cfg.RPCURL, ix.cfg.ChainID, ix.cfg.Node)
	if err != nil {
		return err
	}
	defer node.Close()
	ix.node = node
	if ix.conv.Tokens == nil {
		ix.conv.Tokens = NewTokenCache(node.eth, 0)
	}
	if ix.cfg.InternalTransfers {
		if err := ix.checkTracer(ctx); err != nil {
			return err
		}
	}
	heads := ix.subscribe(ctx)

	backoff := ix.cfg.RetryBackoff
	started := false
	for {
		err := ix.session(ctx, heads)
		switch {
		case err == nil || ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrReorgTooDeep), errors.Is(err, ErrWrongChain), errors.Is(err, ErrNoTracer):
			return err
		case !started && errors.Is(err, errConnect):
			return err // Kafka unreachable at start
		}
		started = true
		ix.cfg.Metrics.restart()
		ix.log.Error("indexer failed; restarting from the last checkpoint", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// session connects the producer, restores the state from the last checkpoint and runs
// the index loop until it fails or is done.
func (ix *Indexer) session(ctx context.Context, heads <-chan struct{}) error {
	w, err := newWriter(ctx, ix.cfg.Brokers, ix.cfg.ID(), ix.cfg.Topics, ix.cfg.TransactionTimeout, ix.cfg.KafkaOpts)
	if err != nil {
		return fmt.Errorf("%w: %w", errConnect, err)
	}
	ix.w = w
	defer func() { w.close(); ix.w = nil }()
	if err := ix.restore(ctx); err != nil {
		return err
	}
	return ix.loop(ctx, heads)
}

// restore rebuilds the indexer's position from its last committed checkpoint.
func (ix *Indexer) restore(ctx context.Context) error {
	cp, err := ix.w.checkpoint(ctx)
	if err != nil {
		return err
	}
	ix.ids = make(map[common.Hash][]string)
	if cp == nil {
		ix.canon, ix.finalized, ix.safe = NewCanon(ix.cfg.Depth), 0, 0
		ix.next = ix.cfg.StartBlock
		if ix.cfg.StartAtHead {
			if ix.next, err = ix.node.Head(ctx); err != nil {
				return err
			}
		}
		ix.log.Info("no checkpoint: starting", "block", ix.next)
		return nil
	}
	if cp.GetChainId() != ix.cfg.ChainID {
		return fmt.Errorf("checkpoint of %s is for chain %d", ix.cfg.ID(), cp.GetChainId())
	}
	blocks := make([]BlockID, len(cp.GetCanonical()))
	for i, b := range cp.GetCanonical() {
		blocks[i] = BlockID{Number: b.GetNumber(), Hash: common.HexToHash(b.GetHash())}
	}
	if ix.canon, err = Restore(ix.cfg.Depth, blocks); err != nil {
		return err
	}
	ix.finalized, ix.safe = cp.GetFinalized(), cp.GetSafe()
	head, ok := ix.canon.Head()
	if !ok {
		return fmt.Errorf("checkpoint of %s tracks no block", ix.cfg.ID())
	}
	ix.next = head.Number + 1
	ix.log.Info("resuming from checkpoint", "head", head.String(), "finalized", ix.finalized)
	return nil
}

// loop emits blocks from ix.next to the node's head, then waits for the next head.
func (ix *Indexer) loop(ctx context.Context, heads <-chan struct{}) error {
	tick := time.NewTicker(ix.cfg.PollInterval)
	defer tick.Stop()
	for {
		if ix.cfg.StopBlock != 0 && ix.next > ix.cfg.StopBlock {
			ix.log.Info("stop block committed", "block", ix.cfg.StopBlock)
			return nil
		}
		nodeHead, err := ix.node.Head(ctx)
		if err != nil {
			return err
		}
		ix.cfg.Metrics.head(ix.cfg.ChainID, nodeHead, ix.next)
		// A reorg to a chain that is not longer than ours shows only as a changed hash
		// at our head.
		if h, ok := ix.canon.Head(); ok && nodeHead <= h.Number {
			hash, err := ix.node.CanonicalHash(ctx, h.Number)
			if err != nil {
				return err
			}
			if hash != h.Hash {
				if err := ix.reorg(ctx); err != nil {
					return err
				}
				continue
			}
		}
		target := nodeHead
		if ix.cfg.StopBlock != 0 {
			target = min(target, ix.cfg.StopBlock)
		}
		if ix.next <= target {
			if err := ix.emitRange(ctx, ix.next, target, nodeHead); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-heads:
		case <-tick.C:
		}
	}
}

// fetched is one RPC batch of converted blocks, or its error.
type fetched struct {
	events []*BlockEvents
	err    error
}

// emitRange emits blocks from..to, fetching RPC batches in parallel (at most
// Parallelism in flight) and committing them in order, TxnBlocks at a time. It returns
// after a reorg has been handled, or at the end of the range.
func (ix *Indexer) emitRange(ctx context.Context, from, to, nodeHead uint64) error {
	settled, err := ix.settledAt(ctx, nodeHead)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	// fctx stops the fetches once the range ends early.
	fctx, cancelFetches := context.WithCancel(gctx)
	defer cancelFetches()
	queue := make(chan chan fetched, ix.cfg.Parallelism)
	g.Go(func() error {
		defer close(queue)
		for start := from; start <= to; start += uint64(ix.cfg.BatchBlocks) {
			end := min(start+uint64(ix.cfg.BatchBlocks)-1, to)
			fut := make(chan fetched, 1)
			select {
			case queue <- fut:
			case <-fctx.Done():
				return nil
			}
			g.Go(func() error {
				evs, err := ix.fetch(fctx, start, end)
				fut <- fetched{evs, err}
				return nil
			})
		}
		return nil
	})

	var (
		pending []*BlockEvents
		records int
		stop    error // ends the range early: a reorg was handled, or a failure
	)
	commit := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := ix.commitBlocks(gctx, pending, settled, nodeHead)
		pending, records = pending[:0], 0
		return err
	}
	for fut := range queue {
		if stop != nil {
			cancelFetches()
			continue // drain
		}
		var f fetched
		select {
		case f = <-fut:
		case <-gctx.Done():
			stop = gctx.Err()
			continue
		}
		if errors.Is(f.err, ErrBlockNotFound) {
			// The node's head went down (a reorg to a shorter chain) after the range was
			// planned: commit what links, and let the loop look at the head again.
			if stop = commit(); stop == nil {
				stop = errReorgHandled
			}
			continue
		}
		if f.err != nil {
			stop = errors.Join(commit(), f.err)
			continue
		}
		for _, ev := range f.events {
			if !ix.links(ev) {
				// The new block does not extend what we emitted: a reorg. Commit what
				// is pending (it was canonical when fetched; if not, the walk below
				// retracts it), then walk back.
				if err := commit(); err != nil {
					stop = err
				} else if err := ix.reorg(gctx); err != nil {
					stop = err
				} else {
					stop = errReorgHandled
				}
				break
			}
			pending = append(pending, ev)
			records += ev.Len()
			if len(pending) >= ix.cfg.TxnBlocks || records >= ix.cfg.TxnRecords {
				if err := commit(); err != nil {
					stop = err
					break
				}
			}
		}
		if stop == nil && len(pending) > 0 && len(queue) == 0 {
			// Nothing more is ready: commit rather than wait (this is what keeps the
			// follow latency at one block).
			stop = commit()
		}
	}
	if err := g.Wait(); err != nil && stop == nil {
		stop = err
	}
	if stop == nil {
		stop = commit()
	}
	if errors.Is(stop, errReorgHandled) {
		return nil
	}
	return stop
}

var errReorgHandled = errors.New("reorg handled")

// errConnect marks a session that could not connect its producer to Kafka.
var errConnect = errors.New("kafka")

// links reports whether ev extends the indexed chain (the last pending or committed
// block), and if so records it in canon.
func (ix *Indexer) links(ev *BlockEvents) bool {
	id := BlockID{Number: ev.Block.GetNumber(), Hash: common.HexToHash(ev.Block.GetHash())}
	if err := ix.canon.Extend(id, common.HexToHash(ev.Block.GetParentHash())); err != nil {
		return false
	}
	ix.ids[id.Hash] = ev.EventIDs()
	return true
}

// fetch fetches and converts blocks from..to (one RPC batch).
func (ix *Indexer) fetch(ctx context.Context, from, to uint64) ([]*BlockEvents, error) {
	numbers := make([]uint64, 0, to-from+1)
	for n := from; n <= to; n++ {
		numbers = append(numbers, n)
	}
	fs, err := ix.node.Blocks(ctx, numbers)
	if err != nil {
		return nil, err
	}
	evs := make([]*BlockEvents, len(fs))
	for i, f := range fs {
		if evs[i], err = ix.conv.ConvertFetched(ctx, f, Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST}); err != nil {
			return nil, err
		}
		if ix.cfg.InternalTransfers && len(f.Block.Transactions()) > 0 {
			traces, err := ix.node.TraceBlock(ctx, f.Block.Hash())
			if err != nil {
				return nil, err
			}
			if err := ix.conv.AddInternalTransfers(evs[i], traces); err != nil {
				return nil, err
			}
		}
		for _, m := range evs[i].Malformed {
			ix.log.Debug("malformed token log", "block", f.Block.NumberU64(), "err", m)
		}
	}
	return evs, nil
}

// checkTracer fails with ErrNoTracer when the node cannot trace its latest block.
func (ix *Indexer) checkTracer(ctx context.Context) error {
	head, err := ix.node.Head(ctx)
	if err != nil {
		return err
	}
	hash, err := ix.node.CanonicalHash(ctx, head)
	if err != nil {
		return err
	}
	if _, err := ix.node.TraceBlock(ctx, hash); err != nil {
		return fmt.Errorf("internal transfers need the node's debug API: %w", err)
	}
	return nil
}

// settled is how far the chain is settled: the highest safe and the highest finalized
// block.
type settled struct{ safe, finalized uint64 }

// settledAt returns how settled the chain is: with FinalityDepth, blocks that deep under
// nodeHead are final (and nothing is merely safe); otherwise the node's "safe" and
// "finalized" block tags. A node without a "safe" tag counts as safe up to finalized.
func (ix *Indexer) settledAt(ctx context.Context, nodeHead uint64) (settled, error) {
	if ix.cfg.FinalityDepth > 0 {
		if nodeHead < ix.cfg.FinalityDepth {
			return settled{}, nil
		}
		f := nodeHead - ix.cfg.FinalityDepth
		return settled{safe: f, finalized: f}, nil
	}
	f, err := ix.node.Finalized(ctx)
	if err != nil {
		return settled{}, err
	}
	safe, err := ix.node.Safe(ctx)
	if err != nil || safe < f {
		safe = f
	}
	return settled{safe: safe, finalized: f}, nil
}

// confirmation is the status of block number n at emission.
func (s settled) confirmation(n, nodeHead uint64) Confirmation {
	c := Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST}
	switch {
	case n <= s.finalized:
		c.Status = chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED
	case n <= s.safe:
		c.Status = chainv1.ConfirmationStatus_CONFIRMATION_STATUS_SAFE
	}
	if nodeHead > n {
		c.Confirmations = nodeHead - n
	}
	return c
}

// commitBlocks writes the events of evs (consecutive, already linked into canon), a
// finality marker when the final block moved, and the checkpoint, in one transaction.
func (ix *Indexer) commitBlocks(ctx context.Context, evs []*BlockEvents, st settled, nodeHead uint64) error {
	start := time.Now()
	t := ix.cfg.Topics
	var recs []*kgo.Record
	chainKey := strconv.FormatUint(ix.cfg.ChainID, 10)
	for _, ev := range evs {
		n := ev.Block.GetNumber()
		conf := st.confirmation(n, nodeHead)
		ev.SetConfirmation(conf)
		rs, err := blockRecords(t, chainKey, ev)
		if err != nil {
			return err
		}
		recs = append(recs, rs...)
	}
	last := evs[len(evs)-1].Block
	newFinal := ix.finalized
	if m := min(st.finalized, last.GetNumber()); m > ix.finalized {
		marker, err := ix.finalityMarker(ctx, m, evs)
		if err != nil {
			return err
		}
		r, err := record(t.Finality, chainKey, marker)
		if err != nil {
			return err
		}
		recs = append(recs, r)
		newFinal = m
	}
	// (On a failed commit the session restarts from the last checkpoint, so updating
	// safe first is harmless.)
	ix.safe = max(ix.safe, min(st.safe, last.GetNumber()))
	if err := ix.w.commit(ctx, recs, ix.checkpoint(newFinal, last.GetMeta().GetEventTime())); err != nil {
		return err
	}
	ix.finalized = newFinal
	ix.next = last.GetNumber() + 1
	ix.committed.blocks.Add(uint64(len(evs)))
	ix.committed.records.Add(uint64(len(recs) + 1))
	for _, ev := range evs {
		ix.committed.logs.Add(uint64(len(ev.Logs)))
		ix.committed.transfers.Add(uint64(len(ev.Transfers)))
	}
	ix.prune()
	ix.cfg.Metrics.committed(ix.cfg.ChainID, len(evs), len(recs), time.Since(start))
	ix.log.Debug("committed", "to", last.GetNumber(), "blocks", len(evs), "records", len(recs))
	if now := time.Now(); now.Sub(ix.progress.at) >= progressEvery {
		blocks := ix.committed.blocks.Load()
		if !ix.progress.at.IsZero() {
			rate := float64(blocks-ix.progress.blocks) / now.Sub(ix.progress.at).Seconds()
			ix.log.Info("indexed", "block", last.GetNumber(), "node_head", nodeHead, "finalized", ix.finalized,
				"blocks_per_s", fmt.Sprintf("%.1f", rate))
		}
		ix.progress.at, ix.progress.blocks = now, blocks
	}
	return nil
}

// blockRecords returns the records of one block's events, keyed as the catalogue says.
func blockRecords(t Topics, chainKey string, ev *BlockEvents) ([]*kgo.Record, error) {
	recs := make([]*kgo.Record, 0, ev.Len())
	r, err := record(t.Blocks, chainKey, ev.Block)
	if err != nil {
		return nil, err
	}
	recs = append(recs, r)
	for _, e := range ev.Transactions {
		if r, err = record(t.Transactions, e.GetFrom(), e); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	for _, e := range ev.Receipts {
		if r, err = record(t.Receipts, e.GetFrom(), e); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	for _, e := range ev.Logs {
		if r, err = record(t.Logs, e.GetAddress(), e); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	for _, e := range ev.Transfers {
		if r, err = record(t.Transfers, e.GetTo(), e); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	for _, e := range ev.Approvals {
		if r, err = record(t.Approvals, e.GetOwner(), e); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, nil
}

// finalityMarker announces block number as FINALIZED; its hash comes from the blocks
// being committed, the tracked ones, or the node.
func (ix *Indexer) finalityMarker(ctx context.Context, number uint64, evs []*BlockEvents) (*chainv1.FinalityMarker, error) {
	var hash string
	for _, ev := range evs {
		if ev.Block.GetNumber() == number {
			hash = ev.Block.GetHash()
		}
	}
	if hash == "" {
		for _, b := range ix.canon.Blocks() {
			if b.Number == number {
				hash = hexHash(b.Hash)
			}
		}
	}
	if hash == "" {
		h, err := ix.node.CanonicalHash(ctx, number)
		if err != nil {
			return nil, err
		}
		hash = hexHash(h)
	}
	status := chainv1.ConfirmationStatus_CONFIRMATION_STATUS_FINALIZED
	return &chainv1.FinalityMarker{
		Meta: &commonv1.Meta{
			EventId:   eventid.New("weir.chain.v1.FinalityMarker", strconv.FormatUint(ix.cfg.ChainID, 10), status.String(), hash),
			EventTime: timestamppb.Now(), Source: ix.source(),
		},
		ChainId: ix.cfg.ChainID, Block: &chainv1.BlockRef{Number: number, Hash: hash}, Status: status,
	}, nil
}

func (ix *Indexer) source() string {
	if ix.conv.Source != "" {
		return ix.conv.Source
	}
	return "ingest/ethereum"
}

// checkpoint is the position after the blocks in canon.
func (ix *Indexer) checkpoint(finalized uint64, at *timestamppb.Timestamp) *chainv1.IngestCheckpoint {
	blocks := ix.canon.Blocks()
	cp := &chainv1.IngestCheckpoint{
		Indexer: ix.cfg.ID(), ChainId: ix.cfg.ChainID, Finalized: finalized, Safe: max(ix.safe, finalized),
		Canonical: make([]*chainv1.BlockRef, len(blocks)),
	}
	for i, b := range blocks {
		cp.Canonical[i] = &chainv1.BlockRef{Number: b.Number, Hash: hexHash(b.Hash)}
	}
	head := "none"
	if len(blocks) > 0 {
		head = hexHash(blocks[len(blocks)-1].Hash)
	}
	if at == nil {
		at = timestamppb.Now()
	}
	cp.Meta = &commonv1.Meta{EventId: eventid.New("weir.chain.v1.IngestCheckpoint", ix.cfg.ID(), head),
		EventTime: at, Source: ix.source()}
	return cp
}

// prune forgets the event ids of blocks no longer tracked.
func (ix *Indexer) prune() {
	if len(ix.ids) <= 2*ix.cfg.Depth {
		return
	}
	keep := make(map[common.Hash]bool, ix.cfg.Depth)
	for _, b := range ix.canon.Blocks() {
		keep[b.Hash] = true
	}
	for h := range ix.ids {
		if !keep[h] {
			delete(ix.ids, h)
		}
	}
}

// reorg walks back to the common ancestor with the node's chain and commits the
// retractions of the orphaned blocks, newest first, with the checkpoint at the
// ancestor; the caller then emits the new canonical blocks from there.
func (ix *Indexer) reorg(ctx context.Context) error {
	before := ix.canon.Blocks()
	ancestor, orphaned, err := ix.canon.Reorg(ctx, ix.node)
	if err != nil {
		return err
	}
	if len(orphaned) == 0 {
		return nil
	}
	ix.log.Warn("reorg", "depth", len(orphaned), "ancestor", ancestor.String(), "orphaned_head", orphaned[0].String())
	var recs []*kgo.Record
	chainKey := strconv.FormatUint(ix.cfg.ChainID, 10)
	for _, b := range orphaned {
		ids, err := ix.eventIDs(ctx, b)
		if err != nil {
			ix.canon, _ = Restore(ix.cfg.Depth, before)
			return err
		}
		var replacedBy *chainv1.BlockRef
		if h, err := ix.node.CanonicalHash(ctx, b.Number); err == nil && h != (common.Hash{}) {
			replacedBy = &chainv1.BlockRef{Number: b.Number, Hash: hexHash(h)}
		}
		for _, r := range retractions(ix.cfg.ChainID, ix.source(), b, replacedBy, uint32(len(orphaned)), ids) {
			rec, err := record(ix.cfg.Topics.Retractions, chainKey, r)
			if err != nil {
				return err
			}
			recs = append(recs, rec)
		}
	}
	if err := ix.w.commit(ctx, recs, ix.checkpoint(ix.finalized, nil)); err != nil {
		ix.canon, _ = Restore(ix.cfg.Depth, before)
		return err
	}
	for _, b := range orphaned {
		delete(ix.ids, b.Hash)
	}
	ix.next = ancestor.Number + 1
	ix.cfg.Metrics.reorged(ix.cfg.ChainID, len(orphaned))
	return nil
}

// eventIDs returns the ids of every event emitted for block b: remembered since it was
// emitted, or (after a restart) recomputed from the block as the node still has it.
func (ix *Indexer) eventIDs(ctx context.Context, b BlockID) ([]string, error) {
	if ids, ok := ix.ids[b.Hash]; ok {
		return ids, nil
	}
	f, err := ix.node.BlockByHash(ctx, b.Hash)
	if errors.Is(err, ErrBlockNotFound) {
		// The node forgot the orphan. Its Block id is all we can name; every event
		// carries the block hash, by which consumers can retract the rest.
		ix.log.Error("orphaned block no longer on the node; retracting it by block id only", "block", b.String())
		return []string{eventid.ChainBlock(kindBlock, ix.cfg.ChainID, hexHash(b.Hash))}, nil
	}
	if err != nil {
		return nil, err
	}
	ev, err := ix.conv.ConvertFetched(ctx, f, Confirmation{Status: chainv1.ConfirmationStatus_CONFIRMATION_STATUS_LATEST})
	if err != nil {
		return nil, err
	}
	if ix.cfg.InternalTransfers && len(f.Block.Transactions()) > 0 {
		traces, err := ix.node.TraceBlock(ctx, b.Hash)
		if err != nil {
			return nil, err
		}
		if err := ix.conv.AddInternalTransfers(ev, traces); err != nil {
			return nil, err
		}
	}
	return ev.EventIDs(), nil
}

// maxRetractionIDs bounds the event ids of one Retraction record (about 70 bytes each,
// so a part stays well under Kafka's default 1 MB record limit).
const maxRetractionIDs = 10_000

// retractions returns the Retraction records of one orphaned block, split in parts.
func retractions(chainID uint64, source string, b BlockID, replacedBy *chainv1.BlockRef, depth uint32, ids []string) []*chainv1.Retraction {
	parts := (len(ids) + maxRetractionIDs - 1) / maxRetractionIDs
	parts = max(parts, 1)
	out := make([]*chainv1.Retraction, 0, parts)
	now := timestamppb.Now()
	for p := 1; p <= parts; p++ {
		lo, hi := (p-1)*maxRetractionIDs, min(p*maxRetractionIDs, len(ids))
		out = append(out, &chainv1.Retraction{
			Meta: &commonv1.Meta{
				EventId: eventid.New("weir.chain.v1.Retraction", strconv.FormatUint(chainID, 10), hexHash(b.Hash),
					strconv.Itoa(p)),
				EventTime: now, Source: source,
			},
			ChainId: chainID, OrphanedBlock: &chainv1.BlockRef{Number: b.Number, Hash: hexHash(b.Hash)},
			ReplacedBy: replacedBy, Depth: depth, RetractedEventIds: ids[lo:hi],
			Part: uint32(p), Parts: uint32(parts),
		})
	}
	return out
}

// subscribe returns a channel that receives a value when the node announces a new head
// over WSURL (nil when there is no WSURL). A failed subscription is logged and retried;
// the poll keeps the indexer going meanwhile.
func (ix *Indexer) subscribe(ctx context.Context) <-chan struct{} {
	if ix.cfg.WSURL == "" {
		return nil
	}
	out := make(chan struct{}, 1)
	go func() {
		for ctx.Err() == nil {
			err := ix.follow(ctx, out)
			if ctx.Err() != nil {
				return
			}
			ix.log.Warn("newHeads subscription ended; polling meanwhile", "ws", ix.cfg.WSURL, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
		}
	}()
	return out
}

func (ix *Indexer) follow(ctx context.Context, out chan<- struct{}) error {
	c, err := ethclient.DialContext(ctx, ix.cfg.WSURL)
	if err != nil {
		return err
	}
	defer c.Close()
	ch := make(chan *types.Header, 16)
	sub, err := c.SubscribeNewHead(ctx, ch)
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-sub.Err():
			return err
		case <-ch:
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}
}
