package shm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// deadline bounds every wait in these tests; the transport takes
// milliseconds.
const deadline = 20 * time.Second

// group is n transports of one job in this process.
type group struct {
	job  string
	trs  []*Transport
	recs []*transporttest.Recorder
}

func newGroup(t *testing.T, n int, mod func(*Config)) *group {
	t.Helper()
	g := &group{job: testJobID()}
	secret := testSecret()
	for i := 0; i < n; i++ {
		rec := transporttest.NewRecorder()
		cfg := Config{Rank: i, Size: n, JobID: g.job, Secret: secret, Handler: rec}
		if mod != nil {
			mod(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatalf("rank %d: New: %v", i, err)
		}
		g.trs = append(g.trs, tr)
		g.recs = append(g.recs, rec)
	}
	t.Cleanup(func() {
		for i, tr := range g.trs {
			if err := tr.Close(); err != nil {
				t.Errorf("rank %d: Close: %v", i, err)
			}
		}
		checkNoResidue(t, g.job)
	})
	return g
}

func (g *group) addrs() map[int]string {
	m := map[int]string{}
	for i, tr := range g.trs {
		m[i] = tr.Address()
	}
	return m
}

func (g *group) connectAll(t *testing.T) {
	t.Helper()
	for i, tr := range g.trs {
		if err := tr.ConnectAll(g.addrs()); err != nil {
			t.Fatalf("rank %d: ConnectAll: %v", i, err)
		}
	}
}

// pump drives every transport from its own goroutine, as waiting ranks
// would, until the test ends.
func (g *group) pump(t *testing.T) {
	var wg sync.WaitGroup
	var stop atomic.Bool
	for _, tr := range g.trs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if !tr.Poll() {
					tr.Block(time.Millisecond)
				}
			}
		}()
	}
	t.Cleanup(func() {
		stop.Store(true)
		for _, tr := range g.trs {
			tr.Wake()
		}
		wg.Wait()
	})
}

func (g *group) ep(t *testing.T, src, dst int) transport.Endpoint {
	t.Helper()
	e, err := g.trs[src].Endpoint(dst, g.trs[dst].Address())
	if err != nil {
		t.Fatalf("rank %d: Endpoint(%d): %v", src, dst, err)
	}
	return e
}

// pollUntil polls tr until cond holds, failing t after the deadline.
func pollUntil(t *testing.T, tr *Transport, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if !tr.Poll() {
			tr.Block(time.Millisecond)
		}
		if time.Now().After(end) {
			t.Fatalf("after %v still waiting for %s", deadline, what)
		}
	}
}

func fill(b []byte, seed byte) []byte {
	for i := range b {
		b[i] = seed + byte(i*7) + byte(i>>8)
	}
	return b
}

