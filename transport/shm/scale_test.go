package shm

import (
	"os"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// With many ranks on a node, each ring is cut down so that a segment stays
// within shm_segment_size: N rings of 256 KiB each were 16 GiB of /dev/shm
// over a node of 256 ranks.
func TestScaledCells(t *testing.T) {
	for _, tc := range []struct {
		ncells, cellSize, rings, segSize, want int
	}{
		{64, 4096, 2, 8 << 20, 64},   // few ranks: the ring as configured
		{64, 4096, 32, 8 << 20, 64},  // exactly fits
		{64, 4096, 33, 8 << 20, 32},  // a power of two that fits
		{64, 4096, 256, 8 << 20, 8},  // 8 MiB over 256 rings
		{64, 4096, 1024, 8 << 20, 8}, // never below minScaledCells...
		{4, 4096, 1024, 8 << 20, 4},  // ...nor above a smaller configured ring
		{64, 128, 256, 1 << 20, 32},  // small cells
		{1 << 20, 128, 1, 1 << 30, 1 << 20},
	} {
		if got := scaledCells(tc.ncells, tc.cellSize, tc.rings, tc.segSize); got != tc.want {
			t.Errorf("scaledCells(%d cells of %d, %d rings, %d bytes) = %d, want %d",
				tc.ncells, tc.cellSize, tc.rings, tc.segSize, got, tc.want)
		}
	}
}

// The segment a rank creates, with the default parameters, stays within
// shm_segment_size and its header however many ranks share the node.
func TestSegmentSizeBounded(t *testing.T) {
	for _, tc := range []struct{ ranks, wantCells int }{{2, 64}, {32, 64}, {256, 8}} {
		job := testJobID()
		tr, err := New(Config{Rank: 0, Size: tc.ranks, JobID: job, Secret: testSecret(), Handler: transporttest.NewRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(tr.seg.path())
		if err != nil {
			t.Fatal(err)
		}
		if tr.ncells != tc.wantCells {
			t.Errorf("%d ranks: rings of %d cells, want %d", tc.ranks, tr.ncells, tc.wantCells)
		}
		if limit := int64(segmentSizeParam.Get()+tr.seg.hdrSize) + int64(tc.ranks)*ringCtl + pageSize*int64(tc.ranks); st.Size() > limit {
			t.Errorf("%d ranks: segment of %d bytes, over %d", tc.ranks, st.Size(), limit)
		}
		if got, want := tr.Limits().EagerLimit, 4*(4096-cellHdr); got != want {
			t.Errorf("%d ranks: eager limit %d, want %d", tc.ranks, got, want)
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A poll reads the rings marked in the pending bitmap, not every ring: a
// cell published without its mark waits until the mark comes.
func TestPollReadsMarkedRings(t *testing.T) {
	g := newGroup(t, 3, nil)
	g.connectAll(t)
	g.ep(t, 1, 2)
	ep := g.trs[1].peers[2].ep.Load()
	c := ep.prod.cell()
	h := transport.Header{Kind: transport.KindEager, Source: 1, Tag: 9, Len: 3}
	h.Encode(c[cellHdr:firstRoom])
	copy(c[firstRoom:], "abc")
	ep.prod.publish(c, 3)
	if g.trs[2].Poll() || len(g.recs[2].Frames()) != 0 {
		t.Fatalf("a poll delivered %d frames from an unmarked ring", len(g.recs[2].Frames()))
	}
	if g.trs[2].pendingAny() {
		t.Fatal("pendingAny with no ring marked")
	}
	ep.out.notify(ep.prod.pendp, ep.prod.pendBit)
	if !g.trs[2].pendingAny() {
		t.Fatal("no ring pending after the mark")
	}
	if !g.trs[2].Poll() {
		t.Fatal("a poll after the mark delivered nothing")
	}
	fr := g.recs[2].Frames()
	if len(fr) != 1 || fr[0].Header.Tag != 9 || string(fr[0].Payload) != "abc" {
		t.Fatalf("delivered %v", fr)
	}
	// Drained: the mark is gone.
	if g.trs[2].pendingAny() {
		t.Error("a ring still marked after it was drained")
	}
}

// A ring that holds more than one poll drains keeps its mark.
func TestPollKeepsMarkOfBusyRing(t *testing.T) {
	// Rings of 2048 cells: n frames fit.
	g := newGroup(t, 2, func(c *Config) { c.CellSize = 128 })
	g.connectAll(t)
	e := g.ep(t, 0, 1)
	const n = maxDrain + 5 // more than one poll takes
	for i := 0; i < n; i++ {
		h := transport.Header{Kind: transport.KindEager, Source: 0, Seq: uint64(i)}
		if err := e.Send(&h, nil); err != nil {
			t.Fatal(err)
		}
	}
	g.trs[1].Poll()
	if got := len(g.recs[1].Frames()); got != maxDrain {
		t.Fatalf("first poll delivered %d frames, want %d", got, maxDrain)
	}
	if !g.trs[1].pendingAny() {
		t.Fatal("ring unmarked with frames left in it")
	}
	g.trs[1].Poll()
	if got := len(g.recs[1].Frames()); got != n {
		t.Fatalf("two polls delivered %d frames, want %d", got, n)
	}
}

// ConnectLocal finds the segments of the local ranks by name, leaves out a
// rank that made none, and returns cards that Endpoint accepts.
func TestConnectLocal(t *testing.T) {
	g := newGroup(t, 3, func(c *Config) { c.Size, c.LocalPeers = 4, []int{0, 1, 2, 3} })
	cards, err := g.trs[0].ConnectLocal([]int{0, 1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(cards) != 3 {
		t.Fatalf("cards %v, want ranks 0-2 (rank 3 made no segment)", cards)
	}
	for r := 0; r < 3; r++ {
		if cards[r] != g.trs[r].Address() {
			t.Errorf("rank %d: card %q, want %q", r, cards[r], g.trs[r].Address())
		}
	}
	for r := 1; r < 3; r++ {
		if _, err := g.trs[r].ConnectLocal([]int{0, 1, 2, 3}); err != nil {
			t.Fatal(err)
		}
	}
	e, err := g.trs[0].Endpoint(2, cards[2])
	if err != nil {
		t.Fatal(err)
	}
	h := transport.Header{Kind: transport.KindEager, Source: 0, Tag: 4, Len: 2}
	if err := e.Send(&h, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	g.trs[2].Poll()
	if fr := g.recs[2].Frames(); len(fr) != 1 || string(fr[0].Payload) != "hi" {
		t.Fatalf("delivered %v", fr)
	}
	// A segment whose owner does not know the secret is refused, not
	// skipped.
	other, err := New(Config{Rank: 3, Size: 4, JobID: g.job, Secret: []byte("wrong"), Handler: transporttest.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := g.trs[1].ConnectLocal([]int{3}); err == nil {
		t.Error("ConnectLocal accepted a segment made with another secret")
	}
}
