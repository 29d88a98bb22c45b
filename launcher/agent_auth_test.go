package launcher

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestAgentProvesLast: an agent answers a stranger's hello with its own
// nonce only; whatever the stranger sends as its proof, no proof of the
// agent (a MAC the stranger could pass on to a launcher) comes back.
func TestAgentProvesLast(t *testing.T) {
	tests := []struct {
		name  string
		proof func(agentHello *agentMsg) []byte
	}{
		{"no proof", nil},
		{"zero proof", func(*agentMsg) []byte { return make([]byte, 32) }},
		{"the agent's nonce back", func(h *agentMsg) []byte { return h.Nonce }},
		{"a MAC with another secret", func(h *agentMsg) []byte {
			return agentMAC([]byte("a guess of sixteen bytes"), "launcher", "agent", roleDialer, make([]byte, 32), h.Nonce)
		}},
	}
	ln := listenAgentHost(t, "127.0.0.1", 0, AgentConfig{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(15 * time.Second))
			chosen := make([]byte, 32) // the nonce a relay would pass on from a launcher
			if err := writeAgentMsg(c, &agentMsg{Op: opHello, Role: "launcher", Nonce: chosen, Node: "x", Version: agentProtoVersion}); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			hello, err := readAgentMsg(br)
			if err != nil || hello.Op != opHello {
				t.Fatalf("agent's first answer %+v, %v; want its hello", hello, err)
			}
			if tc.proof == nil {
				c.(*net.TCPConn).CloseWrite()
			} else if err := writeAgentMsg(c, &agentMsg{Op: opProof, MAC: tc.proof(hello)}); err != nil {
				t.Fatal(err)
			}
			for {
				m, err := readAgentMsg(br)
				if err != nil {
					break // the agent hung up: right
				}
				if m.Op == opProof || len(m.MAC) > 0 {
					t.Fatalf("the agent sent its proof %x to a caller that proved nothing", m.MAC)
				}
			}
		})
	}
}

// TestAgentReflection: a stranger that sends an agent its own messages back
// (hello and, were there one, proof) gets nowhere, on the same connection or
// across two.
func TestAgentReflection(t *testing.T) {
	ln := listenAgentHost(t, "127.0.0.1", 0, AgentConfig{})
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(15 * time.Second))
		return c, bufio.NewReader(c)
	}
	// Connection 1 gets the agent's nonce; connection 2 offers it as the
	// caller's nonce, hoping for a proof over it to replay on connection 1.
	c1, r1 := dial()
	mine := make([]byte, 32)
	rand.Read(mine)
	writeAgentMsg(c1, &agentMsg{Op: opHello, Role: "launcher", Nonce: mine, Version: agentProtoVersion})
	h1, err := readAgentMsg(r1)
	if err != nil {
		t.Fatal(err)
	}
	c2, r2 := dial()
	writeAgentMsg(c2, &agentMsg{Op: opHello, Role: "launcher", Nonce: h1.Nonce, Version: agentProtoVersion})
	h2, err := readAgentMsg(r2)
	if err != nil {
		t.Fatal(err)
	}
	// The agent's own hello, reflected with the role turned, as proof material.
	writeAgentMsg(c2, &agentMsg{Op: opProof, MAC: h2.Nonce})
	var got []*agentMsg
	for {
		m, err := readAgentMsg(r2)
		if err != nil {
			break
		}
		got = append(got, m)
	}
	for _, m := range got {
		if m.Op == opProof {
			// Reflect it on connection 1: it must not pass there either.
			writeAgentMsg(c1, m)
		}
	}
	c1.(*net.TCPConn).CloseWrite()
	for {
		m, err := readAgentMsg(r1)
		if err != nil {
			break
		}
		if m.Op != opLog {
			t.Fatalf("the agent took a reflected proof: it sent %+v", m)
		}
	}
	if len(got) > 0 {
		t.Errorf("the agent answered a false proof with %d messages, the first %+v", len(got), got[0])
	}
}

// tapProxy forwards between a launcher and a real agent, recording what
// the launcher sends, and can write its own bytes to the agent: a
// man in the middle that owns the port the launcher dials.
type tapProxy struct {
	ln   net.Listener
	mu   sync.Mutex
	tap  bytes.Buffer
	up   net.Conn // to the agent
	done chan struct{}
}

