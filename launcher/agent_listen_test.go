package launcher

import (
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// listenAgentHost runs ServeAgents on ip:port until the test ends.
func listenAgentHost(t *testing.T, ip string, port int, cfg AgentConfig) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, itoa(port)))
	if err != nil {
		t.Fatalf("listen %s:%d: %v", ip, port, err)
	}
	cfg.Node = ip
	if cfg.Secret == nil {
		cfg.Secret = agentSecret
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		ServeAgents(ln, cfg)
	}()
	t.Cleanup(func() {
		ln.Close()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("ServeAgents did not return after its listener closed")
		}
	})
	return ln
}

// idleConns opens n connections to addr that never say a word.
func idleConns(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}

// heldJob is an authenticated launcher link kept alive, as a job that runs.
func heldJob(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l, err := handshake(c, agentSecret, "launcher", "launcher", true)
	if err != nil {
		c.Close()
		t.Fatalf("first job's handshake: %v", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			if _, err := l.recv(); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tk.C:
				l.ping()
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		c.Close()
		wg.Wait()
	})
}

// TestServeAgentsConcurrent: connections that say nothing, and a job that
// runs, do not keep a pre-started agent from serving another job.
func TestServeAgentsConcurrent(t *testing.T) {
	tests := []struct {
		name  string
		idle  int  // silent connections to each agent before the job
		other bool // another job holds each agent meanwhile
	}{
		{"three idle connections", 3, false},
		{"a job running", 0, true},
		{"both", 5, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			for _, ip := range []string{"127.0.0.1", "127.0.0.2"} {
				ln := listenAgentHost(t, ip, port, AgentConfig{})
				idleConns(t, ln.Addr().String(), tc.idle)
				if tc.other {
					heldJob(t, ln.Addr().String())
				}
			}
			st := &AgentStarter{AgentPort: port, AgentSecret: agentSecret, Stderr: io.Discard}
			r := twoNodeJob(t, st, 4)
			if r.err != nil || r.res.ExitCode != 0 {
				t.Fatalf("job: %v %+v\nstderr: %s", r.err, r.res, r.stderr)
			}
		})
	}
}

// TestServeAgentsBusy: beyond MaxPending connections in handshake, a
// launcher is told the agent is busy.
func TestServeAgentsBusy(t *testing.T) {
	ln := listenAgentHost(t, "127.0.0.1", 0, AgentConfig{MaxPending: 4})
	idleConns(t, ln.Addr().String(), 4)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = handshake(c, agentSecret, "launcher", "launcher", true)
	if err == nil || !strings.Contains(err.Error(), "busy") || !strings.Contains(err.Error(), "4 connections") {
		t.Fatalf("handshake with a full agent: %v, want a busy message counting 4 connections", err)
	}
	if errors.Is(err, errAgentFrame) {
		t.Errorf("busy reported as a malformed frame: %v", err)
	}
}

// TestServeAgentsStrangerLog: connections that send garbage are logged at
// most 10 lines a minute; a summary counts the rest.
func TestServeAgentsStrangerLog(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	logf := func(format string, args ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	const n = 40
	ln := listenAgentHost(t, "127.0.0.1", 0, AgentConfig{Logf: logf})
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{0xff, 0xff, 0xff, 0xff}) // a frame far too long
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		io.ReadAll(c) // until the agent hangs up
		c.Close()
	}
	ln.Close() // ServeAgents returns (the cleanup waits) and flushes the count
	deadline := time.Now().Add(15 * time.Second)
	re := regexp.MustCompile(`^… and (\d+) more refused connections from 127\.0\.0\.1 dropped$`)
	for {
		mu.Lock()
		got := append([]string(nil), lines...)
		mu.Unlock()
		full, summed := 0, 0
		for _, l := range got {
			if m := re.FindStringSubmatch(l); m != nil {
				k, _ := strconv.Atoi(m[1])
				summed += k
			} else if strings.Contains(l, "frame length") {
				full++
			}
		}
		if full+summed == n && len(got) <= 11 {
			return
		}
		if len(got) > 11 || time.Now().After(deadline) {
			t.Fatalf("%d lines (%d in full, a count of %d) for %d strangers, want at most 11 accounting for all:\n%s",
				len(got), full, summed, n, strings.Join(got[:min(len(got), 15)], "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
