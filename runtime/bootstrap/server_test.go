package bootstrap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf collects the server's log lines.
type logBuf struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuf) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

// waitFor waits until some line contains s.
func (l *logBuf) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for delay := time.Millisecond; time.Now().Before(deadline); delay = min(2*delay, 50*time.Millisecond) {
		l.mu.Lock()
		for _, line := range l.lines {
			if strings.Contains(line, s) {
				l.mu.Unlock()
				return
			}
		}
		l.mu.Unlock()
		time.Sleep(delay)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Fatalf("no log line contains %q; log: %q", s, l.lines)
}

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func newTestServer(t *testing.T, size int) (*Server, *logBuf) {
	t.Helper()
	log := &logBuf{}
	s, err := NewServer(size, testSecret, log.logf)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, log
}

func dialAll(t *testing.T, s *Server) []*Client {
	t.Helper()
	cs := make([]*Client, s.Size())
	for r := range cs {
		c, err := Dial(s.Addr(), testSecret, r)
		if err != nil {
			t.Fatalf("dial rank %d: %v", r, err)
		}
		t.Cleanup(func() { c.Close() })
		cs[r] = c
	}
	return cs
}

// parallel runs fn for every client at once and returns the errors by rank.
func parallel(cs []*Client, fn func(c *Client) error) []error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(c)
		}()
	}
	wg.Wait()
	return errs
}

func noErrors(t *testing.T, what string, errs []error) {
	t.Helper()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("%s: rank %d: %v", what, r, err)
		}
	}
}

// nextEvent returns the next event, failing after a deadline.
func nextEvent(t *testing.T, s *Server) Event {
	t.Helper()
	select {
	case ev := <-s.Events():
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return Event{}
}

func TestPutGetFence(t *testing.T) {
	const n = 8
	s, _ := newTestServer(t, n)
	cs := dialAll(t, s)
	noErrors(t, "round", parallel(cs, func(c *Client) error {
		if c.Size() != n {
			return fmt.Errorf("size %d, want %d", c.Size(), n)
		}
		for round := range 3 {
			key := fmt.Sprintf("card/%d/%d", round, c.Rank())
			if err := c.Put(key, []byte(fmt.Sprintf("addr-%d-%d", round, c.Rank()))); err != nil {
				return err
			}
			if err := c.Fence(); err != nil {
				return err
			}
			for peer := range n {
				v, err := c.Get(fmt.Sprintf("card/%d/%d", round, peer))
				if err != nil {
					return err
				}
				if want := fmt.Sprintf("addr-%d-%d", round, peer); string(v) != want {
					return fmt.Errorf("get peer %d: %q, want %q", peer, v, want)
				}
			}
		}
		_, err := c.Get("no/such/key")
		if err == nil || !strings.Contains(err.Error(), `"no/such/key"`) {
			return fmt.Errorf("get of a missing key: err %v, want one naming the key", err)
		}
		if err := c.Put("empty", nil); err != nil {
			return err
		}
		if v, err := c.Get("empty"); err != nil || len(v) != 0 {
			return fmt.Errorf("get of an empty value: %q, %v", v, err)
		}
		return c.Finalize()
	}))
	counts := map[EventType]int{}
	for range 2 * n {
		counts[nextEvent(t, s).Type]++
	}
	if counts[EventConnected] != n || counts[EventFinalized] != n {
		t.Fatalf("events %v, want %d connected and %d finalized", counts, n, n)
	}
	for r := range n {
		if st := s.State(r); !st.Connected || !st.Finalized || st.Aborted {
			t.Fatalf("rank %d state %+v", r, st)
		}
	}
	if err := cs[0].Fence(); err == nil || !strings.Contains(err.Error(), "after Finalize") {
		t.Fatalf("fence after finalize: %v", err)
	}
}

func TestStrangers(t *testing.T) {
	hello := func(mac []byte) []byte {
		b, err := Marshal(&Msg{Op: OpHello, Rank: 0, Nonce: make([]byte, nonceLen), MAC: mac})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	huge := make([]byte, 4)
	binary.BigEndian.PutUint32(huge, 1<<30)
	tests := []struct {
		name  string
		bytes []byte
		log   string
	}{
		{"http", []byte("GET / HTTP/1.0\r\n\r\n"), "exceeds the size limit"},
		{"huge length", huge, "exceeds the size limit"},
		{"zero length", []byte{0, 0, 0, 0}, "empty message"},
		{"junk body", []byte{0, 0, 0, 3, 0xc1, 0xc1, 0xc1}, "malformed"},
		{"short MAC", hello(make([]byte, 5)), "MAC of 5 bytes"},
		{"wrong MAC", hello(make([]byte, macLen)), "wrong job secret"},
		{"truncated", []byte{0, 0, 0, 40, 1, 2}, "unexpected EOF"},
	}
	s, log := newTestServer(t, 2)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			br := bufio.NewReader(conn)
			if m, err := Decode(br, MaxHandshake); err != nil || m.Op != OpChallenge {
				t.Fatalf("first message: %v, %v; want a challenge", m, err)
			}
			conn.Write(tc.bytes)
			if tc.name == "truncated" {
				conn.(*net.TCPConn).CloseWrite()
			}
			// The stranger gets nothing more: the server closes.
			if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
				t.Fatalf("stranger got %q, %v; want nothing", rest, err)
			}
			log.waitFor(t, tc.log)
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		_, err := Dial(s.Addr(), []byte("not the secret"), 0)
		if err == nil {
			t.Fatal("dial with a wrong secret succeeded")
		}
		log.waitFor(t, "wrong job secret")
	})
	// The job is undisturbed: both ranks still connect and fence.
	cs := dialAll(t, s)
	noErrors(t, "fence after strangers", parallel(cs, func(c *Client) error { return c.Fence() }))
	if ev := nextEvent(t, s); ev.Type != EventConnected {
		t.Fatalf("first event %v, want connected (strangers make no events)", ev.Type)
	}
}

