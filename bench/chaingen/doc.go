// Package chaingen generates Ethereum traffic for weir's indexer: a go-ethereum simulated
// backend (chain id 1337, every fork active) served over HTTP and WebSocket JSON-RPC on
// loopback, with funded accounts, an ERC-20 (WeirToken) and an ERC-721 (WeirNFT), and a
// loop that mines blocks of realistic transactions, injects labelled fraud patterns and
// reorganises the chain on demand.
//
// It drives the embedded dev mode (Start + Run) and the tests and benchmarks of
// ingest/ethereum (Start + Step / Blocks / Reorg). Everything random is drawn from one
// generator seeded by Config.Seed, so a run is reproducible given the same sequence of
// calls; block hashes are not (the simulated beacon draws prevRandao at random and stamps
// blocks with the wall clock).
//
// # Traffic
//
// Each block carries Config.Rate × Config.BlockInterval transactions (fractions carry
// over to the next block): about 36% native ETH transfers, 40% ERC-20 transfers, 8% ERC-20
// approvals (some unlimited), 7% NFT mints, 8% NFT transfers and 1% ERC-20 transfers that
// exceed the sender's balance and revert (mined with status 0). Amounts are integers
// spread over many orders of magnitude (1 base unit to 10,000 tokens, 1 wei to 10 ETH).
//
// # Fraud patterns
//
// With probability Config.FraudRate per block (or when asked with InjectPattern) a
// pattern starts; it occupies its accounts, which ordinary traffic then leaves alone,
// for one to three blocks. When its last transaction is mined with status 1, each labelled
// address gets one weir.risk.v1.RiskLabel through Config.OnLabel and the whole instance is
// reported through Config.OnPattern:
//
//   - PatternTakeover: a compromised account sends a burst of ETH and token transfers to
//     a few fresh addresses over three blocks (FRAUD_PATTERN_ACCOUNT_TAKEOVER);
//   - PatternStructuring: several token transfers each just under
//     Config.StructuringThreshold (FRAUD_PATTERN_STRUCTURING);
//   - PatternDrain: an account's whole token balance but a crumb is split over many fresh
//     addresses in one block (FRAUD_PATTERN_ACCOUNT_TAKEOVER, "drain" in the label id);
//     the minter refills the victim in the next block so its ordinary traffic goes on;
//   - PatternRoundTrip: A→B, B→C, C→A in three blocks with about the same amount, each
//     hop keeping a small cut (FRAUD_PATTERN_MONEY_MULE on A, B and C).
//
// Labels follow the RiskLabel contract of schemas/proto/weir/risk/v1/risk.proto: entity_id
// is "<chain id>:<address>" (EntityID), label_id names the generator, the pattern, the
// block that completed it, the instance and the address, and Meta.event_id is
// eventid.New("weir.risk.v1.RiskLabel", label_id). RiskLabel has no free-text notes field,
// so the pattern variant ("drain", "takeover", ...) is carried in label_id.
//
// # Reorgs
//
// Reorg(ctx, depth) replaces the top depth blocks by depth+1 new ones with fresh
// transactions; the transactions of the orphaned blocks are dropped, not re-sent. With
// Config.ReorgEvery set, Run and Blocks reorganise by a random depth up to
// Config.MaxReorgDepth every so many blocks, never into a block holding a pattern's
// transactions, so a delivered label always describes transactions on the canonical
// chain. No reorg touches the finalized block (the simulated beacon finalizes every 32nd
// block) or the blocks that deployed the contracts.
package chaingen
