package tcp

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/param"
	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// logBuf collects a transport's log lines.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// waitLine waits until a logged line contains every one of subs.
func (l *logBuf) waitLine(t *testing.T, subs ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d := time.Millisecond; time.Now().Before(deadline); d = min(2*d, 50*time.Millisecond) {
		l.mu.Lock()
		for _, line := range l.lines {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(line, s)
			}
			if ok {
				l.mu.Unlock()
				return line
			}
		}
		l.mu.Unlock()
		time.Sleep(d)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no log line contains %q; log:\n%s", subs, strings.Join(l.lines, "\n"))
	return ""
}

type world struct {
	trs  []*Transport
	recs []*transporttest.Recorder
	logs []*logBuf
}

func newSecret() []byte {
	s := make([]byte, 32)
	rand.Read(s)
	return s
}

// newWorld makes n loopback transports sharing secret; edit may adjust each
// Config.
func newWorld(t *testing.T, n int, secret []byte, edit func(*Config)) *world {
	t.Helper()
	w := &world{}
	for i := 0; i < n; i++ {
		rec := transporttest.NewRecorder()
		lb := &logBuf{}
		cfg := Config{Rank: i, Size: n, Secret: secret, Handler: rec, Iface: "lo", Logf: lb.logf}
		if edit != nil {
			edit(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatalf("rank %d: %v", i, err)
		}
		t.Cleanup(func() { tr.Close() })
		w.trs = append(w.trs, tr)
		w.recs = append(w.recs, rec)
		w.logs = append(w.logs, lb)
	}
	return w
}

func (w *world) ep(t *testing.T, src, dst int) transport.Endpoint {
	t.Helper()
	e, err := w.trs[src].Endpoint(dst, w.trs[dst].Address())
	if err != nil {
		t.Fatalf("Endpoint %d -> %d: %v", src, dst, err)
	}
	return e
}

func (tr *Transport) connCount() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.conns
}

func send(e transport.Endpoint, src, tag int, seq uint64, payload []byte) error {
	h := transport.Header{Kind: transport.KindEager, Source: int32(src), Tag: int32(tag), Seq: seq, Len: uint64(len(payload))}
	return e.Send(&h, payload)
}

// checkOrdered checks that frames from each (source, tag) arrive with Seq
// 0, 1, 2, ... and returns how many streams were seen.
func checkOrdered(t *testing.T, rank int, frames []transporttest.Frame) {
	t.Helper()
	next := map[[2]int32]uint64{}
	for _, f := range frames {
		k := [2]int32{f.Header.Source, f.Header.Tag}
		if f.Header.Seq != next[k] {
			t.Fatalf("rank %d: from rank %d tag %d got seq %d, want %d", rank, k[0], k[1], f.Header.Seq, next[k])
		}
		next[k]++
	}
}

