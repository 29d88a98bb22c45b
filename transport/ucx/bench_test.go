//go:build ucx

package ucx

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// benchHandler counts frames into one reused buffer, as a receiver that
// posted its buffer.
type benchHandler struct {
	buf    []byte
	frames atomic.Int64
}

func (h *benchHandler) Alloc(hd *transport.Header) []byte { return h.buf[:hd.PayloadLen()] }
func (h *benchHandler) Deliver(*transport.Header, []byte) { h.frames.Add(1) }
func (h *benchHandler) Fail(int, error)                   {}

// waitFrames polls tr until h has seen want frames: spinning, then
// sleeping on the worker, as comm's adaptive wait does.
func waitFrames(tr *Transport, h *benchHandler, want int64) {
	for i := 0; h.frames.Load() < want; i++ {
		if !tr.Poll() && i > 2000 {
			tr.Block(time.Millisecond)
		}
	}
}

// benchPingPong measures the round trip of an n-byte frame between two
// workers in this process over tls; rank 1 echoes on its own goroutine.
// The one-way latency, OSU's figure, is reported as us/oneway.
func benchPingPong(b *testing.B, tls string, n int) {
	hs := []*benchHandler{{buf: make([]byte, n)}, {buf: make([]byte, n)}}
	var trs []*Transport
	for i, h := range hs {
		tr, err := New(Config{Rank: i, Size: 2, Secret: []byte("bench"), Handler: h, TLS: tls, NetDevices: "lo"})
		if err != nil {
			b.Fatal(err)
		}
		trs = append(trs, tr)
	}
	e01, err := trs[0].Endpoint(1, trs[1].Address())
	if err != nil {
		b.Fatal(err)
	}
	e10, err := trs[1].Endpoint(0, trs[0].Address())
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, n)
	stop := make(chan struct{})
	done := make(chan struct{})
	total := b.N + 100
	go func() {
		defer close(done)
		h := transport.Header{Kind: transport.KindEager, Source: 1, Len: uint64(n)}
		for i := 1; i <= total; i++ {
			waitFrames(trs[1], hs[1], int64(i))
			select {
			case <-stop:
				return
			default:
			}
			e10.Send(&h, payload)
		}
	}()
	h := transport.Header{Kind: transport.KindEager, Source: 0, Len: uint64(n)}
	round := func(i int) {
		if err := e01.Send(&h, payload); err != nil {
			b.Fatal(err)
		}
		waitFrames(trs[0], hs[0], int64(i))
	}
	for i := 1; i <= 100; i++ { // warm up
		round(i)
	}
	b.ResetTimer()
	for i := 101; i <= total; i++ {
		round(i)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1000, "us/oneway")
	close(stop)
	<-done
	trs[1].Close()
	trs[0].Close()
}

func BenchmarkPingPong(b *testing.B) {
	for _, tls := range tlsCases() {
		b.Run(tls+"/8B", func(b *testing.B) { benchPingPong(b, tls, 8) })
		b.Run(tls+"/1MiB", func(b *testing.B) { benchPingPong(b, tls, 1<<20) })
	}
}
