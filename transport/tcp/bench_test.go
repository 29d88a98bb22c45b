package tcp_test

import (
	"crypto/rand"
	"io"
	"net"
	"testing"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/tcp"
)

var pingPongSizes = []struct {
	name string
	n    int
}{{"8B", 8}, {"1MiB", 1 << 20}}

// BenchmarkPingPong measures one round trip (ns/op) between two ranks on
// loopback: through the tcp transport, and through bare net.TCPConns as the
// baseline. The transport's echo is sent from its Handler, on its reader
// goroutine; the sender waits for the reply through a channel, which is the
// hand-off a rank's progress engine also pays.
func BenchmarkPingPong(b *testing.B) {
	for _, sz := range pingPongSizes {
		b.Run("tcp/"+sz.name, func(b *testing.B) { benchTransport(b, sz.n) })
	}
	for _, sz := range pingPongSizes {
		b.Run("raw/"+sz.name, func(b *testing.B) { benchRaw(b, sz.n) })
	}
}

// echoHandler receives into one buffer; as rank 1 it sends every frame
// back, as rank 0 it signals the waiting sender.
type echoHandler struct {
	buf  []byte
	ep   transport.Endpoint // rank 1: where to echo; set before traffic starts
	got  chan struct{}      // rank 0: one token per reply
	hdr  transport.Header
	fail chan error
}

func (h *echoHandler) Alloc(hd *transport.Header) []byte { return h.buf[:hd.PayloadLen()] }

func (h *echoHandler) Deliver(hd *transport.Header, p []byte) {
	if h.got != nil {
		h.got <- struct{}{}
		return
	}
	h.hdr = *hd
	h.hdr.Source = 1
	if err := h.ep.Send(&h.hdr, p); err != nil {
		h.Fail(0, err)
	}
}

func (h *echoHandler) Fail(peer int, err error) {
	select {
	case h.fail <- err:
	default:
	}
}

func benchTransport(b *testing.B, n int) {
	secret := make([]byte, 32)
	rand.Read(secret)
	fail := make(chan error, 1)
	h0 := &echoHandler{buf: make([]byte, n), got: make(chan struct{}, 1), fail: fail}
	h1 := &echoHandler{buf: make([]byte, n), fail: fail}
	t0, err := tcp.New(tcp.Config{Rank: 0, Size: 2, Secret: secret, Handler: h0, Iface: "lo"})
	if err != nil {
		b.Fatal(err)
	}
	defer t0.Close()
	t1, err := tcp.New(tcp.Config{Rank: 1, Size: 2, Secret: secret, Handler: h1, Iface: "lo"})
	if err != nil {
		b.Fatal(err)
	}
	defer t1.Close()
	e01, err := t0.Endpoint(1, t1.Address())
	if err != nil {
		b.Fatal(err)
	}
	if h1.ep, err = t1.Endpoint(0, t0.Address()); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, n)
	hdr := &transport.Header{Kind: transport.KindEager, Source: 0, Len: uint64(n)}
	b.SetBytes(int64(2 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e01.Send(hdr, payload); err != nil {
			b.Fatal(err)
		}
		select {
		case <-h0.got:
		case err := <-fail:
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

func benchRaw(b *testing.B, n int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	echoErr := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			echoErr <- err
			return
		}
		defer c.Close()
		buf := make([]byte, n)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				echoErr <- nil // the benchmark closed its end
				return
			}
			if _, err := c.Write(buf); err != nil {
				echoErr <- err
				return
			}
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	c.(*net.TCPConn).SetNoDelay(true)
	buf := make([]byte, n)
	b.SetBytes(int64(2 * n))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	if err := <-echoErr; err != nil {
		b.Fatal(err)
	}
}