// TestSimultaneousConnect starts first sends in both directions at once,
// many times, and checks that each pair ends with one connection and that
// no frame is lost or reordered.
func TestSimultaneousConnect(t *testing.T) {
	tests := []struct {
		ranks, rounds, senders, frames int
	}{
		{2, 15, 8, 40},
		{4, 4, 3, 30},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("ranks=%d", tc.ranks), func(t *testing.T) {
			yields := 0
			for round := 0; round < tc.rounds; round++ {
				w := newWorld(t, tc.ranks, newSecret(), nil)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for src := 0; src < tc.ranks; src++ {
					for dst := 0; dst < tc.ranks; dst++ {
						for g := 0; g < tc.senders && src != dst; g++ {
							wg.Add(1)
							go func(src, dst, g int) {
								defer wg.Done()
								<-start
								e, err := w.trs[src].Endpoint(dst, w.trs[dst].Address())
								if err != nil {
									t.Errorf("Endpoint %d -> %d: %v", src, dst, err)
									return
								}
								for s := 0; s < tc.frames; s++ {
									if err := send(e, src, g, uint64(s), []byte{byte(s)}); err != nil {
										t.Errorf("send %d -> %d: %v", src, dst, err)
										return
									}
								}
							}(src, dst, g)
						}
					}
				}
				close(start)
				wg.Wait()
				want := (tc.ranks - 1) * tc.senders * tc.frames
				for r, rec := range w.recs {
					checkOrdered(t, r, rec.WaitFrames(t, want, 10*time.Second))
					if got := len(rec.Frames()); got != want {
						t.Errorf("round %d rank %d: %d frames, want %d", round, r, got, want)
					}
					// Each rank holds one connection per peer: the ones
					// it dialed and won plus the ones it accepted.
					if got := w.trs[r].connCount(); got != tc.ranks-1 {
						t.Errorf("round %d rank %d: %d connections, want %d", round, r, got, tc.ranks-1)
					}
					for peer := 0; peer < tc.ranks; peer++ {
						if f := rec.Fails(peer); len(f) > 0 {
							t.Errorf("round %d rank %d: Fail(%d): %v", round, r, peer, f)
						}
					}
				}
				for _, tr := range w.trs {
					tr.Close()
					tr.mu.Lock()
					yields += tr.yields
					tr.mu.Unlock()
				}
			}
			// The race this test is about happened.
			t.Logf("%d dials declined in favour of the lower rank's", yields)
			if yields == 0 {
				t.Errorf("no dial was ever declined in %d rounds: the simultaneous connect was not exercised", tc.rounds)
			}
		})
	}
}

