package shm

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
)

// benchHandler counts frames into one reused buffer: the receiver of a
// benchmark that posted its buffer.
type benchHandler struct {
	buf    []byte
	frames atomic.Int64
}

func (h *benchHandler) Alloc(hd *transport.Header) []byte { return h.buf[:hd.PayloadLen()] }
func (h *benchHandler) Deliver(*transport.Header, []byte) { h.frames.Add(1) }
func (h *benchHandler) Fail(int, error)                   {}

// benchPair starts an echo child and returns rank 0's endpoint to it.
func benchPair(b *testing.B, mode string) (*Transport, transport.Endpoint, *benchHandler) {
	job, secret := testJobID(), testSecret()
	h := &benchHandler{buf: make([]byte, 8<<20)}
	tr := parentOf(b, job, secret, h, mode)
	c := startChild(b, "echo", job, secret, tr, mode)
	if err := tr.ConnectAll(map[int]string{1: c.addr}); err != nil {
		b.Fatal(err)
	}
	ep, err := tr.Endpoint(1, c.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stop := transport.Header{Kind: transport.KindCtrl, Source: 0, Tag: tagStop}
		ep.Send(&stop, nil)
		c.wait(b)
	})
	return tr, ep, h
}

// spinFor polls until h has seen want frames, spinning for
// spinPollsBeforeBlock polls and then sleeping on the doorbell between
// polls, as comm's adaptive wait does.
func spinFor(tr *Transport, h *benchHandler, want int64) {
	for i := 0; h.frames.Load() < want; i++ {
		if !tr.Poll() && i > spinPollsBeforeBlock {
			tr.Block(time.Millisecond)
		}
	}
}

// BenchmarkPingPong8B is the round trip of an 8-byte frame between two
// processes; the one-way latency, OSU's figure, is reported as us/oneway.
func BenchmarkPingPong8B(b *testing.B) {
	tr, ep, h := benchPair(b, "")
	payload := make([]byte, 8)
	hd := transport.Header{Kind: transport.KindEager, Source: 0, Len: 8}
	for i := 0; i < 1000; i++ { // warm up
		ep.Send(&hd, payload)
		spinFor(tr, h, h.frames.Load()+1)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ep.Send(&hd, payload); err != nil {
			b.Fatal(err)
		}
		spinFor(tr, h, h.frames.Load()+1)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/2/1000, "us/oneway")
}

// window is OSU bandwidth's: that many messages back to back, then one
// acknowledgement.
const window = 64

// BenchmarkBandwidth streams messages to another process in windows of 64,
// through cross-memory attach (a single-copy RTS per message, the receiver
// reading with process_vm_readv, as Open MPI's vader does without xpmem)
// and through the rings (the pipelined copy).
func BenchmarkBandwidth(b *testing.B) {
	for _, size := range []int{1 << 20, 4 << 20} {
		for _, mode := range []string{"cma", "copy"} {
			name := map[int]string{1 << 20: "1MiB", 4 << 20: "4MiB"}[size] + "/" + mode
			b.Run(name, func(b *testing.B) {
				tr, ep, h := benchPair(b, mode)
				src := make([]byte, size)
				for i := range src {
					src[i] = byte(i)
				}
				send := func(last bool) {
					hd := transport.Header{Kind: transport.KindData, Source: 0, Len: uint64(size)}
					payload := src
					if mode == "cma" {
						d, err := ep.(transport.SingleCopy).Expose(src)
						if err != nil {
							b.Fatal(err)
						}
						hd = transport.Header{Kind: transport.KindRTS, Flags: transport.FlagSingleCopy, Source: 0, Len: uint64(size), Seq: uint64(len(d))}
						payload = d
					}
					if last && mode == "copy" {
						hd.Flags |= transport.FlagSync
					}
					if err := ep.Send(&hd, payload); err != nil {
						b.Fatal(err)
					}
				}
				// The window ends with the receiver's answer: one Fin per
				// message with cma (each releases a buffer, as rendezvous
				// does), one for the last message with copy.
				run := func(n int) {
					sent := 0
					for i := 0; i < n; i++ {
						last := i%window == window-1 || i == n-1
						send(last)
						sent++
						if last {
							if mode == "copy" {
								sent = 1
							}
							spinFor(tr, h, h.frames.Load()+int64(sent))
							sent = 0
						}
					}
				}
				run(window) // warm up: fault in both sides' buffers
				b.SetBytes(int64(size))
				b.ResetTimer()
				run(b.N)
			})
		}
	}
}

// BenchmarkSendPoll8B is the processor time of one 8-byte frame through a
// ring, sender and receiver on one goroutine: the transport's own share of
// the latency, without the cache-line transfer and the scheduler.
func BenchmarkSendPoll8B(b *testing.B) {
	job, secret := testJobID(), testSecret()
	hs := []*benchHandler{{buf: make([]byte, 64)}, {buf: make([]byte, 64)}}
	var trs []*Transport
	for i := range hs {
		tr, err := New(Config{Rank: i, Size: 2, JobID: job, Secret: secret, Handler: hs[i]})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { tr.Close() })
		trs = append(trs, tr)
	}
	ep, err := trs[0].Endpoint(1, trs[1].Address())
	if err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 8)
	hd := transport.Header{Kind: transport.KindEager, Source: 0, Len: 8}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ep.Send(&hd, payload); err != nil {
			b.Fatal(err)
		}
		trs[1].Poll()
	}
	if got := hs[1].frames.Load(); got != int64(b.N) {
		b.Fatalf("%d frames delivered, want %d", got, b.N)
	}
}
