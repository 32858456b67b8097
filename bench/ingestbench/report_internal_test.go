package ingestbench

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReportLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		rep  Report
		want string
	}{
		{"weir only", Report{BlocksPerSecond: 1234.5678, LogsPerSecond: 2469.1357},
			`{"blocks_per_s":1234.57,"logs_per_s":2469.14,"peer_blocks_per_s":0,"ratio":0}`},
		{"vs ethereum-etl", Report{BlocksPerSecond: 900, LogsPerSecond: 1800, PeerBlocksPerSecond: 300.004, Ratio: 2.99999},
			`{"blocks_per_s":900,"logs_per_s":1800,"peer_blocks_per_s":300,"ratio":3}`},
		{"not finite", Report{BlocksPerSecond: math.Inf(1), Ratio: math.NaN()},
			`{"blocks_per_s":0,"logs_per_s":0,"peer_blocks_per_s":0,"ratio":0}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rep.Line(); got != tc.want {
				t.Errorf("Line() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestReportWriteToEndsWithLine(t *testing.T) {
	rep := Report{From: 1, To: 10, Weir: Result{Blocks: 10, Elapsed: time.Second}, BlocksPerSecond: 10,
		Peer: &PeerResult{Version: "2.4.2", Blocks: 10}, PeerBlocksPerSecond: 5, Ratio: 2}
	var buf bytes.Buffer
	n, err := rep.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v; wrote %d", n, err, buf.Len())
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if last := lines[len(lines)-1]; last != rep.Line() {
		t.Errorf("last line %q, want %q", last, rep.Line())
	}
	if !strings.Contains(buf.String(), "ethereum-etl: 2.4.2") {
		t.Errorf("summary has no ethereum-etl line:\n%s", buf.String())
	}
}

func TestCSVRows(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          uint64
	}{
		{"empty", "", 0},
		{"header only", "number,hash\n", 0},
		{"rows", "number,hash\n1,0xaa\n2,0xbb\n", 2},
		{"quoted newline", "number,input\n1,\"a\nb\"\n", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".csv")
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := csvRows(p)
			if err != nil || got != tc.want {
				t.Errorf("csvRows = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}

func TestETLVersionPinned(t *testing.T) {
	if v := etlVersion(); v != "2.4.2" {
		t.Errorf("etlVersion() = %q, want the pinned 2.4.2", v)
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{CacheDir: "/c"}
	if err := o.setDefaults(); err != nil {
		t.Fatal(err)
	}
	if o.Blocks != 5000 || o.TxPerBlock != 4 || o.Senders != 8 || o.ETL.CacheDir != "/c" || o.StopTimeout != 30*time.Second {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range []Options{{TxPerBlock: 65}, {TxPerBlock: -1}, {Senders: -1}} {
		bad.CacheDir = "/c"
		if err := bad.setDefaults(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
