//go:build ucx

package ucx

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// pair makes two ucx transports over tls with recorders, and a goroutine
// per transport polling it as a waiting rank would.
func pair(t *testing.T, tls string, secrets ...[]byte) ([]*Transport, []*transporttest.Recorder) {
	t.Helper()
	sc := true
	var trs []*Transport
	var recs []*transporttest.Recorder
	for i := 0; i < 2; i++ {
		secret := secrets[min(i, len(secrets)-1)]
		rec := transporttest.NewRecorder()
		tr, err := New(Config{Rank: i, Size: 2, Secret: secret, Handler: rec, TLS: tls, NetDevices: "lo", SingleCopy: &sc})
		if err != nil {
			t.Fatal(err)
		}
		quit, done := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-quit:
					return
				default:
				}
				if !tr.Poll() {
					tr.Block(time.Millisecond)
				}
			}
		}()
		var once sync.Once
		stop := func() { once.Do(func() { close(quit); tr.Wake(); <-done }) }
		t.Cleanup(func() { stop(); tr.Close() })
		trs, recs = append(trs, tr), append(recs, rec)
	}
	return trs, recs
}

func secret() []byte {
	s := make([]byte, 32)
	rand.Read(s)
	return s
}

func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

// The single-copy path: the sender exposes a buffer, the receiver reads it
// into its own with one RDMA get, and the sender's registration goes when
// the receiver's Fin for that send arrives.
func TestSingleCopy(t *testing.T) {
	for _, tls := range tlsCases() {
		t.Run(tls, func(t *testing.T) {
			s := secret()
			trs, recs := pair(t, tls, s)
			e01, err := trs[0].Endpoint(1, trs[1].Address())
			if err != nil {
				t.Fatal(err)
			}
			e10, err := trs[1].Endpoint(0, trs[0].Address())
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range []int{1, 4096, 1 << 20, 9<<20 + 3} {
				src := patterned(n, byte(n))
				d, err := e01.(transport.SingleCopy).Expose(src)
				if err != nil {
					t.Fatalf("Expose of %d bytes: %v", n, err)
				}
				h := transport.Header{Kind: transport.KindRTS, Flags: transport.FlagSingleCopy, Len: uint64(n), Seq: uint64(len(d)), SReq: uint64(n)}
				if err := e01.Send(&h, d); err != nil {
					t.Fatal(err)
				}
				var got []byte
				deadline := time.Now().Add(10 * time.Second)
				for got == nil && time.Now().Before(deadline) {
					for _, f := range recs[1].Frames() {
						if f.Header.Kind == transport.KindRTS && f.Header.SReq == uint64(n) {
							got = f.Payload
						}
					}
					time.Sleep(time.Millisecond)
				}
				if got == nil {
					t.Fatalf("RTS for %d bytes did not arrive", n)
				}
				if err := e10.(transport.SingleCopy).Fetch(got, make([]byte, n+1)); err == nil || !strings.Contains(err.Error(), "descriptor of") {
					t.Errorf("Fetch into a buffer of the wrong size: %v, want an error naming the sizes", err)
				}
				dst := make([]byte, n)
				if err := e10.(transport.SingleCopy).Fetch(got, dst); err != nil {
					t.Fatalf("Fetch of %d bytes: %v", n, err)
				}
				if !bytes.Equal(dst, src) {
					t.Fatalf("Fetch of %d bytes: data differs", n)
				}
				if regions(trs[0]) != 1 {
					t.Errorf("%d registered regions before the Fin, want 1", regions(trs[0]))
				}
				fin := transport.Header{Kind: transport.KindFin, Source: 1, SReq: uint64(n)}
				if err := e10.Send(&fin, nil); err != nil {
					t.Fatal(err)
				}
				for regions(trs[0]) != 0 {
					if time.Now().After(deadline) {
						t.Fatalf("the region of send %d is still registered after its Fin", n)
					}
					time.Sleep(time.Millisecond)
				}
			}
			// A region exposed to a peer that then closes is released.
			if _, err := e01.(transport.SingleCopy).Expose(make([]byte, 64)); err != nil {
				t.Fatal(err)
			}
			trs[1].Close()
			recs[0].WaitFail(t, 1, 10*time.Second)
			if n := regions(trs[0]); n != 0 {
				t.Errorf("%d regions still registered after the peer closed", n)
			}
		})
	}
}

func regions(t *Transport) int {
	t.regMu.Lock()
	defer t.regMu.Unlock()
	return len(t.regs)
}

// A transport that does not know the job secret connects and sends: its
// frames are never delivered, while a member's are.
func TestStrangerIgnored(t *testing.T) {
	for _, tls := range tlsCases() {
		t.Run(tls, func(t *testing.T) {
			trs, recs := pair(t, tls, secret(), secret())
			e, err := trs[1].Endpoint(0, trs[0].Address())
			if err != nil {
				t.Fatal(err)
			}
			h := transport.Header{Kind: transport.KindEager, Source: 1, Len: 3}
			for i := 0; i < 10; i++ {
				if err := e.Send(&h, []byte("bad")); err != nil {
					t.Fatal(err)
				}
			}
			// A member: rank 0 to itself, through its own worker.
			self, err := trs[0].Endpoint(0, trs[0].Address())
			if err != nil {
				t.Fatal(err)
			}
			ok := transport.Header{Kind: transport.KindEager, Source: 0, Len: 2}
			if err := self.Send(&ok, []byte("ok")); err != nil {
				t.Fatal(err)
			}
			recs[0].WaitFrames(t, 1, 10*time.Second)
			time.Sleep(100 * time.Millisecond)
			for _, f := range recs[0].Frames() {
				if f.Header.Source != 0 {
					t.Errorf("delivered a stranger's frame: %v", &f.Header)
				}
			}
		})
	}
}

