package pmi2

import (
	"bufio"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer plays Slurm's mpi/pmi2 plugin for size tasks: it is as strict
// as Slurm where Slurm is strict (the init line read in one read of 64
// bytes, fullinit's three keys, no ';' in values, key and value limits).
type fakeServer struct {
	t       *testing.T
	size    int
	jobID   string
	mapping string // PMI_process_mapping; "" for none
	// initRC and fullinitRC, when not "0", make the server refuse.
	initRC, fullinitRC string
	// rankOffset is added to the rank the server reports (to test the
	// mismatch check).
	rankOffset int
	// dropAfter closes a connection after that many commands (0: never).
	dropAfter int

	mu       sync.Mutex
	kvs      map[string]string
	pending  map[string]string
	fenced   int
	fenceCh  chan struct{}
	aborts   []string
	finished int
	fences   int
}

func newFakeServer(t *testing.T, size int) *fakeServer {
	return &fakeServer{t: t, size: size, jobID: "77.0", initRC: "0", fullinitRC: "0",
		kvs: map[string]string{}, pending: map[string]string{}, fenceCh: make(chan struct{})}
}

func (s *fakeServer) respond(conn net.Conn, body string) {
	fmt.Fprintf(conn, "%-6d%s", len(body), body)
}

// serve handles one task's connection until it finalizes or drops.
func (s *fakeServer) serve(conn net.Conn, lrank int) {
	defer conn.Close()
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil {
		return
	}
	if string(buf[:n]) != initLine {
		s.t.Errorf("server: init line %q, want %q in one read", buf[:n], initLine)
		return
	}
	fmt.Fprintf(conn, "cmd=response_to_init rc=%s pmi_version=2 pmi_subversion=0\n", s.initRC)
	if s.initRC != "0" {
		return
	}
	br := bufio.NewReader(conn)
	for count := 1; ; count++ {
		if s.dropAfter > 0 && count > s.dropAfter {
			return
		}
		cmd, err := readCommand(br)
		if err != nil {
			return
		}
		for _, p := range cmd.Pairs {
			if len(p.Key) > maxKey || len(p.Value) > maxValue || strings.Contains(p.Value, ";") {
				s.t.Errorf("server: %s sent pair %q=%q that Slurm cannot take", cmd.Name, p.Key, truncate(p.Value))
			}
		}
		switch cmd.Name {
		case "fullinit":
			_, ok1 := cmd.Get("pmijobid")
			r, ok2 := cmd.Get("pmirank")
			_, ok3 := cmd.Get("threaded")
			if !ok1 || !ok2 || !ok3 {
				s.t.Errorf("server: fullinit without pmijobid, pmirank or threaded: %+v", cmd.Pairs)
			}
			if r != strconv.Itoa(lrank) {
				s.t.Errorf("server: fullinit pmirank=%s on connection %d", r, lrank)
			}
			s.respond(conn, fmt.Sprintf("cmd=fullinit-response;rc=%s;pmi-version=2;pmi-subversion=0;rank=%d;size=%d;appnum=-1;debugged=FALSE;pmiverbose=FALSE;",
				s.fullinitRC, lrank+s.rankOffset, s.size))
		case "job-getid":
			s.respond(conn, "cmd=job-getid-response;rc=0;jobid="+s.jobID+";")
		case "info-getjobattr":
			k, _ := cmd.Get("key")
			if k == "PMI_process_mapping" && s.mapping != "" {
				s.respond(conn, "cmd=info-getjobattr-response;rc=0;found=TRUE;value="+s.mapping+";")
			} else {
				s.respond(conn, "cmd=info-getjobattr-response;rc=0;found=FALSE;")
			}
		case "kvs-put":
			k, _ := cmd.Get("key")
			v, _ := cmd.Get("value")
			s.mu.Lock()
			s.pending[k] = v
			s.mu.Unlock()
			s.respond(conn, "cmd=kvs-put-response;rc=0;")
		case "kvs-fence":
			s.mu.Lock()
			s.fenced++
			ch := s.fenceCh
			if s.fenced == s.size {
				for k, v := range s.pending {
					s.kvs[k] = v
				}
				s.pending = map[string]string{}
				s.fenced = 0
				s.fences++
				s.fenceCh = make(chan struct{})
				close(ch)
			}
			s.mu.Unlock()
			<-ch
			s.respond(conn, "cmd=kvs-fence-response;rc=0;")
		case "kvs-get":
			k, _ := cmd.Get("key")
			if j, _ := cmd.Get("jobid"); j != s.jobID {
				s.t.Errorf("server: kvs-get jobid=%q, want %q", j, s.jobID)
			}
			s.mu.Lock()
			v, ok := s.kvs[k]
			s.mu.Unlock()
			if ok {
				s.respond(conn, "cmd=kvs-get-response;rc=0;found=TRUE;value="+v+";")
			} else {
				s.respond(conn, "cmd=kvs-get-response;rc=0;found=FALSE;")
			}
		case "finalize":
			s.mu.Lock()
			s.finished++
			s.mu.Unlock()
			s.respond(conn, "cmd=finalize-response;rc=0;")
			return
		case "abort":
			w, _ := cmd.Get("isworld")
			m, _ := cmd.Get("msg")
			s.mu.Lock()
			s.aborts = append(s.aborts, w+" "+m)
			s.mu.Unlock()
		default:
			s.t.Errorf("server: unexpected command %q", cmd.Name)
			return
		}
	}
}

// connect starts the server side of one task and returns the task's end.
func (s *fakeServer) connect(lrank int) net.Conn {
	a, b := net.Pipe()
	go s.serve(b, lrank)
	return a
}

// runTasks runs fn for each of the server's tasks concurrently, each with
// its own Client, and returns the first error.
func runTasks(t *testing.T, s *fakeServer, fn func(c *Client) error) error {
	t.Helper()
	errs := make(chan error, s.size)
	for r := 0; r < s.size; r++ {
		go func() {
			c, err := New(s.connect(r), r, s.jobID)
			if err != nil {
				errs <- fmt.Errorf("task %d: %w", r, err)
				return
			}
			defer c.Close()
			errs <- fn(c)
		}()
	}
	var first error
	timeout := time.After(20 * time.Second)
	for range s.size {
		select {
		case err := <-errs:
			if err != nil && first == nil {
				first = err
			}
		case <-timeout:
			t.Fatal("tasks did not finish in 20s")
		}
	}
	return first
}
