// Package ethereum is the Ethereum indexer: it reads blocks, transactions, receipts and
// logs over JSON-RPC (go-ethereum's client) and turns them into weir's chain events.
//
// This file set holds the log decoders: ERC-20 Transfer and Approval, ERC-721 Transfer
// and Approval, and ERC-1155 TransferSingle and TransferBatch. A decoder takes a log as
// the node returned it and either returns the transfers it carries or an error; it
// never panics, whatever the topics and data (fuzzed).
package ethereum
