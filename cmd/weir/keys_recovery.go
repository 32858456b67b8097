package main

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/spf13/cobra"

	"github.com/weirhq/weir/signer"
	"github.com/weirhq/weir/signer/keys"
	"github.com/weirhq/weir/signer/recovery"
)

// envSignerRecoveryMinDelay is the signer's minimum recovery delay (a Go duration).
// Default recovery.DefaultMinDelay (24h).
const envSignerRecoveryMinDelay = "WEIR_SIGNER_RECOVERY_MIN_DELAY"

// recoveryMinDelay reads envSignerRecoveryMinDelay; 0 when unset.
func recoveryMinDelay(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s: want a positive duration, got %q", envSignerRecoveryMinDelay, v)
	}
	return d, nil
}

// shareFile is what `weir keys split --out DIR` writes for each guardian: the share
// encrypted to the guardian's key (only the guardian can open it).
type shareFile struct {
	KeyID      string `json:"key_id"`
	Address    string `json:"address"`
	SplitID    string `json:"split_id"`
	Threshold  int    `json:"threshold"`
	GuardianID string `json:"guardian_id"`
	Index      int    `json:"index"`
	Ciphertext string `json:"ciphertext"`
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// shareFileName is the file of guardian id's share in dir.
func shareFileName(dir, id string) string {
	return filepath.Join(dir, unsafeFileChars.ReplaceAllString(id, "_")+".share.json")
}

// parseGuardian reads a --guardian value "id=PUBKEY" (0x-hex secp256k1 public key,
// compressed or not).
func parseGuardian(v string) (signer.GuardianRequest, error) {
	id, pub, ok := strings.Cut(v, "=")
	id, pub = strings.TrimSpace(id), strings.TrimSpace(pub)
	if !ok || id == "" || pub == "" {
		return signer.GuardianRequest{}, fmt.Errorf("--guardian %q: want id=PUBLIC_KEY (0x-hex secp256k1 public key)", v)
	}
	if !strings.HasPrefix(pub, "0x") {
		pub = "0x" + pub
	}
	b, err := hexutil.Decode(pub)
	if err != nil {
		return signer.GuardianRequest{}, fmt.Errorf("--guardian %q: %v", v, err)
	}
	if _, err := recovery.NewGuardian(id, b); err != nil {
		return signer.GuardianRequest{}, fmt.Errorf("--guardian %q: %w (an address is not enough: the share is encrypted to the public key)", v, err)
	}
	return signer.GuardianRequest{ID: id, PublicKey: pub}, nil
}

// readShare reads a share file written by split --out, or a file holding the 0x-hex
// ciphertext alone.
func readShare(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var sf shareFile
	if json.Unmarshal(b, &sf) == nil && sf.Ciphertext != "" {
		return hexutil.Decode(sf.Ciphertext)
	}
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, "0x") {
		s = "0x" + s
	}
	return hexutil.Decode(s)
}

func randomNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// guardianFlags are a guardian's identity and key file, for the guardian-side commands.
type guardianFlags struct {
	id      string
	keyFile string
	expires time.Duration
}

func (g *guardianFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&g.id, "guardian", "", "the guardian's id in the split")
	c.Flags().StringVar(&g.keyFile, "guardian-key", "", "file with the guardian's secp256k1 private key in hex (dev tooling: a guardian's wallet signs the same EIP-191 message)")
	c.Flags().DurationVar(&g.expires, "expires", time.Hour, "how long the signed approval stays valid (at most 168h)")
	_ = c.MarkFlagRequired("guardian")
	_ = c.MarkFlagRequired("guardian-key")
}

func (g *guardianFlags) key() (*ecdsa.PrivateKey, error) {
	k, err := crypto.LoadECDSA(g.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--guardian-key: %w", err)
	}
	return k, nil
}