func startTapProxy(t *testing.T, agentAddr string) *tapProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tapProxy{ln: ln, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(p.done)
		down, err := ln.Accept()
		if err != nil {
			return
		}
		defer down.Close()
		up, err := net.Dial("tcp", agentAddr)
		if err != nil {
			return
		}
		defer up.Close()
		p.mu.Lock()
		p.up = up
		p.mu.Unlock()
		go func() {
			io.Copy(down, up)
			down.Close()
		}()
		buf := make([]byte, 4096)
		for {
			n, err := down.Read(buf)
			if n > 0 {
				p.mu.Lock()
				p.tap.Write(buf[:n])
				_, werr := up.Write(buf[:n])
				p.mu.Unlock()
				if werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return p
}

func (p *tapProxy) inject(b []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, err := p.up.Write(b)
	return err
}

func (p *tapProxy) tapped() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]byte(nil), p.tap.Bytes()...)
}

// TestAgentRelay: a man in the middle relaying a launcher's handshake to
// a real agent can neither read what the launcher then sends nor slip in a
// message of its own.
func TestAgentRelay(t *testing.T) {
	const marker = "MPX_JOB_SECRET_MARKER=5ec12e7"
	tests := []struct {
		name   string
		inject bool
	}{
		{"read the job", false},
		{"inject a rank", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := make(chan error, 1)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := ln.Accept()
				if err != nil {
					errs <- err
					return
				}
				errs <- ServeAgent(c, AgentConfig{Node: "real", Secret: agentSecret, Logf: t.Logf, Accepted: true})
			}()
			p := startTapProxy(t, ln.Addr().String())
			c, err := net.Dial("tcp", p.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			l, err := handshake(c, agentSecret, "launcher", "launcher", true)
			if err != nil {
				// Refusing the relayed handshake outright is a pass too.
				t.Logf("relayed handshake refused: %v", err)
				return
			}
			if !tc.inject {
				l.send(&agentMsg{Op: opStart, Spec: &agentSpec{Rank: 9, Path: "/nonexistent/prog", Env: []string{marker}}})
				deadline := time.Now().Add(10 * time.Second)
				for len(p.tapped()) == 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				// The agent answers (rank 9 cannot start): by then the
				// proxy has forwarded the whole frame.
				l.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				l.recv()
				if bytes.Contains(p.tapped(), []byte(marker)) {
					t.Fatalf("the relay read the job's environment in the clear")
				}
				return
			}
			var b bytes.Buffer
			writeAgentMsg(&b, &agentMsg{Op: opStart, Spec: &agentSpec{Rank: 7, Path: "/nonexistent/prog"}})
			if err := p.inject(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			l.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			for {
				m, err := l.recv()
				if err != nil {
					break
				}
				if (m.Op == opExit || m.Op == opStarted) && m.Rank == 7 {
					t.Fatalf("the agent acted on the relay's message: %+v", m)
				}
			}
			select {
			case err := <-errs:
				if err == nil {
					t.Errorf("the agent ended cleanly after a forged message")
				}
			case <-time.After(15 * time.Second):
				t.Errorf("the agent did not drop a link carrying a forged message")
			}
		})
	}
}

// FuzzAgentLinkRecv feeds arbitrary bytes to a sealed link: they are
// refused unless they open under the link's key, and what opens is a
// well-formed message.
func FuzzAgentLinkRecv(f *testing.F) {
	dn, an := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	seal, err := linkAEAD(agentSecret, roleDialer, dn, an)
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []*agentMsg{{Op: opPing}, {Op: opOutput, Rank: 1, Stream: 1, Data: []byte("out")}} {
		w := &agentLink{conn: nil, seal: seal}
		var b bytes.Buffer
		w.conn = &writeConn{&b}
		if err := w.send(m); err != nil {
			f.Fatal(err)
		}
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		open, _ := linkAEAD(agentSecret, roleDialer, dn, an)
		l := &agentLink{br: bufio.NewReader(bytes.NewReader(in)), open: open}
		m, err := l.recv()
		if err != nil {
			return
		}
		if m.Op < opHello || m.Op > opMax || (m.Op == opStart && m.Spec == nil) {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// writeConn is a net.Conn that only writes, to a buffer.
type writeConn struct{ w io.Writer }

func (c *writeConn) Write(b []byte) (int, error)      { return c.w.Write(b) }
func (c *writeConn) Read([]byte) (int, error)         { return 0, io.EOF }
func (c *writeConn) Close() error                     { return nil }
func (c *writeConn) LocalAddr() net.Addr              { return nil }
func (c *writeConn) RemoteAddr() net.Addr             { return nil }
func (c *writeConn) SetDeadline(time.Time) error      { return nil }
func (c *writeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *writeConn) SetWriteDeadline(time.Time) error { return nil }