func TestRefusedRanks(t *testing.T) {
	s, _ := newTestServer(t, 2)
	c, err := Dial(s.Addr(), testSecret, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		rank int
		want string
	}{
		{1, "rank 1 has already connected"},
		{2, "rank 2 is outside the job of 2 ranks"},
		{-1, "negative rank"},
	}
	for _, tc := range tests {
		_, err := Dial(s.Addr(), testSecret, tc.rank)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("dial rank %d: %v, want %q", tc.rank, err, tc.want)
		}
	}
}

func TestImpostorServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		writeMsg(conn, &Msg{Op: OpChallenge, Nonce: make([]byte, nonceLen)})
		Decode(conn, MaxHandshake)
		writeMsg(conn, &Msg{Op: OpWelcome, Size: 4, MAC: make([]byte, macLen)})
		io.Copy(io.Discard, conn)
	}()
	_, err = Dial(ln.Addr().String(), testSecret, 0)
	if err == nil || !strings.Contains(err.Error(), "does not know the job secret") {
		t.Fatalf("dial an impostor: %v", err)
	}
}

func TestAbort(t *testing.T) {
	s, _ := newTestServer(t, 3)
	cs := dialAll(t, s)
	for range 3 {
		nextEvent(t, s)
	}
	if err := cs[1].Abort(3, "boom"); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, s)
	if ev.Type != EventAborted || ev.Rank != 1 || ev.Code != 3 || ev.Msg != "boom" {
		t.Fatalf("event %+v, want rank 1 aborted with code 3 and msg boom", ev)
	}
	if st := s.State(1); !st.Aborted || st.Code != 3 || st.Msg != "boom" {
		t.Fatalf("state %+v", st)
	}
}

// An Abort that names a lost peer carries it to the launcher; one naming
// itself or a rank outside the job names none.
func TestAbortLost(t *testing.T) {
	tests := []struct {
		name       string
		rank, lost int
		want       int
	}{
		{"peer", 1, 2, 2},
		{"rank 0", 2, 0, 0},
		{"none", 1, -1, -1},
		{"itself", 1, 1, -1},
		{"outside the job", 0, 3, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newTestServer(t, 3)
			cs := dialAll(t, s)
			for range 3 {
				nextEvent(t, s)
			}
			if err := cs[tc.rank].AbortLost(1, "peer is gone", tc.lost); err != nil {
				t.Fatal(err)
			}
			ev := nextEvent(t, s)
			if ev.Type != EventAborted || ev.Rank != tc.rank || ev.Lost != tc.want {
				t.Fatalf("event %+v, want rank %d aborted naming lost rank %d", ev, tc.rank, tc.want)
			}
			if st := s.State(tc.rank); !st.Aborted || st.Lost != tc.want {
				t.Fatalf("state %+v, want Lost %d", st, tc.want)
			}
		})
	}
}

func TestReport(t *testing.T) {
	s, _ := newTestServer(t, 4)
	cs := dialAll(t, s)
	block := make(chan struct{})
	cs[0].OnReport(func() string { return "Recv comm=world src=1 tag=7 for 2s" })
	cs[1].OnReport(func() string { return "Fence" })
	cs[3].OnReport(func() string { <-block; return "late" })
	// Rank 2 sets no function; rank 3 does not answer in time.
	reps := s.Report(2 * time.Second)
	want := []struct {
		text, err string
	}{
		{"Recv comm=world src=1 tag=7 for 2s", ""},
		{"Fence", ""},
		{"no report function set", ""},
		{"", "no answer within 2s"},
	}
	for r, w := range want {
		got := reps[r]
		if got.Rank != r || !strings.Contains(got.Text, w.text) || (w.text == "" && got.Text != "") {
			t.Errorf("rank %d report %+v, want text %q", r, got, w.text)
		}
		if (got.Err == nil) != (w.err == "") || (got.Err != nil && !strings.Contains(got.Err.Error(), w.err)) {
			t.Errorf("rank %d report error %v, want %q", r, got.Err, w.err)
		}
	}
	// Rank 3 answers now (its late answer to the first request is
	// dropped); rank 1 is gone.
	close(block)
	cs[1].Close()
	reps = s.Report(10 * time.Second)
	texts := []string{"Recv comm=world", "", "no report function set", "late"}
	for r, w := range texts {
		if r == 1 {
			if reps[1].Err == nil {
				t.Errorf("rank 1 closed, yet report %+v", reps[1])
			}
			continue
		}
		if reps[r].Err != nil || !strings.Contains(reps[r].Text, w) {
			t.Errorf("rank %d second report %+v, want %q", r, reps[r], w)
		}
	}
}