// addRecoveryCmds adds `weir keys split|recover|rotate|freeze|unfreeze` to keysCmd: thin
// clients of the signer's recovery API (signer/recovery_api.go). The guardian-side
// steps (approve, freeze, unfreeze) sign with a guardian key file, as a guardian's
// wallet would, and re-encrypt the guardian's share to the ceremony key locally, so the
// share never travels in clear.
func addRecoveryCmds(keysCmd *cobra.Command, client func(*cobra.Command) (*signerClient, error), addr *string) {
	var subs []*cobra.Command
	call := func(cmd *cobra.Command, method, path string, body any) error {
		c, err := client(cmd)
		if err != nil {
			return err
		}
		var out json.RawMessage
		if err := c.do(cmd.Context(), method, path, body, &out); err != nil {
			return err
		}
		return printJSON(cmd.OutOrStdout(), out)
	}

	var threshold int
	var guardians []string
	var outDir string
	split := &cobra.Command{
		Use:   "split KEY --threshold T --guardian id=PUBKEY...",
		Short: "Split a keystore key's secret T-of-n to guardians; prints the shares, each encrypted to its guardian",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := signer.SplitRequest{Threshold: threshold}
			for _, g := range guardians {
				gr, err := parseGuardian(g)
				if err != nil {
					return err
				}
				req.Guardians = append(req.Guardians, gr)
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var out signer.SplitResponse
			if err := c.do(cmd.Context(), "POST", "/v1/keys/"+args[0]+"/split", req, &out); err != nil {
				return err
			}
			if outDir != "" {
				if err := os.MkdirAll(outDir, 0o700); err != nil {
					return err
				}
				for _, s := range out.Shares {
					b, _ := json.MarshalIndent(shareFile{KeyID: out.KeyID, Address: out.Address, SplitID: out.SplitID,
						Threshold: out.Threshold, GuardianID: s.GuardianID, Index: s.Index, Ciphertext: s.Ciphertext}, "", "  ")
					if err := os.WriteFile(shareFileName(outDir, s.GuardianID), append(b, '\n'), 0o600); err != nil {
						return err
					}
				}
			}
			b, _ := json.Marshal(out)
			return printJSON(cmd.OutOrStdout(), b)
		},
	}
	split.Flags().IntVar(&threshold, "threshold", 2, "how many guardians reconstruct the key (at least 2)")
	split.Flags().StringArrayVar(&guardians, "guardian", nil, "a guardian as id=PUBLIC_KEY (0x-hex secp256k1); repeat for each")
	split.Flags().StringVar(&outDir, "out", "", "also write each guardian's encrypted share to DIR/<guardian>.share.json (dev)")
	_ = split.MarkFlagRequired("guardian")
	subs = append(subs, split)

	recoverCmd := &cobra.Command{Use: "recover", Short: "Run a key-recovery ceremony: start, approve, status, cancel, reconstruct", Args: cobra.NoArgs}
	var delay time.Duration
	start := &cobra.Command{
		Use:   "start KEY --delay D",
		Short: "Ask to recover KEY; guardians then approve, and the owner can cancel during the delay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "POST", "/v1/keys/"+args[0]+"/recoveries", signer.StartRecoveryRequest{Delay: delay.String()})
		},
	}
	start.Flags().DurationVar(&delay, "delay", 72*time.Hour, "time from the guardian quorum to the earliest reconstruction (the owner's cancel window)")
	var statusKey string
	status := &cobra.Command{
		Use:   "status [RECOVERY] [--key KEY]",
		Short: "Show a ceremony, or a key's split, freeze status and ceremony in progress",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && statusKey == "":
				return call(cmd, "GET", "/v1/recoveries/"+args[0], nil)
			case len(args) == 0 && statusKey != "":
				return call(cmd, "GET", "/v1/keys/"+statusKey+"/recovery", nil)
			}
			return errors.New("give a recovery id or --key KEY")
		},
	}
	status.Flags().StringVar(&statusKey, "key", "", "show this key's recovery status instead")
	var reason string
	cancel := &cobra.Command{
		Use:   "cancel RECOVERY",
		Short: "Cancel a ceremony (the owner; allowed until reconstruction)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "POST", "/v1/recoveries/"+args[0]+"/cancel", signer.RecoveryCancelRequest{Reason: reason})
		},
	}
	cancel.Flags().StringVar(&reason, "reason", "", "why (kept in the audit trail; no secrets)")
	reconstruct := &cobra.Command{
		Use:   "reconstruct RECOVERY",
		Short: "Combine the guardians' shares inside the signer (after the delay)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, "POST", "/v1/recoveries/"+args[0]+"/reconstruct", struct{}{})
		},
	}
	var ag guardianFlags
	var shareFilePath string
	approve := &cobra.Command{
		Use:   "approve RECOVERY --guardian ID --guardian-key FILE --share FILE",
		Short: "Approve a ceremony as a guardian: re-encrypt your share to the ceremony key and sign the approval",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			k, err := ag.key()
			if err != nil {
				return err
			}
			defer keys.ZeroKey(k)
			ct, err := readShare(shareFilePath)
			if err != nil {
				return fmt.Errorf("--share: %w", err)
			}
			c, err := client(cmd)
			if err != nil {
				return err
			}
			var rec signer.RecoveryView
			if err := c.do(cmd.Context(), "GET", "/v1/recoveries/"+args[0], nil, &rec); err != nil {
				return err
			}
			cpub, err := hexutil.Decode(rec.CeremonyPublicKey)
			if err != nil {
				return fmt.Errorf("ceremony public key: %w", err)
			}
			share, err := recovery.ReencryptShare(ct, k, cpub)
			if err != nil {
				return err
			}
			a, err := recovery.Approval{Action: recovery.ActionRecover, KeyID: rec.KeyID, Target: rec.ID, GuardianID: ag.id,
				Nonce: randomNonce(), Expires: time.Now().Add(ag.expires), ShareHash: recovery.ShareHash(share)}.Sign(k)
			if err != nil {
				return err
			}
			return call(cmd, "POST", "/v1/recoveries/"+rec.ID+"/approve", signer.GuardianApproval{GuardianID: ag.id,
				Nonce: a.Nonce, Expires: a.Expires, Share: hexutil.Encode(share), Signature: hexutil.Encode(a.Signature)})
		},
	}
	ag.register(approve)
	approve.Flags().StringVar(&shareFilePath, "share", "", "the guardian's share file, as written by weir keys split --out (or a file with its 0x-hex ciphertext)")
	_ = approve.MarkFlagRequired("share")
	for _, c := range []*cobra.Command{start, status, cancel, reconstruct, approve} {
		recoverCmd.AddCommand(c)
		subs = append(subs, c)
	}
	keysCmd.AddCommand(recoverCmd)

	var rot signer.RotateRequest
	var recID string
	rotate := &cobra.Command{
		Use:   "rotate KEY --chain-id N --max-fee-per-gas WEI",
		Short: "Rotate a reconstructed key: a new key, and a signed transaction moving the funds to it (printed, not sent)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rid := recID
			if rid == "" {
				c, err := client(cmd)
				if err != nil {
					return err
				}
				var kv signer.KeyRecoveryView
				if err := c.do(cmd.Context(), "GET", "/v1/keys/"+args[0]+"/recovery", nil, &kv); err != nil {
					return err
				}
				if rid = kv.ActiveRecovery; rid == "" {
					return fmt.Errorf("key %s has no recovery in progress (give --recovery for a finished one)", args[0])
				}
			}
			return call(cmd, "POST", "/v1/recoveries/"+rid+"/rotate", rot)
		},
	}
	rotate.Flags().StringVar(&recID, "recovery", "", "the ceremony (default: the key's recovery in progress)")
	rotate.Flags().Uint64Var(&rot.ChainID, "chain-id", 0, "the chain the funds are on")
	rotate.Flags().StringVar(&rot.MaxFeePerGas, "max-fee-per-gas", "", "EIP-1559 fee cap, wei")
	rotate.Flags().StringVar(&rot.MaxPriorityFeePerGas, "max-priority-fee-per-gas", "", "EIP-1559 tip, wei (default 0)")
	rotate.Flags().StringVar(&rot.Value, "value", "", "wei to move (default: the balance less the maximum fee; 0: move nothing)")
	rotate.Flags().Uint64Var(&rot.Gas, "gas", 0, "gas limit (default 21000)")
	rotate.Flags().StringVar(&rot.Label, "label", "", "the new key's label (default recovered:<key>)")
	rotate.Flags().StringVar(&rot.Backend, "backend", "", "the new key's backend (default keystore)")
	rotate.Flags().StringVar(&rot.PolicyID, "policy", "", "the policy that judges the transaction (purpose key_rotation)")
	_ = rotate.MarkFlagRequired("chain-id")
	_ = rotate.MarkFlagRequired("max-fee-per-gas")
	subs = append(subs, rotate)

	for _, action := range []recovery.Action{recovery.ActionFreeze, recovery.ActionUnfreeze} {
		var g guardianFlags
		c := &cobra.Command{
			Use:   string(action) + " KEY --guardian ID --guardian-key FILE",
			Short: "Vote, as a guardian, to " + string(action) + " KEY (a quorum of votes " + map[recovery.Action]string{recovery.ActionFreeze: "stops it signing", recovery.ActionUnfreeze: "lets it sign again"}[action] + ")",
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				k, err := g.key()
				if err != nil {
					return err
				}
				defer keys.ZeroKey(k)
				c, err := client(cmd)
				if err != nil {
					return err
				}
				var kv signer.KeyRecoveryView
				if err := c.do(cmd.Context(), "GET", "/v1/keys/"+args[0]+"/recovery", nil, &kv); err != nil {
					return err
				}
				a, err := recovery.Approval{Action: action, KeyID: args[0], Target: recovery.EpochTarget(kv.Epoch), GuardianID: g.id,
					Nonce: randomNonce(), Expires: time.Now().Add(g.expires)}.Sign(k)
				if err != nil {
					return err
				}
				return call(cmd, "POST", "/v1/keys/"+args[0]+"/"+string(action), signer.GuardianApproval{GuardianID: g.id,
					Nonce: a.Nonce, Expires: a.Expires, Epoch: kv.Epoch, Signature: hexutil.Encode(a.Signature)})
			},
		}
		g.register(c)
		subs = append(subs, c)
	}
	for _, c := range subs {
		c.Flags().StringVar(addr, "addr", "", "the signer's API address (default $"+envSignerAddr+" or "+signer.DefaultAddr+")")
		if c.Parent() == nil {
			keysCmd.AddCommand(c)
		}
	}
}
