package tcp

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// silentStrangers opens n connections to addr that never say a word, and
// counts those the far end closes.
type silentStrangers struct {
	conns  []net.Conn
	closed atomic.Int32
	wg     sync.WaitGroup
}

func newSilentStrangers(t *testing.T, addr string, n int) *silentStrangers {
	t.Helper()
	s := &silentStrangers{}
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		s.conns = append(s.conns, c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				s.closed.Add(1)
			}
		}()
	}
	t.Cleanup(s.close)
	return s
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func (s *silentStrangers) close() {
	for _, c := range s.conns {
		c.Close()
	}
	s.wg.Wait()
}

// waitClosed waits until n of the strangers were closed by the far end.
func (s *silentStrangers) waitClosed(t *testing.T, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for d := time.Millisecond; int(s.closed.Load()) < n; d = min(2*d, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d silent connections closed by the rank, want %d", s.closed.Load(), len(s.conns), n)
		}
		time.Sleep(d)
	}
}

// TestPendingBound: a rank keeps at most MaxPending accepted connections
// in handshake (by default the job size plus 64); those beyond are closed at
// once, and the real ranks connect once the strangers are gone.
func TestPendingBound(t *testing.T) {
	w := newWorld(t, 2, newSecret(), func(c *Config) { c.HandshakeTimeout = time.Minute })
	const n, bound = 100, 2 + 64
	s := newSilentStrangers(t, w.trs[0].Addr().String(), n)
	s.waitClosed(t, n-bound, 20*time.Second)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra closure to show
	if got := int(s.closed.Load()); got != n-bound {
		t.Errorf("%d silent connections closed at once, want %d (the bound is %d)", got, n-bound, bound)
	}
	w.logs[0].waitLine(t, "dropped connection from 127.0.0.1:", "66 connections already in handshake")
	s.close()
	if _, err := w.trs[1].Endpoint(0, w.trs[0].Address()); err != nil {
		t.Fatalf("rank 1 cannot reach rank 0 after the strangers left: %v", err)
	}
}

var summaryRE = regexp.MustCompile(`^… and (\d+) more unauthenticated connections from 127\.0\.0\.1 dropped$`)

// TestStrangerLogBounded: a flood of connections that never authenticate
// is logged in at most strangerBurst lines and one summary, which accounts
// for every one of them.
func TestStrangerLogBounded(t *testing.T) {
	w := newWorld(t, 2, newSecret(), func(c *Config) { c.HandshakeTimeout = 100 * time.Millisecond })
	const n = 300
	s := newSilentStrangers(t, w.trs[0].Addr().String(), n)
	s.waitClosed(t, n, 30*time.Second)
	w.trs[0].Close() // waits for its goroutines and flushes the count
	w.logs[0].mu.Lock()
	lines := append([]string(nil), w.logs[0].lines...)
	w.logs[0].mu.Unlock()
	full, summed := 0, 0
	for _, l := range lines {
		if m := summaryRE.FindStringSubmatch(l); m != nil {
			k, _ := strconv.Atoi(m[1])
			summed += k
			continue
		}
		if strings.Contains(l, "127.0.0.1:") {
			full++
		}
	}
	if len(lines) > strangerBurst+1 {
		t.Errorf("%d lines for %d strangers, want at most %d:\n%s", len(lines), n, strangerBurst+1, strings.Join(lines[:min(len(lines), 20)], "\n"))
	}
	if full+summed != n {
		t.Errorf("%d lines and a count of %d for %d strangers:\n%s", full, summed, n, strings.Join(lines[:min(len(lines), 20)], "\n"))
	}
}