func TestDisconnect(t *testing.T) {
	s, _ := newTestServer(t, 3)
	cs := dialAll(t, s)
	errs := make(chan error, 2)
	for _, c := range cs[:2] {
		go func() { errs <- c.Fence() }()
	}
	// Rank 2 leaves instead of fencing; the others must not hang.
	for range 3 {
		nextEvent(t, s)
	}
	cs[2].Close()
	for range 2 {
		select {
		case err := <-errs:
			if err == nil || !strings.Contains(err.Error(), "rank 2 left the job") {
				t.Fatalf("fence: %v, want rank 2 left the job", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("fence hangs after a rank left")
		}
	}
	ev := nextEvent(t, s)
	if ev.Type != EventDisconnected || ev.Rank != 2 || ev.Finalized {
		t.Fatalf("event %+v, want rank 2 disconnected without finalize", ev)
	}
	if err := cs[0].Fence(); err == nil {
		t.Fatal("fence after a rank left succeeded")
	}
}

func TestMismatchedBarrier(t *testing.T) {
	s, _ := newTestServer(t, 2)
	cs := dialAll(t, s)
	errs := parallel(cs, func(c *Client) error {
		if c.Rank() == 0 {
			return c.Fence()
		}
		// Rank 1 comes second, once rank 0 waits in the fence.
		for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
			s.mu.Lock()
			n := len(s.barWait)
			s.mu.Unlock()
			if n == 1 {
				break
			}
			time.Sleep(delay)
		}
		return c.Finalize()
	})
	for r, err := range errs {
		if err == nil || !strings.Contains(err.Error(), "rank 1 called Finalize while rank(s) 0 wait in Fence") {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
}

func TestServerClose(t *testing.T) {
	s, _ := newTestServer(t, 2)
	cs := dialAll(t, s)
	got := make(chan error, 1)
	go func() { got <- cs[0].Fence() }()
	s.Close()
	select {
	case <-cs[0].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server closed")
	}
	if err := <-got; !errors.Is(err, ErrLost) {
		t.Fatalf("fence when the server closed: %v, want ErrLost", err)
	}
	if _, err := cs[1].Get("x"); !errors.Is(err, ErrLost) {
		t.Fatalf("get after the server closed: %v, want ErrLost", err)
	}
	if !errors.Is(cs[1].Err(), ErrLost) {
		t.Fatalf("Err %v", cs[1].Err())
	}
	n := 0
	for range s.Events() {
		n++
	}
	if n != 4 {
		t.Fatalf("%d events, want 2 connected and 2 disconnected", n)
	}
}

func TestLimits(t *testing.T) {
	s, _ := newTestServer(t, 1)
	c := dialAll(t, s)[0]
	if err := c.Put(strings.Repeat("k", MaxKey+1), nil); err == nil {
		t.Fatal("put of an over-long key succeeded")
	}
	if err := c.Put("big", make([]byte, MaxMessage)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("put of an over-large value: %v", err)
	}
	if err := c.Put("ok", bytes.Repeat([]byte{7}, MaxMessage-100)); err != nil {
		t.Fatal(err)
	}
	if err := c.Fence(); err != nil {
		t.Fatal(err)
	}
	if v, err := c.Get("ok"); err != nil || len(v) != MaxMessage-100 {
		t.Fatalf("get: %d bytes, %v", len(v), err)
	}
	if _, err := NewServer(0, testSecret, nil); err == nil {
		t.Fatal("NewServer of size 0 succeeded")
	}
	if _, err := NewServer(1, nil, nil); err == nil {
		t.Fatal("NewServer without a secret succeeded")
	}
}

// BenchmarkWireUp measures one wire-up round of 8 ranks over loopback:
// every rank puts its card, fences, and gets every peer's card.
func BenchmarkWireUp(b *testing.B) {
	const n = 8
	s, err := NewServer(n, testSecret, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(""); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	cs := make([]*Client, n)
	for r := range cs {
		if cs[r], err = Dial(s.Addr(), testSecret, r); err != nil {
			b.Fatal(err)
		}
		defer cs[r].Close()
	}
	card := bytes.Repeat([]byte{1}, 64)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		errs := parallel(cs, func(c *Client) error {
			if err := c.Put(fmt.Sprintf("card/%d", c.Rank()), card); err != nil {
				return err
			}
			if err := c.Fence(); err != nil {
				return err
			}
			for p := range n {
				if _, err := c.Get(fmt.Sprintf("card/%d", p)); err != nil {
					return err
				}
			}
			return nil
		})
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