// TestStrangers has strangers knock while two ranks keep exchanging frames:
// each stranger is refused and logged by name and reason, and the ranks
// notice nothing.
func TestStrangers(t *testing.T) {
	secret := newSecret()
	w := newWorld(t, 2, secret, func(c *Config) { c.HandshakeTimeout = 300 * time.Millisecond })
	target := w.trs[0].Addr().String()

	// Traffic between the real ranks throughout.
	stop := make(chan struct{})
	sent := [2]int{}
	var wg sync.WaitGroup
	for src := 0; src < 2; src++ {
		e := w.ep(t, src, 1-src)
		wg.Add(1)
		go func(src int) {
			defer wg.Done()
			for s := 0; ; s++ {
				select {
				case <-stop:
					sent[src] = s
					return
				default:
				}
				if err := send(e, src, 0, uint64(s), bytes.Repeat([]byte{byte(s)}, s%100)); err != nil {
					t.Errorf("rank %d send: %v", src, err)
					sent[src] = s
					return
				}
				time.Sleep(100 * time.Microsecond)
			}
		}(src)
	}

	frameBytes := make([]byte, transport.HeaderSize)
	(&transport.Header{Kind: transport.KindEager, Source: 1}).Encode(frameBytes)
	rawTests := []struct {
		name  string
		write []byte
		want  string
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n0123456789abcdef"), "bad magic"},
		{"frame before auth", frameBytes, "data frame before authentication"},
		{"truncated hello", []byte("MPXH\x01"), "unexpected EOF"},
		{"silent", nil, "timeout"},
	}
	for _, tc := range rawTests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", target)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			local := c.LocalAddr().String()
			if tc.write != nil {
				if _, err := c.Write(tc.write); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "truncated hello" {
				c.(*net.TCPConn).CloseWrite()
			}
			w.logs[0].waitLine(t, local, tc.want)
			// The rank closed the connection without a word.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(make([]byte, 100))
			if n != 0 || err == nil || errors.Is(err, errTimeout) {
				t.Errorf("stranger read %d bytes, err %v; want the connection closed", n, err)
			}
		})
	}

	t.Run("wrong secret", func(t *testing.T) {
		rec := transporttest.NewRecorder()
		impostor, err := New(Config{Rank: 1, Size: 2, Secret: []byte("not the job secret"), Handler: rec, Iface: "lo", Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer impostor.Close()
		_, err = impostor.Endpoint(0, w.trs[0].Address())
		if !errors.Is(err, transport.ErrAuth) {
			t.Errorf("impostor's Endpoint: %v, want ErrAuth", err)
		}
		w.logs[0].waitLine(t, "does not match the job secret", "127.0.0.1:")
	})

	t.Run("secret right, wrong rank", func(t *testing.T) {
		rec := transporttest.NewRecorder()
		// A member of a larger job with the same secret naming rank 0 from
		// a rank number outside this job.
		other, err := New(Config{Rank: 5, Size: 6, Secret: secret, Handler: rec, Iface: "lo", Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		_, err = other.Endpoint(0, w.trs[0].Address())
		if err == nil || !strings.Contains(err.Error(), "wrong rank") {
			t.Errorf("Endpoint from rank 5: %v, want declined as wrong rank", err)
		}
		w.logs[0].waitLine(t, "as rank 5, asked for rank 0; this is rank 0 of 2")
	})

	close(stop)
	wg.Wait()
	for dst := 0; dst < 2; dst++ {
		frames := w.recs[dst].WaitFrames(t, sent[1-dst], 10*time.Second)
		checkOrdered(t, dst, frames)
		if len(frames) != sent[1-dst] {
			t.Errorf("rank %d got %d frames, rank %d sent %d", dst, len(frames), 1-dst, sent[1-dst])
		}
		if f := w.recs[dst].Fails(1 - dst); len(f) != 0 {
			t.Errorf("rank %d got Fail: %v", dst, f)
		}
	}
	if sent[0] == 0 || sent[1] == 0 {
		t.Errorf("no traffic while strangers knocked: sent %v", sent)
	}
}

var errTimeout = errors.New("i/o timeout")

// TestMalformedAfterAuth: a bad frame from an authenticated peer breaks the
// link with Handler.Fail, naming the reason.
func TestMalformedAfterAuth(t *testing.T) {
	good := make([]byte, transport.HeaderSize)
	tests := []struct {
		name  string
		bytes func() []byte
		want  string
	}{
		{"bad magic", func() []byte { return bytes.Repeat([]byte{0xee}, transport.HeaderSize) }, "bad magic"},
		{"wrong source", func() []byte {
			(&transport.Header{Kind: transport.KindEager, Source: 0}).Encode(good)
			return good
		}, "claims source rank 0"},
		{"oversized", func() []byte {
			(&transport.Header{Kind: transport.KindData, Source: 1, Len: MaxFrame + 1}).Encode(good)
			return good
		}, "exceeds limit"},
		{"truncated payload", func() []byte {
			b := make([]byte, transport.HeaderSize+3)
			(&transport.Header{Kind: transport.KindData, Source: 1, Len: 10}).Encode(b)
			return b
		}, "middle of a 10-byte data payload"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, 2, newSecret(), nil)
			w.ep(t, 1, 0)
			p := w.trs[1].pairs[0]
			if _, err := p.conn.Write(tc.bytes()); err != nil {
				t.Fatal(err)
			}
			if tc.name == "truncated payload" {
				p.conn.CloseWrite()
			}
			err := w.recs[0].WaitFail(t, 1, 10*time.Second)
			var pe *transport.PeerError
			if !errors.As(err, &pe) || pe.Peer != 1 || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Fail(1, %v): want a PeerError for rank 1 containing %q", err, tc.want)
			}
			if tc.name != "truncated payload" && !errors.Is(err, transport.ErrFrame) {
				t.Errorf("Fail(1, %v): want ErrFrame", err)
			}
			// Rank 0 closed the link: rank 1 hears of it too.
			w.recs[1].WaitFail(t, 0, 10*time.Second)
		})
	}
}

