package launcher

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAgentAnswersState drives an in-process agent by hand: it starts a
// process, is asked for its state while it sleeps and after a SIGSTOP, and
// for a rank it does not run.
func TestAgentAnswersState(t *testing.T) {
	a, b := tcpPair(t)
	secret := []byte("0123456789abcdef-state-test")
	served := make(chan error, 1)
	go func() {
		served <- ServeAgent(b, AgentConfig{Node: "n1", Secret: secret, Logf: t.Logf, Accepted: true})
	}()
	l, err := handshake(a, secret, "launcher", "launcher", true)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	stopPing := make(chan struct{})
	defer close(stopPing)
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopPing:
				return
			case <-tk.C:
				l.ping()
			}
		}
	}()
	// await returns the next message of op, skipping heartbeats and logs.
	await := func(op agentOp) *agentMsg {
		t.Helper()
		a.SetReadDeadline(time.Now().Add(20 * time.Second))
		for {
			m, err := l.recv()
			if err != nil {
				t.Fatalf("waiting for op %d: %v", op, err)
			}
			if m.Op == op {
				return m
			}
			if m.Op == opLog {
				t.Logf("agent: %s", m.Text)
			}
		}
	}
	if err := l.send(&agentMsg{Op: opStart, Spec: &agentSpec{Rank: 2, JobID: "statetest", Path: "/bin/sleep", Args: []string{"30"}, BindTo: BindNone}}); err != nil {
		t.Fatal(err)
	}
	pid := await(opStarted).Pid
	var seq uint64
	ask := func(rank int, want byte) *agentMsg {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			seq++
			if err := l.send(&agentMsg{Op: opState, Rank: rank, Seq: seq}); err != nil {
				t.Fatal(err)
			}
			m := await(opStateReply)
			if m.Seq != seq || m.Rank != rank {
				t.Fatalf("reply %+v to request %d about rank %d", m, seq, rank)
			}
			if m.State == want || time.Now().After(deadline) {
				return m
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tests := []struct {
		name   string
		signal syscall.Signal // sent to the rank first
		rank   int
		state  byte
		sig    int
		pid    int
		text   string
	}{
		{"sleeping", 0, 2, 'S', 0, pid, ""},
		{"stopped", syscall.SIGSTOP, 2, 'T', int(syscall.SIGSTOP), pid, ""},
		{"unknown rank", 0, 5, 0, 0, 0, "rank 5 has no process on n1"},
	}
	for _, tc := range tests {
		if tc.signal != 0 {
			if err := l.send(&agentMsg{Op: opSignal, Rank: tc.rank, Sig: int(tc.signal)}); err != nil {
				t.Fatal(err)
			}
		}
		m := ask(tc.rank, tc.state)
		if m.State != tc.state || m.Sig != tc.sig || m.Pid != tc.pid || m.Text != tc.text {
			t.Errorf("%s: reply state %q sig %d pid %d text %q, want %q %d %d %q", tc.name, m.State, m.Sig, m.Pid, m.Text, tc.state, tc.sig, tc.pid, tc.text)
		}
	}
	if err := l.send(&agentMsg{Op: opShutdown}); err != nil {
		t.Fatal(err)
	}
	await(opBye)
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("agent: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not end after shutdown")
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("process %d outlived the agent", pid)
	}
}

