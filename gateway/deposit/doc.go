// Package deposit derives a unique Ethereum deposit address per payment intent from a
// merchant's BIP-32 extended public key, so that the gateway can tell payments apart without
// ever holding a key that can spend them.
//
// The merchant exports the account-level extended public key of their wallet, the node at the
// BIP-44 path m/44'/60'/0' (coin type 60 is Ether), serialized as "xpub…" (or "tpub…"). The
// gateway derives deposit address i at the non-hardened path xpub/0/i, that is
// m/44'/60'/0'/0/i: the external chain of that account, which is where MetaMask, Ledger, Trezor
// and other BIP-44 Ethereum wallets put their receiving addresses, so the merchant's wallet
// sees and can spend every deposit. Index i must be below 2^31; the gateway allocates it
// per payment intent and must never reuse one.
//
// An extended private key ("xprv…", "tprv…") is refused: a merchant must never hand the
// gateway a key that can spend.
package deposit
