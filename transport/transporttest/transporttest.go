package transporttest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// Maker makes n transports for ranks 0..n-1 of one job, the transport of
// rank i delivering to hs[i]. Rank i reaches rank j through
// trs[i].Endpoint(j, trs[j].Address()). The suite closes the transports
// (Close twice must be harmless, so a Maker may also close them in
// t.Cleanup); a Maker fails t when it cannot make them.
type Maker func(t testing.TB, hs []transport.Handler) []transport.Transport

// wait bounds every wait of the suite; a conforming transport takes
// milliseconds.
const wait = 20 * time.Second

// Run runs the conformance suite against the transports mk makes: frames
// arrive complete and in order under concurrent senders, payloads of many
// sizes in both directions, every header field round-trips, a peer's Close
// is reported by Fail exactly once, Send after Close fails with
// transport.ErrClosed, and no goroutine outlives Close.
func Run(t *testing.T, mk Maker) {
	tests := []struct {
		name string
		fn   func(t *testing.T, mk Maker)
	}{
		{"Sizes", testSizes},
		{"HeaderFields", testHeaderFields},
		{"ConcurrentSenders", testConcurrent},
		{"FailOnPeerClose", testPeerClose},
		{"SendAfterClose", testSendAfterClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			// Registered first, so it runs after the cleanups that close
			// the transports.
			t.Cleanup(func() { CheckGoroutines(t, before) })
			tc.fn(t, mk)
		})
	}
}

// job is a set of transports under test with their recorders.
type job struct {
	t    *testing.T
	trs  []transport.Transport
	recs []*Recorder
	stop []func() // stops the pump of each Poller transport
	eps  map[[2]int]transport.Endpoint
	mu   sync.Mutex
}

func newJob(t *testing.T, mk Maker, n int) *job {
	t.Helper()
	j := &job{t: t, eps: map[[2]int]transport.Endpoint{}}
	hs := make([]transport.Handler, n)
	for i := range hs {
		j.recs = append(j.recs, NewRecorder())
		hs[i] = j.recs[i]
	}
	j.trs = mk(t, hs)
	if len(j.trs) != n {
		t.Fatalf("Maker made %d transports, want %d", len(j.trs), n)
	}
	for _, tr := range j.trs {
		j.stop = append(j.stop, pump(tr))
	}
	t.Cleanup(func() {
		for i := range j.trs {
			j.close(i)
		}
	})
	return j
}

// pump drives a Poller transport as a waiting rank would: poll, and when
// nothing came, block briefly. It returns a function that stops it.
func pump(tr transport.Transport) func() {
	p, ok := tr.(transport.Poller)
	if !ok {
		return func() {}
	}
	var mu sync.Mutex
	done := make(chan struct{})
	stopped := false
	quit := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if !p.Poll() {
				p.Block(time.Millisecond)
			}
		}
	}()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		stopped = true
		close(quit)
		p.Wake()
		<-done
	}
}

// close stops rank i's pump and closes its transport.
func (j *job) close(i int) {
	j.stop[i]()
	if err := j.trs[i].Close(); err != nil {
		j.t.Errorf("rank %d: Close: %v", i, err)
	}
}

// ep returns the endpoint from rank src to rank dst, failing the test if it
// cannot be made.
func (j *job) ep(src, dst int) transport.Endpoint {
	j.mu.Lock()
	e := j.eps[[2]int{src, dst}]
	j.mu.Unlock()
	if e != nil {
		return e
	}
	e, err := j.trs[src].Endpoint(dst, j.trs[dst].Address())
	if err != nil {
		j.t.Errorf("rank %d: Endpoint(%d, %q): %v", src, dst, j.trs[dst].Address(), err)
		return nil
	}
	if e.Peer() != dst {
		j.t.Errorf("rank %d: Endpoint(%d).Peer() = %d", src, dst, e.Peer())
	}
	j.mu.Lock()
	if old := j.eps[[2]int{src, dst}]; old != nil && old != e {
		j.t.Errorf("rank %d: Endpoint(%d) returned a different endpoint the second time", src, dst)
	}
	j.eps[[2]int{src, dst}] = e
	j.mu.Unlock()
	return e
}

func (j *job) checkViolations() {
	for i, r := range j.recs {
		for _, v := range r.Violations() {
			j.t.Errorf("rank %d handler: %s", i, v)
		}
	}
}

// pattern fills b with bytes determined by seed, so that any misplaced or
// torn byte shows.
func pattern(b []byte, seed uint64) {
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := 0; i < len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], x)
		copy(b[i:], w[:])
	}
}

func patterned(n int, seed uint64) []byte {
	b := make([]byte, n)
	pattern(b, seed)
	return b
}

// sizes of the Sizes test; those above the transport's MaxFrame are left out.
var sizes = []int{0, 1, 47, 48, 4096, 1 << 20, 8 << 20}