// TestAgentTimeoutNamesStoppedRank: a rank on another node's agent that
// stopped itself is described in the --timeout report as one on the
// launcher's node is: its state, stop signal, pid and node.
func TestAgentTimeoutNamesStoppedRank(t *testing.T) {
	port := freePort(t)
	startAgentHost(t, "127.0.0.1", port, agentSecret, nil)
	startAgentHost(t, "127.0.0.2", port, agentSecret, nil)
	st := &AgentStarter{AgentPort: port, AgentSecret: agentSecret, Stderr: &lockedBuffer{}}
	hosts := []Host{{Name: "127.0.0.1", Slots: 2}, {Name: "127.0.0.2", Slots: 2}}
	jm, err := MapRanks(hosts, MapOptions{NP: 4})
	if err != nil {
		t.Fatal(err)
	}
	st.Map, st.Via = jm, "listen"
	// The rank to stop is one the map puts on the second node.
	stopped := jm.Nodes[1].Ranks[0]
	r := runJob(t, Config{NP: 4, Hosts: hosts, Starter: st, KVAddr: "127.0.0.1:0", Timeout: 4 * time.Second,
		Args: []string{"-mode", "stop", "-rank", fmt.Sprint(stopped)}})
	if r.err != nil || r.res.ExitCode != 124 {
		t.Fatalf("result %+v, %v; stderr:\n%s", r.res, r.err, r.stderr)
	}
	re := regexp.MustCompile(fmt.Sprintf(`(?m)^mpx: rank %d on host 127\.0\.0\.2 \(pid [1-9]\d*\): stopped by signal 19 \(SIGSTOP\); no report: no answer within 1s$`, stopped))
	if !re.MatchString(r.stderr) {
		t.Errorf("stderr lacks %s:\n%s", re, r.stderr)
	}
	for rank := range 4 {
		if rank != stopped && !strings.Contains(r.stderr, fmt.Sprintf("mpx: rank %d on host ", rank)) {
			t.Errorf("stderr lacks a report of rank %d:\n%s", rank, r.stderr)
		}
	}
}

// TestAgentProcState: the launcher's side of a state request, against a
// fake agent that answers, answers that it could not read the state, or
// stays silent (after which the node's next requests fail at once).
func TestAgentProcState(t *testing.T) {
	secret := []byte("0123456789abcdef-state-test")
	for _, tc := range []struct {
		name  string
		reply func(req *agentMsg) *agentMsg // nil: no answer
		want  ProcState
		errs  []string // the errors of two requests in a row; "" for none
	}{
		{"stopped", func(q *agentMsg) *agentMsg {
			return &agentMsg{Op: opStateReply, Rank: q.Rank, Seq: q.Seq, Pid: 42, State: 'T', CPU: 7, Sig: 19}
		}, ProcState{PID: 42, State: 'T', CPU: 7, StopSignal: syscall.SIGSTOP}, []string{"", ""}},
		{"unreadable", func(q *agentMsg) *agentMsg {
			return &agentMsg{Op: opStateReply, Rank: q.Rank, Seq: q.Seq, Pid: 42, Text: "no such file"}
		}, ProcState{PID: 42}, []string{"on node n9: no such file", "on node n9: no such file"}},
		{"silent", nil, ProcState{}, []string{"the agent on node n9 did not answer within 300ms",
			"the agent on node n9 did not answer an earlier request"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tcpPair(t)
			defer a.Close()
			defer b.Close()
			agentSide := make(chan *agentLink, 1)
			go func() {
				l, err := handshake(b, secret, "agent", "n9", false)
				if err != nil {
					t.Error(err)
				}
				agentSide <- l
			}()
			l, err := handshake(a, secret, "launcher", "launcher", true)
			if err != nil {
				t.Fatal(err)
			}
			al := <-agentSide
			if al == nil {
				t.FailNow()
			}
			go func() {
				for {
					m, err := al.recv()
					if err != nil {
						return
					}
					if m.Op == opState && tc.reply != nil {
						al.send(tc.reply(m))
					}
				}
			}()
			l.timeout = 300 * time.Millisecond
			n := &agentNode{s: &AgentStarter{Stderr: &lockedBuffer{}}, name: "n9", link: l, procs: map[int]*agentProc{},
				left: 1, bye: make(chan struct{}), heard: make(chan struct{}, 1)}
			p := &agentProc{node: n, rank: 3, done: make(chan struct{})}
			n.procs[3] = p
			go n.readLoop()
			for i, wantErr := range tc.errs {
				st, err := p.State()
				switch {
				case wantErr == "" && err != nil:
					t.Errorf("request %d: %v", i, err)
				case wantErr != "" && (err == nil || err.Error() != wantErr):
					t.Errorf("request %d: error %v, want %q", i, err, wantErr)
				case st != tc.want:
					t.Errorf("request %d: %+v, want %+v", i, st, tc.want)
				}
			}
			n.mu.Lock()
			n.closed = true // the connection's end is no loss
			n.mu.Unlock()
		})
	}
}
