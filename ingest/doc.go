// Package ingest holds the chain indexers: reorg-safe, keyed, exactly-once producers of
// chain events (blocks, transactions, receipts and logs, transfers, retractions and
// finality markers) into the chain.* topics of the catalogue. Ethereum comes first
// (ingest/ethereum), built on go-ethereum and the stream runtime's transactions.
package ingest
