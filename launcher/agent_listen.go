package launcher

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/mpx-hpc/mpx/internal/ratelog"
)

// defaultMaxPending is how many connections a pre-started agent keeps in
// handshake at once: far more than launchers start jobs at the same
// moment, few enough that strangers cannot exhaust its file descriptors.
const defaultMaxPending = 32

// ServeAgents serves the launchers that connect to ln (mpx agent
// --listen), each job on its own goroutine, until ln is closed; it then
// waits for the jobs under way to end. A connection that does not finish
// its handshake within the handshake's deadline is dropped; beyond
// cfg.MaxPending connections in handshake, a new one is told the agent is
// busy and closed. Refused connections are logged at a bounded rate.
func ServeAgents(ln net.Listener, cfg AgentConfig) error {
	if cfg.Node == "" {
		cfg.Node, _ = os.Hostname()
	}
	if cfg.Logf == nil {
		cfg.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "mpx agent: "+format+"\n", args...)
		}
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = defaultMaxPending
	}
	cfg.Accepted = true
	strangers := ratelog.New(10, time.Minute, "refused connections", cfg.Logf)
	defer strangers.Close()
	var (
		mu      sync.Mutex
		pending int
		wg      sync.WaitGroup
	)
	defer wg.Wait()
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Out of file descriptors and the like: the jobs under way
			// go on; new ones wait.
			cfg.Logf("accept: %v", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		mu.Lock()
		full := pending >= cfg.MaxPending
		if !full {
			pending++
		}
		mu.Unlock()
		if full {
			// Say so without waiting on a peer that may not read.
			conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			writeAgentMsg(conn, &agentMsg{Op: opLog, Text: fmt.Sprintf("agent on %s is busy: %d connections are in handshake (try again)", cfg.Node, cfg.MaxPending)})
			conn.Close()
			strangers.Logf(host, "refused a connection from %s: %d connections already in handshake", conn.RemoteAddr(), cfg.MaxPending)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			jcfg := cfg
			var once sync.Once
			done := func() {
				once.Do(func() {
					mu.Lock()
					pending--
					mu.Unlock()
				})
			}
			defer done()
			jcfg.handshook = done
			err := ServeAgent(conn, jcfg)
			var he *handshakeError
			switch {
			case errors.As(err, &he):
				if !errors.Is(err, io.EOF) {
					strangers.Logf(host, "%v", err)
				}
			case err != nil:
				cfg.Logf("job from %s: %v", conn.RemoteAddr(), err)
			}
		}()
	}
}
