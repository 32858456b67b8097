// Package ingestbench is the harness of `weir bench ingest`: it prepares a chain on a geth
// of its own, times a backfill of it, and optionally times ethereum-etl on the same node
// and block range in the same run.
//
// The benchmark:
//
//   - [Prepare] starts `geth --dev --dev.period 0` (a block whenever transactions arrive)
//     on free loopback ports and fills a fresh datadir until the chain has
//     [Options.Blocks] blocks (default 5000), each carrying [Options.TxPerBlock] (default
//     4) transactions: ERC-20 WeirToken transfers and native transfers. The datadir is
//     kept under ${WEIR_CACHE:-$HOME/.cache/weir}/bench/, so a rerun only restarts geth.
//
//   - [Run] hands the node's URL and the range 1..head to weir's backfill (a function, so
//     this package does not depend on the indexer), and with [Options.VsEthereumETL] runs
//     [RunEthereumETL] on the same node and range. It prints a summary and, as its last
//     line, one JSON object:
//
//     {"blocks_per_s":…,"logs_per_s":…,"peer_blocks_per_s":…,"ratio":…}
//
// The goal the benchmark tracks is a ratio of at least 3: weir backfilling at three times
// ethereum-etl's rate on the same node.
//
// ethereum-etl is installed once into a virtualenv under
// ${WEIR_CACHE:-$HOME/.cache/weir}/venv/ethereum-etl from the pinned list
// ethereum-etl-requirements.txt beside this file (see [RunEthereumETL] for why the list
// is installed without pip's resolver).
package ingestbench
