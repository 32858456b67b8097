// Package signerbench measures the signer's transaction signing path against go-ethereum's
// raw crypto.Sign, in one run on the same machine with the same number of workers.
//
// # What is compared
//
// The signer path is signer.Service.Open — the same wiring `weir run signer` serves —
// with a keystore of Options.Keys keys (created through the API, decrypted once and then
// held in memory: scrypt runs at creation, never per signature), a published policy
// whose allow rule matches every request (so the usage of each request is recorded in
// the policy state), the nonce manager, the request log and a Kafka client on the real
// brokers. Options.Workers goroutines each send POST /v1/sign/transaction requests, one
// after another (closed loop), each with a request id of its own, an EIP-1559 transfer
// of 1 wei from an account (key, chain) that the worker owns with Workers/accounts
// others. Before the warm-up, one request per account is signed, one at a time: each
// key is decrypted there, once, and each nonce sequence started. A request is handed to the Server's ServeHTTP in process (the handler the API
// serves, without the TCP loopback and HTTP parsing): authentication, JSON decoding,
// the key lookup, the request-log check, the policy decision and its usage record
// (fsynced), the nonce reservation (fsynced), the request-log entry (fsynced), the
// double-sign record (fsynced), the signature, and the SigningRequest, SignedTransaction
// and AuditRecord events produced to signer.requests, signer.signed and signer.audit
// and acknowledged by Kafka (acks=all) before the answer. Only 200 answers count;
// anything else is an error and more than 0.1% fails the run.
//
// The raw path is Workers goroutines calling crypto.Sign on fresh 32-byte digests with
// Keys in-memory private keys, nothing else.
//
// After the signer run, the end offsets of signer.signed are checked to hold one
// SignedTransaction per 200 answer (warm-up and measured), so the figure counts only
// signatures whose events Kafka acknowledged.
//
// # Figures
//
// signs_per_s is the signer's 200 answers per second over Options.Duration after
// Options.Warmup; raw_signs_per_s the same for crypto.Sign; ratio their quotient;
// p99_ms the 99th percentile of the signer's request latency (ServeHTTP call to
// return) over the measured window.
package signerbench
