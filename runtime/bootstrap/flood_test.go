package bootstrap

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

// silent opens n connections to addr that never answer the challenge and
// counts those the server closes; it returns the count and a function
// that waits until want of them are closed (failing after within).
func silent(t *testing.T, addr string, n int) (closed *atomic.Int32, wait func(want int, within time.Duration)) {
	t.Helper()
	closed = new(atomic.Int32)
	var wg sync.WaitGroup
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			buf := make([]byte, 512)
			for {
				if _, err := c.Read(buf); err != nil {
					if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
						closed.Add(1)
					}
					return
				}
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
		wg.Wait()
	})
	wait = func(want int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for d := time.Millisecond; int(closed.Load()) < want; d = min(2*d, 50*time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d silent connections closed by the server, want %d", closed.Load(), n, want)
			}
			time.Sleep(d)
		}
	}
	return closed, wait
}

// TestPendingBound: the service keeps at most the job size + 64
// connections in handshake; those beyond are closed at once.
func TestPendingBound(t *testing.T) {
	s, err := NewServer(2, testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.HandshakeTimeout = time.Minute
	if err := s.Listen(""); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n, bound = 100, 2 + 64
	closed, wait := silent(t, s.Addr(), n)
	wait(n-bound, 20*time.Second)
	time.Sleep(100 * time.Millisecond) // room for a wrong extra closure to show
	if got := int(closed.Load()); got != n-bound {
		t.Errorf("%d silent connections closed at once, want %d", got, n-bound)
	}
}

var summaryRE = regexp.MustCompile(`^… and (\d+) more unauthenticated connections from 127\.0\.0\.1 dropped$`)

// TestStrangerLogBounded: 300 connections that never answer make at most
// 10 lines and a summary that counts every one.
func TestStrangerLogBounded(t *testing.T) {
	log := &logBuf{}
	s, err := NewServer(2, testSecret, log.logf)
	if err != nil {
		t.Fatal(err)
	}
	s.HandshakeTimeout = 100 * time.Millisecond
	if err := s.Listen(""); err != nil {
		t.Fatal(err)
	}
	const n = 300
	_, wait := silent(t, s.Addr(), n)
	wait(n, 30*time.Second)
	s.Close()
	log.mu.Lock()
	lines := append([]string(nil), log.lines...)
	log.mu.Unlock()
	full, summed := 0, 0
	for _, l := range lines {
		if m := summaryRE.FindStringSubmatch(l); m != nil {
			k, _ := strconv.Atoi(m[1])
			summed += k
		} else if strings.Contains(l, "127.0.0.1:") {
			full++
		}
	}
	if len(lines) > 11 || full+summed != n {
		t.Errorf("%d lines (%d in full, a count of %d) for %d strangers, want at most 11 accounting for all:\n%s",
			len(lines), full, summed, n, strings.Join(lines[:min(len(lines), 15)], "\n"))
	}
}