func testSizes(t *testing.T, mk Maker) {
	j := newJob(t, mk, 2)
	max := j.trs[0].Limits().MaxFrame
	var use []int
	for _, n := range sizes {
		if max == 0 || n <= max {
			use = append(use, n)
		} else {
			t.Logf("size %d above MaxFrame %d: not sent", n, max)
		}
	}
	var wg sync.WaitGroup
	for src := 0; src < 2; src++ {
		wg.Add(1)
		go func(src int) {
			defer wg.Done()
			e := j.ep(src, 1-src)
			if e == nil {
				return
			}
			for i, n := range use {
				h := transport.Header{Kind: transport.KindEager, Source: int32(src), Tag: int32(i), Len: uint64(n)}
				if err := e.Send(&h, patterned(n, uint64(src*100+i))); err != nil {
					t.Errorf("rank %d: Send of %d bytes: %v", src, n, err)
					return
				}
			}
		}(src)
	}
	wg.Wait()
	for dst := 0; dst < 2; dst++ {
		src := 1 - dst
		got := j.recs[dst].WaitFrames(t, len(use), wait)
		if len(got) != len(use) {
			t.Errorf("rank %d got %d frames, want %d", dst, len(got), len(use))
		}
		for i, f := range got {
			if i >= len(use) {
				break
			}
			n := use[i]
			if f.Header.Tag != int32(i) || f.Header.Source != int32(src) || f.Header.Len != uint64(n) {
				t.Errorf("rank %d frame %d: header %v, want tag %d source %d len %d", dst, i, &f.Header, i, src, n)
				continue
			}
			if !bytes.Equal(f.Payload, patterned(n, uint64(src*100+i))) {
				t.Errorf("rank %d frame %d: %d-byte payload differs from what rank %d sent", dst, i, n, src)
			}
		}
	}
	j.checkViolations()
}

func testHeaderFields(t *testing.T, mk Maker) {
	j := newJob(t, mk, 2)
	desc := patterned(16, 7)
	headers := func(src int32) []transport.Header {
		hs := []transport.Header{
			{Kind: transport.KindEager, Source: src, Context: math.MaxUint32, Tag: math.MaxInt32, Seq: math.MaxUint64, Len: 5, SReq: math.MaxUint64, RReq: 1},
			{Kind: transport.KindEager, Flags: transport.FlagSync, Source: src, Context: 1, Tag: math.MinInt32, Len: 0},
			{Kind: transport.KindRTS, Flags: transport.FlagSingleCopy | transport.FlagSync, Source: src, Context: 0x01020304, Tag: -1, Seq: uint64(len(desc)), Len: 1 << 62, SReq: 0x1122334455667788},
			{Kind: transport.KindCTS, Source: src, Context: 2, Tag: 3, SReq: 0x8000000000000000, RReq: 0x0102030405060708},
			{Kind: transport.KindData, Source: src, Seq: 1<<40 + 3, Len: 3, RReq: math.MaxUint64},
			{Kind: transport.KindFin, Flags: 0xff, Source: src, SReq: 42},
			{Kind: transport.KindCtrl, Source: src, Tag: 7, Len: 1},
			{Kind: transport.KindRMA, Source: src, Context: 9, Seq: 5, Len: 2, SReq: 6, RReq: 7},
		}
		return hs
	}
	payload := func(h *transport.Header) []byte {
		if h.Kind == transport.KindRTS {
			return desc
		}
		return patterned(int(h.Len), h.SReq)
	}
	var wg sync.WaitGroup
	for src := 0; src < 2; src++ {
		wg.Add(1)
		go func(src int) {
			defer wg.Done()
			e := j.ep(src, 1-src)
			if e == nil {
				return
			}
			for _, h := range headers(int32(src)) {
				if err := e.Send(&h, payload(&h)); err != nil {
					t.Errorf("rank %d: Send(%v): %v", src, &h, err)
				}
			}
		}(src)
	}
	wg.Wait()
	for dst := 0; dst < 2; dst++ {
		want := headers(int32(1 - dst))
		got := j.recs[dst].WaitFrames(t, len(want), wait)
		for i := range want {
			if i >= len(got) {
				t.Errorf("rank %d: frame %d missing", dst, i)
				continue
			}
			if got[i].Header != want[i] {
				t.Errorf("rank %d frame %d: header\n got  %v\n want %v", dst, i, &got[i].Header, &want[i])
			}
			if !bytes.Equal(got[i].Payload, payload(&want[i])) {
				t.Errorf("rank %d frame %d (%s): payload differs", dst, i, want[i].Kind)
			}
		}
	}
	j.checkViolations()
}