// TestSendAllocs: a steady-state Send allocates nothing.
func TestSendAllocs(t *testing.T) {
	h := &reuseHandler{buf: make([]byte, 1<<20)}
	secret := newSecret()
	a, err := New(Config{Rank: 0, Size: 2, Secret: secret, Handler: transporttest.NewRecorder(), Iface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New(Config{Rank: 1, Size: 2, Secret: secret, Handler: h, Iface: "lo"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	e, err := a.Endpoint(1, b.Address())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 8, 4096, 1 << 20} {
		payload := make([]byte, n)
		hdr := &transport.Header{Kind: transport.KindEager, Source: 0, Len: uint64(n)}
		allocs := testing.AllocsPerRun(100, func() {
			if err := e.Send(hdr, payload); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Send of %d bytes: %v allocations per call, want 0", n, allocs)
		}
	}
}

// reuseHandler receives into one buffer, so the receiving side allocates
// nothing either.
type reuseHandler struct {
	buf []byte
	mu  sync.Mutex
	n   int
}

func (h *reuseHandler) Alloc(hd *transport.Header) []byte { return h.buf[:hd.PayloadLen()] }
func (h *reuseHandler) Deliver(*transport.Header, []byte) {
	h.mu.Lock()
	h.n++
	h.mu.Unlock()
}
func (h *reuseHandler) Fail(int, error) {}

// closedPort returns a loopback address nobody listens on.
func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestDial(t *testing.T) {
	w := newWorld(t, 3, newSecret(), nil)
	dead1, dead2 := closedPort(t), closedPort(t)

	t.Run("falls back to the next candidate", func(t *testing.T) {
		e, err := w.trs[0].Endpoint(1, dead1+","+w.trs[1].Address())
		if err != nil {
			t.Fatal(err)
		}
		if err := send(e, 0, 0, 0, []byte("x")); err != nil {
			t.Fatal(err)
		}
		if f := w.recs[1].WaitFrames(t, 1, 5*time.Second); string(f[0].Payload) != "x" {
			t.Errorf("got %q", f[0].Payload)
		}
	})
	t.Run("failure names both ranks and every address", func(t *testing.T) {
		card := dead1 + "," + dead2
		_, err := w.trs[0].Endpoint(2, card)
		var pe *transport.PeerError
		if !errors.As(err, &pe) || pe.Peer != 2 || pe.Op != "dial" {
			t.Fatalf("Endpoint to dead addresses: %v, want a dial PeerError for rank 2", err)
		}
		for _, s := range []string{"rank 0", "rank 2", dead1, dead2} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("error %q does not name %s", err, s)
			}
		}
		// Rank 2 can still be reached at its real address afterwards.
		if _, err := w.trs[0].Endpoint(2, w.trs[2].Address()); err != nil {
			t.Errorf("retry at the real address: %v", err)
		}
	})
	t.Run("stale address of another rank", func(t *testing.T) {
		_, err := w.trs[1].Endpoint(2, w.trs[0].Address())
		if err == nil || !strings.Contains(err.Error(), "belongs to rank 0") {
			t.Errorf("dialing rank 2 at rank 0's address: %v", err)
		}
	})
	t.Run("bad arguments", func(t *testing.T) {
		// Rank 2 has no connection to rank 1 yet, so the address matters.
		for _, c := range []struct {
			src, peer int
			addr      string
			want      string
		}{
			{0, 0, w.trs[0].Address(), "to itself"},
			{0, 3, w.trs[1].Address(), "no rank 3"},
			{0, -1, w.trs[1].Address(), "no rank -1"},
			{2, 1, "", "empty tcp address"},
			{2, 1, "127.0.0.1", "missing port"},
			{2, 1, "127.0.0.1:99999", "bad port"},
		} {
			if _, err := w.trs[c.src].Endpoint(c.peer, c.addr); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("rank %d: Endpoint(%d, %q): %v, want an error containing %q", c.src, c.peer, c.addr, err, c.want)
			}
		}
	})
}

// TestDeclinedWait: a higher rank whose dial is declined because the lower
// rank is connecting waits for that connection, reports when it does not
// come, and dials afresh on its next call.
func TestDeclinedWait(t *testing.T) {
	w := newWorld(t, 2, newSecret(), func(c *Config) {
		c.HandshakeTimeout = 200 * time.Millisecond
		c.DialTimeout = 100 * time.Millisecond
	})
	// Rank 0 claims to be dialing rank 1 but never will.
	w.trs[0].mu.Lock()
	w.trs[0].pairLocked(1).dialing = true
	w.trs[0].mu.Unlock()
	start := time.Now()
	_, err := w.trs[1].Endpoint(0, w.trs[0].Address())
	if err == nil || !strings.Contains(err.Error(), "declined our connection in favour of its own") {
		t.Fatalf("Endpoint while rank 0 holds the pair: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the 300ms wait", d)
	}
	w.trs[0].mu.Lock()
	w.trs[0].pairs[1].dialing = false
	w.trs[0].mu.Unlock()
	e, err := w.trs[1].Endpoint(0, w.trs[0].Address())
	if err != nil {
		t.Fatalf("Endpoint after rank 0 let go: %v", err)
	}
	if err := send(e, 1, 0, 0, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if f := w.recs[0].WaitFrames(t, 1, 5*time.Second); string(f[0].Payload) != "late" {
		t.Errorf("got %q", f[0].Payload)
	}
}

// TestCloseWhileDialing: Close ends an Endpoint call stuck in a handshake
// with a peer that never answers, and leaves no goroutine behind.
func TestCloseWhileDialing(t *testing.T) {
	before := runtime.NumGoroutine()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	w := newWorld(t, 2, newSecret(), nil)
	errc := make(chan error, 1)
	go func() {
		_, err := w.trs[0].Endpoint(1, ln.Addr().String())
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	w.trs[0].Close()
	select {
	case err := <-errc:
		if !errors.Is(err, transport.ErrClosed) {
			t.Errorf("Endpoint interrupted by Close: %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Endpoint still blocked 5 s after Close")
	}
	w.trs[1].Close()
	ln.Close()
	transporttest.CheckGoroutines(t, before)
}

func TestConfigErrors(t *testing.T) {
	h := transporttest.NewRecorder()
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Rank: 2, Size: 2, Secret: []byte("s"), Handler: h}, "rank 2 of size 2"},
		{Config{Rank: 0, Size: 0, Secret: []byte("s"), Handler: h}, "rank 0 of size 0"},
		{Config{Rank: 0, Size: 1, Handler: h}, "empty job secret"},
		{Config{Rank: 0, Size: 1, Secret: []byte("s")}, "nil Handler"},
		{Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: h, Iface: "nosuchif0"}, "no interface named nosuchif0"},
		{Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: h, Iface: "198.51.100.0/24"}, "no up interface has an address in 198.51.100.0/24"},
		{Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: h, PortRange: "9-3"}, "port range"},
		{Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: h, SndBuf: -1}, "negative socket buffer"},
	} {
		tr, err := New(c.cfg)
		if err == nil {
			tr.Close()
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want an error containing %q", c.cfg, err, c.want)
		}
	}
}

