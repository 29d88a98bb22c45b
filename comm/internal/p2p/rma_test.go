package p2p

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// echoRMA is a KindRMA handler that completes, on the origin, the request
// a frame names, and records the failures it is told of.
type echoRMA struct {
	e     *Engine
	mu    sync.Mutex
	reqs  map[uint64]*Request
	fails []int
	got   []byte
}

func (h *echoRMA) Alloc(hd *transport.Header) []byte { return make([]byte, hd.Len) }

func (h *echoRMA) Deliver(hd *transport.Header, payload []byte) {
	src, id := int(hd.Source), hd.SReq
	if hd.Tag == 1 { // a request: answer it off the receive context
		h.e.Later(func() {
			reply := transport.Header{Kind: transport.KindRMA, Source: int32(h.e.Rank()), Tag: 2, SReq: id}
			h.e.SendFrame(src, &reply, nil)
		})
		h.mu.Lock()
		h.got = append(h.got, payload...)
		h.mu.Unlock()
		return
	}
	h.mu.Lock()
	r := h.reqs[id]
	h.mu.Unlock()
	r.Complete(nil)
}

func (h *echoRMA) Fail(peer int, err error) {
	h.mu.Lock()
	h.fails = append(h.fails, peer)
	h.mu.Unlock()
}

// KindRMA frames reach the registered handler over tcp, an external
// request completes when the reply comes back, and the engine's failures
// reach the handler.
func TestRMAHook(t *testing.T) {
	engs := tcpWorld(t, 2)
	hs := make([]*echoRMA, 2)
	for i, e := range engs {
		hs[i] = &echoRMA{e: e, reqs: map[uint64]*Request{}}
		e.SetRMA(hs[i])
		e.Serve(1)
	}
	r := NewRequest()
	if err := engs[0].StartExternal(r, 1, "rma test"); err != nil {
		t.Fatal(err)
	}
	hs[0].mu.Lock()
	hs[0].reqs[7] = r
	hs[0].mu.Unlock()
	h := transport.Header{Kind: transport.KindRMA, Source: 0, Tag: 1, SReq: 7, Len: 3}
	if err := engs[0].SendFrame(1, &h, []byte("abc")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := r.Wait(); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the reply never completed the request")
	}
	hs[1].mu.Lock()
	if string(hs[1].got) != "abc" {
		t.Errorf("target got %q", hs[1].got)
	}
	hs[1].mu.Unlock()

	boom := errors.New("link reset")
	engs[0].Fail(1, boom)
	r2 := NewRequest()
	if err := engs[0].StartExternal(r2, 1, "after failure"); !errors.Is(err, ErrPeerGone) {
		t.Errorf("StartExternal on a failed peer: %v, want ErrPeerGone", err)
	}
	if _, err := r2.Wait(); !errors.Is(err, ErrPeerGone) {
		t.Errorf("its Wait: %v", err)
	}
	engs[0].Close()
	hs[0].mu.Lock()
	defer hs[0].mu.Unlock()
	if len(hs[0].fails) != 2 || hs[0].fails[0] != 1 || hs[0].fails[1] != AllPeers {
		t.Errorf("handler told of failures %v, want [1 %d]", hs[0].fails, AllPeers)
	}
}
