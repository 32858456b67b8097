package processor

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirhq/weir/internal/testenv"
)

// TestKillNineMidWindow runs the processor as a child process on the real Kafka. Phase 1
// builds history (windows half full, counterparties known, a sanctioned exposure) one
// transfer at a time. Phase 2 produces four chunks of 45 transfers; the child is killed with
// SIGKILL after part of a chunk's vectors are out, the next chunk is produced while it
// is down, and it restarts: the first time on the same state directory (Pebble after a
// crash), the second on an empty one (state restored from the changelogs only). Every committed vector — those of the events after each restart
// included — must equal the vector of an uninterrupted run (the Engine on the same
// events), and appear exactly once.
//
// Phase 2 keeps each entity's events on one input partition (senders send to one
// recipient), so that their order in the internal topic, and so the expected values,
// do not depend on how the rekey stage interleaves partitions.
func TestKillNineMidWindow(t *testing.T) {
	brokers := testenv.Kafka(t)
	s := newScenario(t, brokers)
	state := filepath.Join(t.TempDir(), "state")
	child := s.startChild(state)

	A, B, C, D, E, F := addr("A"), addr("B"), addr("C"), addr("D"), addr("E"), addr("F")
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	phase1 := []struct {
		from, to string
		amount   int64
	}{
		{A, B, 100}, {C, A, 250}, {A, D, 900}, {E, F, 40}, {B, C, 77}, {F, A, 3000},
		{D, E, 950}, {A, sanctionedAddr, 10}, {C, D, 500}, {E, B, 60},
	}
	for i, p := range phase1 {
		s.send(transfer("p1-"+string(rune('a'+i)), p.from, p.to, p.amount, at(i*20)), true)
	}

	pairs := [][2]string{{A, B}, {C, D}, {E, F}}
	chunk := func(c int) []*kgo.Record { // 45 transfers, 15 per pair, one second apart
		var recs []*kgo.Record
		for j := range 45 {
			i := c*45 + j
			p := pairs[i%3]
			tr := transfer(fmt.Sprintf("p2-%d", i), p[0], p[1], int64(1+(i*37)%1000), at(300+i))
			recs = append(recs, s.transferRecord(tr))
			s.model.apply(t, tr)
		}
		return recs
	}
	before := s.outputs()
	s.produce(chunk(0)...)
	s.waitOutputs(before+30, 60*time.Second)
	child.Kill(t)               // mid-chunk, or just after it: both must hold
	s.produce(chunk(1)...)      // while the processor is down
	child = s.startChild(state) // same state directory, after a crash
	s.waitOutputs(len(s.model.want), 90*time.Second)
	s.produce(chunk(2)...)
	s.waitOutputs(len(s.model.want)-60, 60*time.Second)
	child.Kill(t)
	s.produce(chunk(3)...)
	child = s.startChild(filepath.Join(t.TempDir(), "fresh")) // state from the changelogs only
	s.waitOutputs(len(s.model.want), 90*time.Second)
	child.Stop(t)
	s.check()
}