// Messages of one connection that UCP hands over out of order are
// delivered in the order they were sent.
func TestReorder(t *testing.T) {
	rec := transporttest.NewRecorder()
	tr := &Transport{rank: 0, size: 2, h: rec, peers: make([]peer, 2),
		regs: map[uint64]*region{}, bySend: map[[2]uint64]*region{}}
	tr.peers[1].rank = 1
	c := &channel{p: &tr.peers[1], next: 1, held: map[uint64]*msg{}}
	frame := func(seq uint64) *msg {
		m := &msg{typ: msgFrame, seq: seq, how: 0, owned: true, inl: []byte{byte(seq)}, n: 1}
		binary.LittleEndian.PutUint64(m.hb[0:], seq)
		m.hb[8] = msgFrame
		h := transport.Header{Kind: transport.KindEager, Source: 1, Tag: int32(seq), Len: 1}
		h.Encode(m.hb[16:])
		return m
	}
	for _, seq := range []uint64{3, 2, 5, 1, 4, 4, 6} {
		tr.accept(c, frame(seq))
	}
	var tags []int32
	for _, f := range rec.Frames() {
		tags = append(tags, f.Header.Tag)
		if f.Payload[0] != byte(f.Header.Tag) {
			t.Errorf("frame %d carries payload %d", f.Header.Tag, f.Payload[0])
		}
	}
	if want := []int32{1, 2, 3, 4, 5, 6}; !slices.Equal(tags, want) {
		t.Errorf("delivered in order %v, want %v", tags, want)
	}
	for _, v := range rec.Violations() {
		t.Error(v)
	}
}

// One-sided access: Put, Get, fetch-and-add and compare-and-swap into a
// peer's registered region, and a clear error outside it.
func TestRMA(t *testing.T) {
	for _, tls := range tlsCases() {
		t.Run(tls, func(t *testing.T) {
			trs, _ := pair(t, tls, secret())
			mem := make([]byte, 4096)
			reg, err := trs[1].Register(mem)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Deregister()
			ep, err := trs[0].Endpoint(1, trs[1].Address())
			if err != nil {
				t.Fatal(err)
			}
			e := ep.(RMA)
			src := patterned(1000, 3)
			if err := e.Put(reg.Key(), 8, src); err != nil {
				t.Fatal(err)
			}
			if err := e.Flush(); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 1000)
			if err := e.Get(reg.Key(), 8, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, src) {
				t.Errorf("Get after Put returned other bytes")
			}
			binary.LittleEndian.PutUint64(mem[2048:], 40)
			for i, want := range []uint64{40, 42, 44} {
				old, err := e.FetchAdd64(reg.Key(), 2048, 2)
				if err != nil || old != want {
					t.Errorf("fetch-add %d: old %d, %v; want %d", i, old, err, want)
				}
			}
			if old, err := e.CompareSwap64(reg.Key(), 2048, 1, 7); err != nil || old != 46 {
				t.Errorf("failing compare-swap: old %d, %v; want 46", old, err)
			}
			if old, err := e.CompareSwap64(reg.Key(), 2048, 46, 7); err != nil || old != 46 {
				t.Errorf("compare-swap: old %d, %v; want 46", old, err)
			}
			if v, err := e.FetchAdd64(reg.Key(), 2048, 0); err != nil || v != 7 {
				t.Errorf("after compare-swap the word is %d, %v; want 7", v, err)
			}
			if err := e.Put(reg.Key(), 4090, make([]byte, 7)); !errors.Is(err, ErrRange) {
				t.Errorf("Put past the region's end: %v, want ErrRange", err)
			}
			if _, err := e.FetchAdd64(reg.Key(), 3, 1); err == nil || !strings.Contains(err.Error(), "aligned") {
				t.Errorf("unaligned fetch-add: %v, want an alignment error", err)
			}
		})
	}
}

// A region still registered when the transport closes: Close unmaps it
// (UCP aborts the process in ucp_cleanup over a mapping in use), and the
// Deregister that follows does nothing more.
func TestCloseWithRegion(t *testing.T) {
	for _, tls := range tlsCases() {
		t.Run(tls, func(t *testing.T) {
			tr, err := New(Config{Rank: 0, Size: 1, Handler: transporttest.NewRecorder(), TLS: tls, NetDevices: "lo"})
			if err != nil {
				t.Fatal(err)
			}
			mem := make([]byte, 8192)
			reg, err := tr.Register(mem)
			if err != nil {
				t.Fatal(err)
			}
			if err := tr.Close(); err != nil {
				t.Fatal(err)
			}
			reg.Deregister()
			if _, err := tr.Register(mem); !errors.Is(err, transport.ErrClosed) {
				t.Errorf("Register after Close: %v, want ErrClosed", err)
			}
		})
	}
}
