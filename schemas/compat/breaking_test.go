package compat

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// edit is one change to a copy of schemas/proto: in file, replace old (which must occur
// exactly once) with new.
type edit struct {
	file, old, new string
}

// The test files' paths are relative to this package's directory, where go test runs.
const (
	schemasDir = ".."
	baseline   = "baseline.binpb"
	repoRoot   = "../.."
	toolsMod   = "../../internal/tools/go.mod"
	ledger     = "weir/ledger/v1/ledger.proto"
	chain      = "weir/chain/v1/transfer.proto"
	amount     = "weir/common/v1/amount.proto"
)

func TestBreakingCheck(t *testing.T) {
	tests := []struct {
		name string
		edit *edit
		// wantRule is the buf rule expected in the failure; empty means the check passes.
		wantRule string
	}{
		{name: "unmodified tree passes"},
		{
			name: "adding a field passes",
			edit: &edit{ledger, "  uint64 postings = 9;\n", "  uint64 postings = 9;\n\n  // note is new.\n  string note = 10;\n"},
		},
		{
			name: "deleting a field with its number reserved passes",
			edit: &edit{ledger, "  string description = 9;\n", "  reserved 9;\n  reserved \"description\";\n"},
		},
		{
			name:     "deleting a field fails",
			edit:     &edit{ledger, "  string description = 9;\n", ""},
			wantRule: "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
		},
		{
			name: "uint64 to int64 passes (same varint on the wire, same JSON string)",
			edit: &edit{ledger, "  uint64 postings = 9;\n", "  int64 postings = 9;\n"},
		},
		{
			name:     "renumbering a field fails",
			edit:     &edit{ledger, "  uint64 postings = 9;\n", "  uint64 postings = 19;\n"},
			wantRule: "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED",
		},
		{
			name:     "changing a field's type fails",
			edit:     &edit{ledger, "  uint64 postings = 9;\n", "  string postings = 9;\n"},
			wantRule: "FIELD_WIRE_JSON_COMPATIBLE_TYPE",
		},
		{
			name:     "renaming a field fails (its JSON name changes)",
			edit:     &edit{amount, "  string asset = 2 ", "  string asset_code = 2 "},
			wantRule: "FIELD_SAME_NAME",
		},
		{
			name:     "deleting an enum value fails",
			edit:     &edit{chain, "  TRANSFER_KIND_ERC1155 = 5;\n", ""},
			wantRule: "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED",
		},
		{
			name:     "deleting a message fails",
			edit:     &edit{chain, "message Approval {", "message ApprovalRenamed {"},
			wantRule: "PACKAGE_MESSAGE_NO_DELETE",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := copySchemas(t)
			if tt.edit != nil {
				apply(t, dir, *tt.edit)
			}
			out, err := bufBreaking(t, dir)
			switch {
			case tt.wantRule == "" && err != nil:
				t.Fatalf("buf breaking failed on a compatible tree: %v\n%s", err, out)
			case tt.wantRule != "" && err == nil:
				t.Fatalf("buf breaking passed, want a %s failure\n%s", tt.wantRule, out)
			case tt.wantRule != "" && !strings.Contains(out, `"type":"`+tt.wantRule+`"`):
				t.Fatalf("buf breaking failed without naming %s:\n%s", tt.wantRule, out)
			}
		})
	}
}

// copySchemas copies buf.yaml and proto/ into a temporary directory and returns it.
func copySchemas(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	cfg, err := os.ReadFile(filepath.Join(schemasDir, "buf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "buf.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(dst, "proto"), os.DirFS(filepath.Join(schemasDir, "proto"))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func apply(t *testing.T, dir string, e edit) {
	t.Helper()
	path := filepath.Join(dir, "proto", filepath.FromSlash(e.file))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(e.old)); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want once (did the schema change? update the test)", e.file, e.old, n)
	}
	b = bytes.Replace(b, []byte(e.old), []byte(e.new), 1)
	if err := os.WriteFile(path, b, fs.FileMode(0o644)); err != nil {
		t.Fatal(err)
	}
}

// bufBreaking runs the pinned buf's breaking check of the workspace in dir against the
// committed baseline, as schemas/breaking.sh does, and returns its combined output: one
// JSON object per violation, whose "type" is the rule ID.
func bufBreaking(t *testing.T, dir string) (string, error) {
	t.Helper()
	mod, err := filepath.Abs(toolsMod)
	if err != nil {
		t.Fatal(err)
	}
	against, err := filepath.Abs(baseline)
	if err != nil {
		t.Fatal(err)
	}
	// go tool -modfile must run inside the main module; buf then takes dir as its input.
	cmd := exec.CommandContext(t.Context(), goBin(t), "tool", "-modfile="+mod, "buf", "breaking", dir, "--against", against, "--error-format=json")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// goBin returns the go command that runs this test.
func goBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on PATH or in GOROOT: %v", err)
	}
	return p
}
