package launcher

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/param"
)

func TestAgentMsgRoundTrip(t *testing.T) {
	msgs := []*agentMsg{
		{Op: opHello, Role: "agent", Nonce: bytes.Repeat([]byte{1}, 32), Node: "n1", Version: agentProtoVersion, Every: 5, Timeout: 9},
		{Op: opStart, Spec: &agentSpec{Rank: 3, JobID: "j", Path: "/bin/true", Args: []string{"a"}, Env: []string{"A=1"}, LocalRank: 1, LocalSize: 2, BindTo: BindCore}},
		{Op: opOutput, Rank: 2, Stream: 2, Data: []byte("line\n")},
		{Op: opExit, Rank: 1, Sig: 9},
		{Op: opStage, Name: "prog", Mode: 0o755, Data: []byte{0, 1}, Last: true},
		{Op: opState, Rank: 3, Seq: 7},
		{Op: opStateReply, Rank: 3, Seq: 7, Pid: 99, State: 'T', CPU: 12, Sig: 19},
	}
	var b bytes.Buffer
	for _, m := range msgs {
		if err := writeAgentMsg(&b, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range msgs {
		got, err := readAgentMsg(&b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	if _, err := readAgentMsg(&b); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
	bad := map[string][]byte{
		"zero length":   {0, 0, 0, 0},
		"huge length":   {0xff, 0, 0, 0},
		"not msgpack":   {0, 0, 0, 1, 0xc1},
		"unknown op":    append([]byte{0, 0, 0, 3}, 0x81, 0xa1, 'o')[:7],
		"start no rank": frame(t, map[string]any{"o": int(opStart)}),
		"op past opMax": frame(t, map[string]any{"o": int(opMax) + 1}),
	}
	for name, in := range bad {
		if _, err := readAgentMsg(bytes.NewReader(in)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func frame(t *testing.T, v map[string]any) []byte {
	var b bytes.Buffer
	m := &agentMsg{Op: agentOp(v["o"].(int))}
	if err := writeAgentMsg(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func FuzzReadAgentMsg(f *testing.F) {
	for _, m := range []*agentMsg{
		{Op: opHello, Role: "launcher", Nonce: make([]byte, 32), Version: agentProtoVersion, Every: 1, Timeout: 2},
		{Op: opStart, Spec: &agentSpec{Rank: 1, Path: "/x", Env: []string{"A=B"}}},
		{Op: opOutput, Rank: 1, Stream: 1, Data: []byte("out")},
		{Op: opPing},
		{Op: opStateReply, Rank: 1, Seq: 2, Pid: 3, State: 'S'},
	} {
		var b bytes.Buffer
		writeAgentMsg(&b, m)
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := readAgentMsg(bytes.NewReader(in))
		if err != nil {
			return
		}
		if m.Op < opHello || m.Op > opMax || (m.Op == opStart && m.Spec == nil) {
			t.Fatalf("accepted %+v", m)
		}
		var b bytes.Buffer
		if err := writeAgentMsg(&b, m); err != nil {
			t.Fatalf("re-encoding %+v: %v", m, err)
		}
	})
}

func TestHandshake(t *testing.T) {
	tests := []struct {
		name             string
		lSecret, aSecret string
		lRole, aRole     string
		wantL, wantA     string
		agentDials       bool // the agent opened the connection (started by ssh or srun)
	}{
		{"good", "s3cret", "s3cret", "launcher", "agent", "", "", false},
		{"good, agent dials", "s3cret", "s3cret", "launcher", "agent", "", "", true},
		{"wrong secret", "s3cret", "other", "launcher", "agent", "does not know the same secret", "does not know the job secret", false},
		{"wrong secret, agent dials", "s3cret", "other", "launcher", "agent", "does not know the job secret", "does not know the same secret", true},
		{"two launchers", "s", "s", "launcher", "launcher", "EOF", `peer says it is "launcher", want "agent"`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			defer a.Close()
			defer b.Close()
			errA := make(chan error, 1)
			go func() {
				l, err := handshake(b, []byte(tc.aSecret), tc.aRole, "n1", tc.agentDials)
				if err == nil && l.peer != "launcher" {
					err = errors.New("agent sees peer " + l.peer)
				}
				if err != nil {
					b.Close()
				}
				errA <- err
			}()
			l, err := handshake(a, []byte(tc.lSecret), tc.lRole, "launcher", !tc.agentDials)
			if err != nil {
				a.Close()
			}
			aerr := <-errA
			check := func(side string, err error, want string) {
				if want == "" {
					if err != nil {
						t.Errorf("%s: %v", side, err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %v, want an error containing %q", side, err, want)
				}
			}
			check("launcher", err, tc.wantL)
			check("agent", aerr, tc.wantA)
			if tc.wantL == "" && l.peer != "n1" {
				t.Errorf("launcher sees peer %q", l.peer)
			}
			if tc.wantL != "" && (err == nil || aerr == nil) {
				t.Errorf("a bad handshake succeeded on one side: launcher %v, agent %v", err, aerr)
			}
		})
	}
}

// tcpPair is a connected pair of loopback TCP connections (net.Pipe has
// no buffering, and both ends of a handshake write first).
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return a, <-ch
}

// agentHost is an in-process pre-started agent on a loopback address.
type agentHost struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	errs  chan error
}

func startAgentHost(t *testing.T, ip string, port int, secret []byte, proxy func(net.Conn) net.Conn) *agentHost {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, itoa(port)))
	if err != nil {
		t.Fatalf("listen %s:%d: %v", ip, port, err)
	}
	h := &agentHost{ln: ln, errs: make(chan error, 4)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if proxy != nil {
				c = proxy(c)
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
			go func() {
				h.errs <- ServeAgent(c, AgentConfig{Node: ip, Secret: secret, Logf: t.Logf, Accepted: true})
			}()
		}
	}()
	return h
}

func (h *agentHost) closeConns() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
}

// freePort finds a port free on both loopback addresses the tests use.
func freePort(t *testing.T) int {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if ln2, err := net.Listen("tcp", net.JoinHostPort("127.0.0.2", itoa(port))); err == nil {
			ln2.Close()
			return port
		}
	}
	t.Fatal("no port free on 127.0.0.1 and 127.0.0.2")
	return 0
}

func twoNodeJob(t *testing.T, st *AgentStarter, np int, args ...string) jobRun {
	t.Helper()
	hosts := []Host{{Name: "127.0.0.1", Slots: 2}, {Name: "127.0.0.2", Slots: 2}}
	jm, err := MapRanks(hosts, MapOptions{NP: np})
	if err != nil {
		t.Fatal(err)
	}
	st.Map, st.Via = jm, "listen"
	return runJob(t, Config{NP: np, Hosts: hosts, Starter: st, KVAddr: "127.0.0.1:0", Args: args})
}

var agentSecret = []byte("0123456789abcdef-agent-test")

func TestAgentJob(t *testing.T) {
	port := freePort(t)
	a1 := startAgentHost(t, "127.0.0.1", port, agentSecret, nil)
	a2 := startAgentHost(t, "127.0.0.2", port, agentSecret, nil)
	var msgs lockedBuffer
	st := &AgentStarter{AgentPort: port, AgentSecret: agentSecret, Stderr: &msgs, DisplayMap: true,
		ReportBindings: true, BindTo: BindNone, Preload: true, PreloadFiles: []string{"agent.go"}}
	r := twoNodeJob(t, st, 4, "-env", "MPX_NODE_ID,MPX_LOCAL_RANK", "-pwd")
	if r.err != nil || r.res.ExitCode != 0 {
		t.Fatalf("job: %v %+v\nstderr: %s", r.err, r.res, r.stderr)
	}
	for _, want := range []string{"MPX_NODE_ID=0", "MPX_NODE_ID=1", "MPX_LOCAL_RANK=1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "mpx-stage-"); n != 4 {
		t.Errorf("%d ranks ran in a stage directory, want 4:\n%s", n, r.stdout)
	}
	if !strings.Contains(msgs.String(), "Data for node: 127.0.0.2") || strings.Count(msgs.String(), "is not bound") != 4 {
		t.Errorf("map and bindings not reported:\n%s", msgs.String())
	}
	// Each agent ended its part of the job cleanly, leaving no stage dir.
	for _, h := range []*agentHost{a1, a2} {
		select {
		case err := <-h.errs:
			if err != nil {
				t.Errorf("agent: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("agent did not end after the job")
		}
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if i := strings.Index(line, "/"); i >= 0 && strings.Contains(line, "mpx-stage-") {
			dir := strings.TrimSpace(line[i:])
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stage dir %s left behind (%v)", dir, err)
			}
		}
	}
}

func TestAgentWrongSecret(t *testing.T) {
	port := freePort(t)
	startAgentHost(t, "127.0.0.1", port, agentSecret, nil)
	startAgentHost(t, "127.0.0.2", port, []byte("another secret of 16+ bytes"), nil)
	st := &AgentStarter{AgentPort: port, AgentSecret: agentSecret, Stderr: io.Discard}
	r := twoNodeJob(t, st, 4)
	if r.err == nil || !strings.Contains(r.err.Error(), "127.0.0.2") || !strings.Contains(r.err.Error(), "secret") {
		t.Fatalf("error %v, want one naming 127.0.0.2 and the secret", r.err)
	}
}

// TestAgentKilled ends a node's agent in the middle of a job: the job stops
// with a message naming the node.
func TestAgentKilled(t *testing.T) {
	port := freePort(t)
	startAgentHost(t, "127.0.0.1", port, agentSecret, nil)
	a2 := startAgentHost(t, "127.0.0.2", port, agentSecret, nil)
	st := &AgentStarter{AgentPort: port, AgentSecret: agentSecret, Stderr: io.Discard}
	time.AfterFunc(1500*time.Millisecond, a2.closeConns)
	start := time.Now()
	r := twoNodeJob(t, st, 4, "-mode", "hang", "-rank", "0")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.ExitCode == 0 || !strings.Contains(r.res.Summary, "node 127.0.0.2: the agent's connection ended") {
		t.Fatalf("result %+v, want a failure naming node 127.0.0.2\nstderr: %s", r.res, r.stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("job took %v to stop", d)
	}
}

// frozenProxy relays a connection through a pipe pair it can freeze, as a
// link that goes down without closing anything.
type frozenProxy struct {
	frozen atomic.Bool
}

func (p *frozenProxy) wrap(c net.Conn) net.Conn {
	inner, outer := net.Pipe()
	relay := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil {
				return
			}
			if p.frozen.Load() {
				continue // dropped on the floor
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
	}
	go relay(inner, c)
	go relay(c, inner)
	return &addrConn{Conn: outer, remote: c.RemoteAddr()}
}

// addrConn keeps the real peer address on a piped connection.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (a *addrConn) RemoteAddr() net.Addr { return a.remote }

// TestAgentLinkDown freezes a node's link: heartbeats stop, the launcher
// names the node within the timeout, and the agent stops its ranks.
func TestAgentLinkDown(t *testing.T) {
	for name, v := range map[string]string{"launcher_heartbeat": "200ms", "launcher_heartbeat_timeout": "1500ms"} {
		if err := param.Set(name, v); err != nil {
			t.Fatal(err)
		}
		defer param.Unset(name)
	}
	port := freePort(t)
	startAgentHost(t, "127.0.0.1", port, agentSecret, nil)
	px := &frozenProxy{}
	a2 := startAgentHost(t, "127.0.0.2", port, agentSecret, px.wrap)
	st := &AgentStarter{AgentPort: port, AgentSecret: agentSecret, Stderr: io.Discard}
	time.AfterFunc(1500*time.Millisecond, func() { px.frozen.Store(true) })
	r := twoNodeJob(t, st, 4, "-mode", "hang", "-rank", "0")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.ExitCode == 0 || !strings.Contains(r.res.Summary, "node 127.0.0.2: no heartbeat from its agent") {
		t.Fatalf("result %+v, want a failure naming node 127.0.0.2\nstderr: %s", r.res, r.stderr)
	}
	select {
	case err := <-a2.errs:
		if err == nil || !strings.Contains(err.Error(), "no word from the launcher") {
			t.Errorf("agent ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cut-off agent did not stop")
	}
}

func TestAgentFinishCleans(t *testing.T) {
	job := "agenttest" + itoa(os.Getpid())
	shm := filepath.Join("/dev/shm", "mpx-"+job+"-0")
	if err := os.WriteFile(shm, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stage := filepath.Join(dir, "stage")
	os.Mkdir(stage, 0o700)
	a := &agent{procs: map[int]*agentRank{}, jobID: job, stageDir: stage}
	a.finish()
	for _, p := range []string{shm, stage} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			os.Remove(shm)
			t.Errorf("%s left after finish (%v)", p, err)
		}
	}
}

// TestRemoteScript runs the script ssh would run, with a node that lacks
// mpx: it asks for the binary, stores what follows the secret, and runs
// it with the agent's arguments intact.
func TestRemoteScript(t *testing.T) {
	fake := "#!/bin/sh\necho \"$@\" \"$MPX_AGENT_SECRET\"\n"
	script := agentRemoteScript(selfBinary{path: "/nonexistent/it's here/mpx", sum: strings.Repeat("0", 64), size: int64(len(fake))},
		[]string{"--node", "a b", "--connect", "x;y"})
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir(), "PATH=/usr/bin:/bin")
	cmd.Stdin = strings.NewReader("s3cret\n" + fake)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, out)
	}
	want := "MPX-NEED\nagent --self-delete --node a b --connect x;y s3cret\n"
	if string(out) != want {
		t.Fatalf("script printed %q, want %q", out, want)
	}
}

func TestReachableFirst(t *testing.T) {
	addrs := []string{"192.0.2.77:9", "127.0.0.1:9"}
	// 127.0.0.1 is on lo's 127.0.0.0/8, which also holds 127.0.0.5.
	if got := reachableFirst(addrs, "127.0.0.5"); len(got) != 1 || got[0] != "127.0.0.1:9" {
		t.Errorf("host on loopback: got %v, want only 127.0.0.1:9", got)
	}
	// A host on no subnet of this machine: every address, in order.
	if got := reachableFirst(addrs, "203.0.113.9"); len(got) != 2 || got[0] != addrs[0] {
		t.Errorf("routed host: got %v, want %v", got, addrs)
	}
}