// sockBuf reads a socket option of c.
func sockBuf(t *testing.T, c syscall.Conn, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, opt) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// TestParams: each parameter changes what the transport does, and a Config
// field, when set, wins over it.
func TestParams(t *testing.T) {
	free := func() int {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	set := func(t *testing.T, name, v string) {
		if err := param.Set(name, v); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { param.Unset(name) })
	}
	mk := func(t *testing.T, edit func(*Config)) *Transport {
		cfg := Config{Rank: 0, Size: 2, Secret: []byte("s"), Handler: transporttest.NewRecorder(), Logf: t.Logf}
		if edit != nil {
			edit(&cfg)
		}
		tr, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tr.Close() })
		return tr
	}

	t.Run("tcp_iface automatic", func(t *testing.T) {
		tr := mk(t, nil)
		ip := tr.Addr().(*net.TCPAddr).IP
		if !ip.IsUnspecified() {
			t.Errorf("automatic: listening on %v, want every address", ip)
		}
		cands, err := parseCard(tr.Address())
		if err != nil {
			t.Fatal(err)
		}
		if last := cands[len(cands)-1]; !strings.HasPrefix(last, "127.0.0.1:") {
			t.Errorf("automatic card %q does not end with 127.0.0.1", tr.Address())
		}
		ifs, _ := systemIfaces()
		sel, _ := selectAddrs("", ifs)
		if len(cands) != len(sel.IPs) {
			t.Errorf("card %q has %d candidates, interfaces give %d", tr.Address(), len(cands), len(sel.IPs))
		}
	})
	for _, v := range []string{"lo", "127.0.0.0/8"} {
		t.Run("tcp_iface="+v, func(t *testing.T) {
			set(t, "tcp_iface", v)
			tr := mk(t, nil)
			port := tr.Addr().(*net.TCPAddr).Port
			if want := "127.0.0.1:" + strconv.Itoa(port); tr.Address() != want || tr.Addr().String() != want {
				t.Errorf("tcp_iface=%s: card %q, listening on %v; want both %s", v, tr.Address(), tr.Addr(), want)
			}
		})
	}
	t.Run("tcp_iface bad", func(t *testing.T) {
		set(t, "tcp_iface", "nosuchif0")
		_, err := New(Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: transporttest.NewRecorder()})
		if err == nil || !strings.Contains(err.Error(), `tcp_iface="nosuchif0"`) {
			t.Errorf("tcp_iface=nosuchif0: %v", err)
		}
		// The Config field wins over the parameter.
		mk(t, func(c *Config) { c.Iface = "lo" })
	})
	t.Run("tcp_port_range", func(t *testing.T) {
		p := free()
		set(t, "tcp_port_range", fmt.Sprintf("%d-%d", p, p))
		if got := mk(t, func(c *Config) { c.Iface = "lo" }).Addr().(*net.TCPAddr).Port; got != p {
			t.Errorf("tcp_port_range=%d-%d: port %d", p, p, got)
		}
		// Busy first port: the next one is taken.
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		b := busy.Addr().(*net.TCPAddr).Port
		set(t, "tcp_port_range", fmt.Sprintf("%d-%d", b, b+20))
		if got := mk(t, func(c *Config) { c.Iface = "lo" }).Addr().(*net.TCPAddr).Port; got <= b || got > b+20 {
			t.Errorf("tcp_port_range=%d-%d with %d busy: port %d", b, b+20, b, got)
		}
		set(t, "tcp_port_range", fmt.Sprintf("%d", b))
		_, err = New(Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: transporttest.NewRecorder(), Iface: "lo"})
		if err == nil || !strings.Contains(err.Error(), "cannot listen") {
			t.Errorf("only port busy: %v", err)
		}
		set(t, "tcp_port_range", "many")
		_, err = New(Config{Rank: 0, Size: 1, Secret: []byte("s"), Handler: transporttest.NewRecorder(), Iface: "lo"})
		if err == nil || !strings.Contains(err.Error(), "tcp_port_range") {
			t.Errorf("tcp_port_range=many: %v", err)
		}
	})
	bufTests := []struct {
		param string
		opt   int
	}{
		{"tcp_sndbuf", syscall.SO_SNDBUF},
		{"tcp_rcvbuf", syscall.SO_RCVBUF},
	}
	for _, bt := range bufTests {
		t.Run(bt.param, func(t *testing.T) {
			// What the kernel gives by default, to show the parameter moves it.
			secret := newSecret()
			def := newWorld(t, 2, secret, nil)
			def.ep(t, 0, 1)
			defVal := sockBuf(t, def.trs[0].pairs[1].conn, bt.opt)

			const size = 96 << 10
			set(t, bt.param, "96k")
			w := newWorld(t, 2, secret, nil)
			w.ep(t, 0, 1)
			w.ep(t, 1, 0)
			// Linux doubles the value for bookkeeping; other kernels keep it.
			for r, c := range []*net.TCPConn{w.trs[0].pairs[1].conn, w.trs[1].pairs[0].conn} {
				got := sockBuf(t, c, bt.opt)
				if got != size && got != 2*size {
					t.Errorf("%s=96k: rank %d's socket has %d (default %d), want %d or %d", bt.param, r, got, defVal, size, 2*size)
				}
			}
			if defVal == size || defVal == 2*size {
				t.Errorf("default %s is already %d: the test shows nothing", bt.param, defVal)
			}
		})
	}
}