// testConcurrent has every rank send to every other from several goroutines
// at once, starting together so that first connections race.
func testConcurrent(t *testing.T, mk Maker) {
	const n, senders, frames = 3, 4, 150
	j := newJob(t, mk, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	seed := func(src, tag, seq int) uint64 { return uint64(src)<<40 | uint64(tag)<<20 | uint64(seq) }
	size := func(seq int) int { return seq * 37 % 3000 }
	for src := 0; src < n; src++ {
		for dst := 0; dst < n; dst++ {
			if src == dst {
				continue
			}
			for g := 0; g < senders; g++ {
				wg.Add(1)
				go func(src, dst, g int) {
					defer wg.Done()
					<-start
					e := j.ep(src, dst)
					if e == nil {
						return
					}
					for s := 0; s < frames; s++ {
						h := transport.Header{Kind: transport.KindEager, Source: int32(src), Tag: int32(g), Seq: uint64(s), Len: uint64(size(s))}
						if err := e.Send(&h, patterned(size(s), seed(src, g, s))); err != nil {
							t.Errorf("rank %d -> %d sender %d frame %d: %v", src, dst, g, s, err)
							return
						}
					}
				}(src, dst, g)
			}
		}
	}
	close(start)
	wg.Wait()
	for dst := 0; dst < n; dst++ {
		got := j.recs[dst].WaitFrames(t, (n-1)*senders*frames, wait)
		next := map[[2]int]int{}
		for _, f := range got {
			k := [2]int{int(f.Header.Source), int(f.Header.Tag)}
			s := next[k]
			if f.Header.Seq != uint64(s) {
				t.Fatalf("rank %d: from rank %d sender %d got frame %d, want %d (lost or reordered)", dst, k[0], k[1], f.Header.Seq, s)
			}
			if !bytes.Equal(f.Payload, patterned(size(s), seed(k[0], k[1], s))) {
				t.Fatalf("rank %d: from rank %d sender %d frame %d: payload torn or misplaced", dst, k[0], k[1], s)
			}
			next[k] = s + 1
		}
		if len(got) != (n-1)*senders*frames {
			t.Errorf("rank %d: %d frames, want %d (duplicates?)", dst, len(got), (n-1)*senders*frames)
		}
	}
	j.checkViolations()
}

func testPeerClose(t *testing.T, mk Maker) {
	j := newJob(t, mk, 2)
	// Connect both ways and exchange a frame, so the link certainly exists.
	for src := 0; src < 2; src++ {
		e := j.ep(src, 1-src)
		if e == nil {
			return
		}
		h := transport.Header{Kind: transport.KindCtrl, Source: int32(src), Len: 1}
		if err := e.Send(&h, []byte{1}); err != nil {
			t.Fatalf("rank %d: Send: %v", src, err)
		}
	}
	j.recs[0].WaitFrames(t, 1, wait)
	j.recs[1].WaitFrames(t, 1, wait)
	j.close(1)
	err := j.recs[0].WaitFail(t, 1, wait)
	if err == nil {
		t.Errorf("Fail(1, nil) after rank 1 closed")
	}
	// Sends after the failure report an error; Fail is not repeated.
	e := j.ep(0, 1)
	deadline := time.Now().Add(wait)
	h := transport.Header{Kind: transport.KindCtrl, Source: 0, Len: 1}
	for e.Send(&h, []byte{2}) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("Send to a closed peer still succeeds after %v", wait)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if fails := j.recs[0].Fails(1); len(fails) != 1 {
		t.Errorf("rank 0 got %d Fail calls for rank 1, want 1: %v", len(fails), fails)
	}
	if fails := j.recs[1].Fails(0); len(fails) != 0 {
		t.Errorf("rank 1 got Fail(0) after its own Close: %v", fails)
	}
	j.checkViolations()
}

func testSendAfterClose(t *testing.T, mk Maker) {
	j := newJob(t, mk, 2)
	e := j.ep(0, 1)
	if e == nil {
		return
	}
	h := transport.Header{Kind: transport.KindEager, Source: 0, Len: 3}
	if err := e.Send(&h, []byte("abc")); err != nil {
		t.Fatalf("Send before Close: %v", err)
	}
	j.recs[1].WaitFrames(t, 1, wait)
	j.close(0)
	if err := e.Send(&h, []byte("abc")); !errors.Is(err, transport.ErrClosed) {
		t.Errorf("Send after Close: %v, want an error wrapping transport.ErrClosed", err)
	}
	if _, err := j.trs[0].Endpoint(1, j.trs[1].Address()); err == nil {
		t.Errorf("Endpoint after Close: no error")
	}
	if err := j.trs[0].Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	j.checkViolations()
}

// CheckGoroutines waits (up to 5 s) for the goroutine count to fall back
// to before, taken with runtime.NumGoroutine before the transports were
// made, and fails the test with every goroutine's stack if it does not.
func CheckGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for d := time.Millisecond; ; d = min(2*d, 100*time.Millisecond) {
		if runtime.NumGoroutine() <= before {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(d)
	}
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	stacks := string(buf)
	if len(stacks) > 8000 {
		stacks = stacks[:8000] + "\n..."
	}
	t.Errorf("goroutine leak: %d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, strings.TrimSpace(stacks))
}
