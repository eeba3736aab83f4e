package capture_test

import (
	"errors"
	"io"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/nlbprobe/nlbprobe/capture"
)

// TestInputEdges: merging several inputs, the source says when each
// starts and ends (InputEdge), early enough for the analysis to judge a
// silence only while an input was capturing: an input's end is taken
// before a packet later than its last is returned, by Next (TakeEdges
// after each call) and by NextBatch (Batch.Edges of that batch or one
// before). With one input there are none.
func TestInputEdges(t *testing.T) {
	eth := layers.LinkTypeEthernet
	ms := time.Millisecond
	files := [][]byte{
		pcapBytes(t, false, 65535, eth, frames(0, 9000, t0, ms)),                                              // 0 to 9 s
		pcapBytes(t, true, 65535, eth, frames(1, 500, t0.Add(500*ms), ms)),                                    // 0.5 to 1 s
		pcapngBytes(t, []pcapgo.NgInterface{ngInterface(eth, 0)}, frames(2, 100, t0.Add(10*time.Second), ms)), // 10 s on, after a pause
		pcapBytes(t, false, 65535, eth, frames(3, 1, t0.Add(2*time.Second), ms)),                              // one packet
		pcapBytes(t, false, 65535, eth, nil),                                                                  // none
	}
	first := []time.Time{t0, t0.Add(500 * ms), t0.Add(10 * time.Second), t0.Add(2 * time.Second)}
	last := []time.Time{t0.Add(8999 * ms), t0.Add(999 * ms), t0.Add(10*time.Second + 99*ms), t0.Add(2 * time.Second)}

	// check follows the edges and the packets in the order they came.
	type state struct {
		started, ended [5]bool
	}
	edge := func(t *testing.T, st *state, e capture.InputEdge) {
		t.Helper()
		if e.Input < 0 || e.Input >= len(first) {
			t.Fatalf("edge of input %d, which has no packet", e.Input)
		}
		switch {
		case !e.End && (st.started[e.Input] || !e.Time.Equal(first[e.Input])):
			t.Fatalf("start edge %+v: started before %v, want one at %v", e, st.started[e.Input], first[e.Input])
		case e.End && (st.ended[e.Input] || !st.started[e.Input] || !e.Time.Equal(last[e.Input])):
			t.Fatalf("end edge %+v: ended before %v, started %v, want one at %v", e, st.ended[e.Input], st.started[e.Input], last[e.Input])
		}
		if e.End {
			st.ended[e.Input] = true
		} else {
			st.started[e.Input] = true
		}
	}
	packet := func(t *testing.T, st *state, input int, ts time.Time) {
		t.Helper()
		if !st.started[input] {
			t.Fatalf("a packet of input %d at %v before its start edge", input, ts)
		}
		for i := range last {
			if last[i].Before(ts) && !st.ended[i] {
				t.Fatalf("a packet at %v, after input %d's last at %v, before its end edge", ts, i, last[i])
			}
		}
	}

	t.Run("Next", func(t *testing.T) {
		src, err := capture.OpenBytes(files, false, 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var st state
		var p capture.Packet
		var edges []capture.InputEdge
		for {
			err := src.Next(&p)
			edges = src.TakeEdges(edges[:0])
			for _, e := range edges {
				edge(t, &st, e)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			packet(t, &st, p.Input, p.Info.Timestamp)
		}
		for i := range first {
			if !st.started[i] || !st.ended[i] {
				t.Errorf("input %d: started %v, ended %v at the end", i, st.started[i], st.ended[i])
			}
		}
	})
	t.Run("NextBatch", func(t *testing.T) {
		src, err := capture.OpenBytes(files, false, 4096)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var st state
		var b capture.Batch
		batches := 0
		for {
			err := src.NextBatch(&b)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			batches++
			for _, e := range b.Edges {
				edge(t, &st, e)
			}
			for i := range b.Packets {
				packet(t, &st, int(b.Packets[i].Input), time.Unix(0, b.Packets[i].Time))
			}
		}
		if batches < 3 {
			t.Errorf("%d batches: too few to test", batches)
		}
	})
	t.Run("one input", func(t *testing.T) {
		src, err := capture.OpenBytes(files[:1], false, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		var b capture.Batch
		for src.NextBatch(&b) == nil {
			if len(b.Edges) != 0 {
				t.Fatalf("edges %v with one input", b.Edges)
			}
		}
		if e := src.TakeEdges(nil); len(e) != 0 {
			t.Fatalf("edges %v with one input", e)
		}
	})
}