func TestSelectAddrs(t *testing.T) {
	ip := net.ParseIP
	ifs := []netIface{
		{Name: "lo", Up: true, Loopback: true, Addrs: []net.IP{ip("127.0.0.1"), ip("::1")}},
		{Name: "eth0", Up: true, Addrs: []net.IP{ip("fe80::1"), ip("198.18.0.5"), ip("fd00::5")}},
		{Name: "ib0", Up: true, Addrs: []net.IP{ip("198.19.1.7")}},
		{Name: "eth1", Up: false, Addrs: []net.IP{ip("198.18.9.9")}},
		{Name: "v6only", Up: true, Addrs: []net.IP{ip("fe80::2"), ip("fd00::9")}},
		{Name: "bare", Up: true},
	}
	tests := []struct {
		spec   string
		listen string
		ips    string
		err    string
	}{
		{"", "<nil>", "198.18.0.5 198.19.1.7 127.0.0.1", ""},
		{"eth0", "198.18.0.5", "198.18.0.5", ""},
		{"ib0", "198.19.1.7", "198.19.1.7", ""},
		{"lo", "127.0.0.1", "127.0.0.1", ""},
		{"v6only", "fd00::9", "fd00::9", ""},
		{"198.19.0.0/16", "198.19.1.7", "198.19.1.7", ""},
		{"198.18.0.0/15", "198.18.0.5", "198.18.0.5", ""},
		{"eth1", "", "", "interface eth1 is down"},
		{"bare", "", "", "no usable address"},
		{"wlan0", "", "", "no interface named wlan0 (interfaces: lo, eth0, ib0, eth1, v6only, bare)"},
		{"10.0.0.0/8", "", "", "no up interface has an address in 10.0.0.0/8"},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			sel, err := selectAddrs(tc.spec, ifs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range sel.IPs {
				got = append(got, a.String())
			}
			if l := fmt.Sprint(sel.Listen); l != tc.listen || strings.Join(got, " ") != tc.ips {
				t.Errorf("listen %s, publish %q; want %s, %q", l, got, tc.listen, tc.ips)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	s, err := Describe("lo")
	if err != nil || !strings.Contains(s, "interface lo") || !strings.Contains(s, "127.0.0.1") {
		t.Errorf("Describe(lo) = %q, %v", s, err)
	}
	s, err = Describe("")
	if err != nil || !strings.Contains(s, "automatic") || !strings.HasSuffix(s, "127.0.0.1") {
		t.Errorf("Describe(\"\") = %q, %v", s, err)
	}
	if _, err := Describe("nosuchif0"); err == nil || !strings.Contains(err.Error(), "nosuchif0") {
		t.Errorf("Describe(nosuchif0): %v", err)
	}
}

func TestParseCardAndPorts(t *testing.T) {
	cards := []struct {
		in   string
		want []string
		err  string
	}{
		{"127.0.0.1:5", []string{"127.0.0.1:5"}, ""},
		{"198.18.0.1:7, [fd00::1]:7,127.0.0.1:7", []string{"198.18.0.1:7", "[fd00::1]:7", "127.0.0.1:7"}, ""},
		{"", nil, "empty"},
		{":5", nil, "no host"},
		{"a:b", nil, "bad port"},
		{"127.0.0.1:0", nil, "bad port"},
	}
	for _, c := range cards {
		got, err := parseCard(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("parseCard(%q): %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("parseCard(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	ports := []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"", 0, 0, true}, {"5000-5010", 5000, 5010, true}, {" 7 ", 7, 7, true},
		{"5-4", 0, 0, false}, {"0-3", 0, 0, false}, {"1-70000", 0, 0, false}, {"x-y", 0, 0, false},
	}
	for _, p := range ports {
		lo, hi, err := parsePortRange(p.in)
		if (err == nil) != p.ok || lo != p.lo || hi != p.hi {
			t.Errorf("parsePortRange(%q) = %d, %d, %v", p.in, lo, hi, err)
		}
	}
}