func TestNewRejects(t *testing.T) {
	h := transporttest.NewRecorder()
	ok := Config{Rank: 0, Size: 2, JobID: "j", Handler: h}
	cases := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"rank outside", func(c *Config) { c.Rank = 2 }, "rank 2 outside a job of 2"},
		{"negative rank", func(c *Config) { c.Rank = -1 }, "rank -1 outside"},
		{"no job id", func(c *Config) { c.JobID = "" }, "job id is empty"},
		{"job id with dash", func(c *Config) { c.JobID = "a-b" }, "only letters"},
		{"job id with slash", func(c *Config) { c.JobID = "../x" }, "only letters"},
		{"no handler", func(c *Config) { c.Handler = nil }, "Handler is nil"},
		{"odd cell", func(c *Config) { c.CellSize = 100 }, "cell size 100"},
		{"tiny cell", func(c *Config) { c.CellSize = 64 }, "cell size 64"},
		{"one cell ring", func(c *Config) { c.CellSize = 4096; c.RingSize = 4096 }, "holds 1 cells"},
		{"self not local", func(c *Config) { c.LocalPeers = []int{1} }, "do not include this rank 0"},
		{"local outside", func(c *Config) { c.LocalPeers = []int{0, 5} }, "outside a job of 2"},
		{"bad mode", func(c *Config) { c.SingleCopy = "xpmem" }, `single-copy mode "xpmem"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			tr, err := New(cfg)
			if err == nil {
				tr.Close()
				t.Fatalf("New accepted %+v", cfg)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestZeroSizeIsSingleton(t *testing.T) {
	tr, err := New(Config{JobID: testJobID(), Handler: transporttest.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if tr.size != 1 {
		t.Errorf("size %d, want 1", tr.size)
	}
}

func TestAddress(t *testing.T) {
	g := newGroup(t, 2, nil)
	a, err := ParseAddr(g.trs[1].Address())
	if err != nil {
		t.Fatal(err)
	}
	if want := SegmentName(g.job, 1); a.Segment != want || a.Pid != os.Getpid() {
		t.Errorf("address %+v, want segment %s pid %d", a, want, os.Getpid())
	}
	bad := []string{"", "x", "mpx-j-1", "mpx-j-1@", "mpx-j-1@0", "mpx-j-1@-4", "other-1@5", "mpx-a/b@5", "mpx-j-1@99999999"}
	for _, s := range bad {
		if _, err := ParseAddr(s); err == nil {
			t.Errorf("ParseAddr(%q) accepted it", s)
		}
	}
}

// TestFramesBothWays sends frames of sizes around the cell boundaries in
// both directions, one rank polling for the other, and checks every byte.
func TestFramesBothWays(t *testing.T) {
	g := newGroup(t, 3, func(c *Config) { c.CellSize = 256; c.RingSize = 4096 })
	g.connectAll(t)
	g.pump(t)
	room1, roomN := 256-firstRoom, 256-cellHdr
	sizes := []int{0, 1, room1 - 1, room1, room1 + 1, room1 + roomN, room1 + 3*roomN + 5, 64 << 10}
	for src := 0; src < 3; src++ {
		for dst := 0; dst < 3; dst++ {
			e := g.ep(t, src, dst)
			for i, n := range sizes {
				h := transport.Header{Kind: transport.KindEager, Source: int32(src), Tag: int32(i), Len: uint64(n)}
				if err := e.Send(&h, fill(make([]byte, n), byte(src*10+i))); err != nil {
					t.Fatalf("%d->%d size %d: %v", src, dst, n, err)
				}
			}
		}
	}
	for dst, rec := range g.recs {
		frames := rec.WaitFrames(t, 3*len(sizes), deadline)
		next := map[int32]int{}
		for _, f := range frames {
			i := next[f.Header.Source]
			next[f.Header.Source]++
			if int(f.Header.Tag) != i || len(f.Payload) != sizes[i] {
				t.Fatalf("rank %d: from %d got tag %d len %d, want tag %d len %d", dst, f.Header.Source, f.Header.Tag, len(f.Payload), i, sizes[i])
			}
			if !bytes.Equal(f.Payload, fill(make([]byte, sizes[i]), byte(int(f.Header.Source)*10+i))) {
				t.Errorf("rank %d: frame %d from %d corrupted", dst, i, f.Header.Source)
			}
		}
	}
}

// TestFullRingsBothWays has two ranks flood each other through rings of two
// cells with nobody else polling: each Send must drain its own rings while
// it waits for space, or both wait forever. Having sent everything, each
// rank goes on polling until it has received everything, as a rank waiting
// in Recv would.
func TestFullRingsBothWays(t *testing.T) {
	g := newGroup(t, 2, func(c *Config) { c.CellSize = 128; c.RingSize = 256 })
	g.connectAll(t)
	const frames = 3000
	size := func(i int) int { return i * 13 % 700 }
	var stop atomic.Bool
	done := make(chan error, 2)
	for src := 0; src < 2; src++ {
		e := g.ep(t, src, 1-src)
		tr, rec := g.trs[src], g.recs[src]
		go func() {
			for i := 0; i < frames; i++ {
				h := transport.Header{Kind: transport.KindEager, Source: int32(src), Seq: uint64(i), Len: uint64(size(i))}
				if err := e.Send(&h, fill(make([]byte, size(i)), byte(i))); err != nil {
					done <- err
					return
				}
			}
			for len(rec.Frames()) < frames && !stop.Load() {
				if !tr.Poll() {
					tr.Block(time.Millisecond)
				}
			}
			done <- nil
		}()
	}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-timer.C:
			stop.Store(true)
			t.Fatalf("two ranks sending to each other through full rings deadlocked (frames received: %d, %d)",
				len(g.recs[0].Frames()), len(g.recs[1].Frames()))
		}
	}
	for dst := 0; dst < 2; dst++ {
		for i, f := range g.recs[dst].Frames() {
			if f.Header.Seq != uint64(i) || !bytes.Equal(f.Payload, fill(make([]byte, size(i)), byte(i))) {
				t.Fatalf("rank %d: frame %d arrived as seq %d, %d bytes, or corrupted", dst, i, f.Header.Seq, len(f.Payload))
			}
		}
	}
}

func TestSelfEndpoint(t *testing.T) {
	g := newGroup(t, 2, func(c *Config) { c.CellSize = 128; c.RingSize = 512 })
	e := g.ep(t, 1, 1)
	// More than the ring holds: Send drains its own ring while it waits.
	for i := 0; i < 20; i++ {
		h := transport.Header{Kind: transport.KindCtrl, Source: 1, Seq: uint64(i), Len: 300}
		if err := e.Send(&h, fill(make([]byte, 300), byte(i))); err != nil {
			t.Fatal(err)
		}
	}
	pollUntil(t, g.trs[1], "20 frames to self", func() bool { return len(g.recs[1].Frames()) == 20 })
	for i, f := range g.recs[1].Frames() {
		if f.Header.Seq != uint64(i) || f.Header.Source != 1 || !bytes.Equal(f.Payload, fill(make([]byte, 300), byte(i))) {
			t.Fatalf("self frame %d: %v", i, &f.Header)
		}
	}
}

func TestSendChecksHeader(t *testing.T) {
	g := newGroup(t, 2, nil)
	e := g.ep(t, 0, 1)
	cases := []struct {
		name    string
		h       transport.Header
		payload []byte
		want    string
	}{
		{"length mismatch", transport.Header{Kind: transport.KindEager, Len: 4}, []byte("abc"), "announces 4 payload bytes, got 3"},
		{"rts descriptor length", transport.Header{Kind: transport.KindRTS, Len: 100, Seq: 2}, []byte("abc"), "announces 2 payload bytes, got 3"},
		{"zero kind", transport.Header{Len: 0}, nil, "unknown frame kind 0"},
		{"other source", transport.Header{Kind: transport.KindEager, Source: 1}, nil, "header source 1 is not this rank 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Send(&tc.h, tc.payload)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Send: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

// reuseHandler hands out one buffer and counts frames: the steady state of
// a receiver that posted its buffer.
type reuseHandler struct {
	buf    []byte
	frames atomic.Int64
}

func (h *reuseHandler) Alloc(hd *transport.Header) []byte { return h.buf[:hd.PayloadLen()] }
func (h *reuseHandler) Deliver(*transport.Header, []byte) { h.frames.Add(1) }
func (h *reuseHandler) Fail(int, error)                   {}

func TestNoAllocationPerFrame(t *testing.T) {
	job, secret := testJobID(), testSecret()
	hs := []*reuseHandler{{buf: make([]byte, 64<<10)}, {buf: make([]byte, 64<<10)}}
	var trs []*Transport
	for i := range hs {
		tr, err := New(Config{Rank: i, Size: 2, JobID: job, Secret: secret, Handler: hs[i]})
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		trs = append(trs, tr)
	}
	e, err := trs[0].Endpoint(1, trs[1].Address())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{8, 4000, 20000} {
		payload := make([]byte, n)
		h := transport.Header{Kind: transport.KindEager, Len: uint64(n)}
		allocs := testing.AllocsPerRun(200, func() {
			if err := e.Send(&h, payload); err != nil {
				t.Fatal(err)
			}
			for want := hs[1].frames.Load() + 1; hs[1].frames.Load() < want; {
				trs[1].Poll()
			}
		})
		if allocs != 0 {
			t.Errorf("%d-byte frames: %.1f allocations per Send and Poll, want 0", n, allocs)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { trs[1].Block(time.Microsecond) }); allocs != 0 {
		t.Errorf("Block: %.1f allocations, want 0", allocs)
	}
}

func TestBlockAndWake(t *testing.T) {
	g := newGroup(t, 2, nil)
	e := g.ep(t, 0, 1)
	returned := func(what string, f func(), after func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { f(); close(done) }()
		if after != nil {
			time.Sleep(5 * time.Millisecond) // let f reach the futex
			after()
		}
		select {
		case <-done:
		case <-time.After(deadline):
			t.Fatalf("Block did not return on %s", what)
		}
	}
	long := time.Hour
	returned("Wake from another goroutine", func() { g.trs[1].Block(long) }, g.trs[1].Wake)
	g.trs[1].Wake()
	returned("a Wake that came before it", func() { g.trs[1].Block(long) }, nil)
	returned("a frame from another rank", func() { g.trs[1].Block(long) }, func() {
		h := transport.Header{Kind: transport.KindEager, Len: 1}
		if err := e.Send(&h, []byte{9}); err != nil {
			t.Error(err)
		}
	})
	if !g.trs[1].Poll() || len(g.recs[1].Frames()) != 1 {
		t.Errorf("after the wake, Poll delivered %d frames, want 1", len(g.recs[1].Frames()))
	}
	start := time.Now()
	g.trs[1].Block(20 * time.Millisecond)
	if waited := time.Since(start); waited < 20*time.Millisecond {
		t.Errorf("Block(20ms) with nothing to do returned after %v", waited)
	}
	returned("Close", func() { g.trs[1].Block(long) }, func() { g.trs[1].Close() })
}

func TestSingleCopyInProcess(t *testing.T) {
	g := newGroup(t, 2, func(c *Config) { c.SingleCopy = "cma" })
	sc, ok := g.ep(t, 0, 1).(transport.SingleCopy)
	if !ok {
		t.Fatal("shm_single_copy=cma: endpoint does not implement transport.SingleCopy")
	}
	src := fill(make([]byte, 3<<20+5), 3)
	d, err := sc.Expose(src)
	if err != nil {
		t.Fatal(err)
	}
	back, ok := g.ep(t, 1, 0).(transport.SingleCopy)
	if !ok {
		t.Fatal("reverse endpoint is not SingleCopy")
	}
	dst := make([]byte, len(src))
	if err := back.Fetch(d, dst); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, dst) {
		t.Error("fetched bytes differ")
	}
	bad := []struct {
		name string
		desc []byte
		dst  []byte
		want string
	}{
		{"short descriptor", d[:10], dst, "descriptor of 10 bytes"},
		{"wrong length", d, dst[:5], "for a 5-byte buffer"},
		{"other pid", func() []byte { b := append([]byte(nil), d...); b[0]++; return b }(), dst, "the peer is pid"},
	}
	for _, tc := range bad {
		if err := back.Fetch(tc.desc, tc.dst); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Fetch: %v, want an error mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestParams checks that each of shm's parameters has an effect.
func TestParams(t *testing.T) {
	set := func(t *testing.T, name, v string) {
		if err := param.Set(name, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { param.Unset(name) })
	}
	segSize := func(t *testing.T) (int, *Transport) {
		tr, err := New(Config{Rank: 0, Size: 2, JobID: testJobID(), Handler: transporttest.NewRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		st, err := os.Stat(tr.seg.path())
		if err != nil {
			t.Fatal(err)
		}
		return int(st.Size()), tr
	}
	t.Run("shm_ring_size", func(t *testing.T) {
		set(t, "shm_ring_size", "64k")
		small, _ := segSize(t)
		set(t, "shm_ring_size", "1m")
		big, tr := segSize(t)
		if want := pageSize + 2*(1<<20+pageSize); big != want || small >= big {
			t.Errorf("segment of %d bytes with 64k rings, %d with 1m rings; want %d for 1m", small, big, want)
		}
		if tr.ncells != (1<<20)/tr.cellSize {
			t.Errorf("%d cells per ring", tr.ncells)
		}
	})
	t.Run("shm_cell_size", func(t *testing.T) {
		set(t, "shm_cell_size", "1k")
		_, tr := segSize(t)
		if tr.cellSize != 1024 || tr.Limits().EagerLimit != 4*(1024-cellHdr) {
			t.Errorf("cell size %d, eager limit %d", tr.cellSize, tr.Limits().EagerLimit)
		}
	})
	t.Run("shm_single_copy", func(t *testing.T) {
		set(t, "shm_single_copy", "copy")
		g := newGroup(t, 2, nil)
		if _, ok := g.ep(t, 0, 1).(transport.SingleCopy); ok {
			t.Error("shm_single_copy=copy: endpoint still implements SingleCopy")
		}
		if path, err := g.trs[0].SingleCopyPath(); path != "copy" || err == nil {
			t.Errorf("SingleCopyPath = %q, %v", path, err)
		}
		if path, err := Probe(); path != "copy" || err == nil {
			t.Errorf("Probe = %q, %v with shm_single_copy=copy", path, err)
		}
		set(t, "shm_single_copy", "auto")
		g = newGroup(t, 2, nil)
		// This machine allows cross-memory attach (the multi-process test
		// proves it between processes); auto must then use it.
		if _, ok := g.ep(t, 0, 1).(transport.SingleCopy); !ok {
			t.Error("shm_single_copy=auto: endpoint lacks SingleCopy where process_vm_readv works")
		}
	})
}

// TestSealAndResidue checks that segment names disappear once every local
// peer opened them, that Seal is harmless afterwards, and that a rank that
// comes too late gets a clear error.
func TestSealAndResidue(t *testing.T) {
	g := newGroup(t, 3, nil)
	names := func() []string {
		l, _ := filepath.Glob(filepath.Join(shmDir, segmentPrefix+g.job+"-*"))
		return l
	}
	if n := len(names()); n != 3 {
		t.Fatalf("%d segments after New, want 3", n)
	}
	// Ranks 0 and 1 connect to everyone: rank 2's segment is then opened by
	// both its peers and loses its name; 0's and 1's wait for rank 2.
	for i := 0; i < 2; i++ {
		if err := g.trs[i].ConnectAll(g.addrs()); err != nil {
			t.Fatal(err)
		}
	}
	if l := names(); len(l) != 2 || strings.HasSuffix(l[0], "-2") || strings.HasSuffix(l[1], "-2") {
		t.Errorf("after ranks 0 and 1 connected: segments %v, want those of 0 and 1", l)
	}
	for _, tr := range g.trs[:2] {
		if err := tr.Seal(); err != nil {
			t.Fatal(err)
		}
	}
	_, err := g.trs[2].Endpoint(0, g.trs[0].Address())
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Endpoint to a sealed segment: %v, want an error wrapping ErrNotExist", err)
	}
	if err := g.trs[2].Seal(); err != nil {
		t.Fatal(err)
	}
	if l := names(); len(l) != 0 {
		t.Errorf("after Seal: %v left", l)
	}
	if err := g.trs[0].Seal(); err != nil {
		t.Errorf("second Seal: %v", err)
	}
}

func TestAuthentication(t *testing.T) {
	g := newGroup(t, 2, nil)
	other, err := New(Config{Rank: 1, Size: 2, JobID: testJobID(), Secret: []byte("wrong"), Handler: transporttest.NewRecorder()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	// A stranger with the wrong secret cannot pose as a segment owner...
	addr := g.trs[1].Address()
	strange := other.Address()
	if _, err := g.trs[0].Endpoint(1, strange); !errors.Is(err, transport.ErrAuth) {
		t.Errorf("Endpoint to a segment made with another secret: %v, want ErrAuth", err)
	}
	// ...nor write frames that are accepted: forge its ring claim.
	seg, err := openSegment(SegmentName(g.job, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.unmap()
	slot := seg.slotOf(0)
	r, err := seg.mapRing(slot)
	if err != nil {
		t.Fatal(err)
	}
	copy(r[rOffTag:], producerTag([]byte("wrong"), g.job, 0, 1))
	r[rOffReady] = 1
	p := newProducer(seg, slot, r)
	c := p.cell()
	h := transport.Header{Kind: transport.KindEager, Source: 0, Len: 2}
	h.Encode(c[cellHdr:firstRoom])
	copy(c[firstRoom:], "hi")
	p.publish(c, 2)
	seg.notify(p.pendp, p.pendBit)
	g.trs[1].Poll()
	if n := len(g.recs[1].Frames()); n != 0 {
		t.Errorf("a forged producer got %d frames delivered", n)
	}
	if f := g.recs[1].Fails(0); len(f) != 0 {
		t.Errorf("a stranger disturbed the job: Fail %v", f)
	}
	_ = addr
}

func TestMalformedFrameFails(t *testing.T) {
	cases := []struct {
		name  string
		write func(c []byte) int // fills the first cell, returns its n
		want  error
	}{
		{"bad magic", func(c []byte) int { copy(c[cellHdr:], "garbage"); return 0 }, transport.ErrFrame},
		{"source of another rank", func(c []byte) int {
			h := transport.Header{Kind: transport.KindEager, Source: 1}
			h.Encode(c[cellHdr:])
			return 0
		}, transport.ErrFrame},
		{"cell length lies", func(c []byte) int {
			h := transport.Header{Kind: transport.KindEager, Source: 0, Len: 10}
			h.Encode(c[cellHdr:])
			return 3
		}, transport.ErrFrame},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroup(t, 2, nil)
			e := g.ep(t, 0, 1).(interface{ Peer() int })
			_ = e
			ep := g.trs[0].peers[1].ep.Load()
			c := ep.prod.cell()
			n := tc.write(c)
			ep.prod.publish(c, n)
			ep.out.notify(ep.prod.pendp, ep.prod.pendBit)
			g.trs[1].Poll()
			f := g.recs[1].Fails(0)
			if len(f) != 1 || !errors.Is(f[0], tc.want) {
				t.Fatalf("Fail calls %v, want one wrapping %v", f, tc.want)
			}
			var pe *transport.PeerError
			if !errors.As(f[0], &pe) || pe.Peer != 0 {
				t.Errorf("error %v does not name peer 0", f[0])
			}
			// Later frames from that ring are not read.
			h := transport.Header{Kind: transport.KindEager, Source: 0, Len: 1}
			if err := ep.Send(&h, []byte{1}); err != nil {
				t.Fatal(err)
			}
			g.trs[1].Poll()
			if n := len(g.recs[1].Frames()); n != 0 {
				t.Errorf("%d frames delivered after the malformed one", n)
			}
		})
	}
}

// TestLocalPeersSubset runs a job of six where ranks 1, 3 and 4 share a
// node: they reach each other, and nobody else, through shared memory.
func TestLocalPeersSubset(t *testing.T) {
	job, secret := testJobID(), testSecret()
	local := []int{4, 1, 3}
	trs := map[int]*Transport{}
	recs := map[int]*transporttest.Recorder{}
	for _, r := range local {
		recs[r] = transporttest.NewRecorder()
		tr, err := New(Config{Rank: r, Size: 6, JobID: job, Secret: secret, Handler: recs[r], LocalPeers: local})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		trs[r] = tr
	}
	t.Cleanup(func() { checkNoResidue(t, job) })
	cards := map[int]string{}
	for r, tr := range trs {
		cards[r] = tr.Address()
	}
	for _, tr := range trs {
		if err := tr.ConnectAll(cards); err != nil {
			t.Fatal(err)
		}
	}
	if err := trs[1].ConnectAll(map[int]string{2: cards[3]}); err == nil || !strings.Contains(err.Error(), "rank 2 is not on this node") {
		t.Errorf("ConnectAll to a rank on another node: %v", err)
	}
	for _, bad := range []int{0, 2, 5, -1, 6} {
		if _, err := trs[1].Endpoint(bad, cards[3]); err == nil {
			t.Errorf("Endpoint(%d) from rank 1 succeeded", bad)
		}
	}
	for src, tr := range trs {
		for dst := range trs {
			e, err := tr.Endpoint(dst, cards[dst])
			if err != nil {
				t.Fatal(err)
			}
			h := transport.Header{Kind: transport.KindEager, Source: int32(src), Tag: int32(dst), Len: 1}
			if err := e.Send(&h, []byte{byte(src)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for dst, tr := range trs {
		pollUntil(t, tr, "a frame from each local rank", func() bool { return len(recs[dst].Frames()) == 3 })
		from := map[int32]bool{}
		for _, f := range recs[dst].Frames() {
			from[f.Header.Source] = true
			if f.Header.Tag != int32(dst) || f.Payload[0] != byte(f.Header.Source) {
				t.Errorf("rank %d got %v", dst, &f.Header)
			}
		}
		if !from[1] || !from[3] || !from[4] {
			t.Errorf("rank %d heard from %v, want 1, 3 and 4", dst, from)
		}
	}
}
