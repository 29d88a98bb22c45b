package pmi2

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// value makes a distinct test value of n bytes for rank r.
func value(r, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r*31 + i*7 + i>>8)
	}
	return b
}

func TestExchange(t *testing.T) {
	sizes := []int{0, 1, 700, 767, 768, 5000, 40000} // around the one-key limit, and chunked
	s := newFakeServer(t, 4)
	s.mapping = "(vector,(0,2,2))"
	longKey := strings.Repeat("k", 100) + ";=odd"
	err := runTasks(t, s, func(c *Client) error {
		r := c.Rank()
		if c.Size() != 4 || c.JobID() != "77.0" {
			return fmt.Errorf("rank %d: size %d job %q", r, c.Size(), c.JobID())
		}
		env := c.Env()
		if env.NodeID != r/2 || env.LocalRank != r%2 || env.LocalSize != 2 || env.Rank != r || env.Size != 4 {
			return fmt.Errorf("rank %d: env %+v", r, env)
		}
		for _, n := range sizes {
			if err := c.Put(fmt.Sprintf("card/%d/%d", r, n), value(r, n)); err != nil {
				return err
			}
		}
		if err := c.Put(longKey+strconv.Itoa(r), []byte{byte(r)}); err != nil {
			return err
		}
		if err := c.Fence(); err != nil {
			return err
		}
		for peer := range 4 {
			for _, n := range sizes {
				got, err := c.Get(fmt.Sprintf("card/%d/%d", peer, n))
				if err != nil {
					return err
				}
				if !bytes.Equal(got, value(peer, n)) {
					return fmt.Errorf("rank %d: value %d/%d differs", r, peer, n)
				}
			}
			got, err := c.Get(longKey + strconv.Itoa(peer))
			if err != nil || !bytes.Equal(got, []byte{byte(peer)}) {
				return fmt.Errorf("rank %d: long key of %d: %v %v", r, peer, got, err)
			}
		}
		if _, err := c.Get("never/put"); err == nil || !strings.Contains(err.Error(), `get "never/put": no task put it`) {
			return fmt.Errorf("missing key: error %v", err)
		}
		sec, err := c.SharedSecret("mpx/secret")
		if err != nil || len(sec) != 32 {
			return fmt.Errorf("rank %d: secret %x, %v", r, sec, err)
		}
		if err := c.Put(fmt.Sprintf("sec/%d", r), sec); err != nil {
			return err
		}
		if err := c.Fence(); err != nil {
			return err
		}
		other, err := c.Get(fmt.Sprintf("sec/%d", (r+1)%4))
		if err != nil || !bytes.Equal(other, sec) {
			return fmt.Errorf("rank %d: secrets differ: %x vs %x (%v)", r, sec, other, err)
		}
		if err := c.Finalize(); err != nil {
			return err
		}
		if err := c.Fence(); err == nil {
			return errors.New("fence after Finalize succeeded")
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			return errors.New("Done not closed after Finalize")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished != 4 || s.fences != 4 { // exchange, secret, sec/, finalize
		t.Fatalf("server saw %d finalizes and %d fences, want 4 and 4", s.finished, s.fences)
	}
}

func TestNoMapping(t *testing.T) {
	s := newFakeServer(t, 2)
	err := runTasks(t, s, func(c *Client) error {
		env := c.Env()
		if env.NodeID != c.Rank() || env.LocalRank != 0 || env.LocalSize != 1 {
			return fmt.Errorf("without a mapping: env %+v", env)
		}
		return c.Finalize()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestHandshakeErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(s *fakeServer)
		want  string
	}{
		{"init refused", func(s *fakeServer) { s.initRC = "1" }, "refused PMI version 2.0 (rc=1"},
		{"fullinit refused", func(s *fakeServer) { s.fullinitRC = "3" }, "fullinit failed (rc=3)"},
		{"rank mismatch", func(s *fakeServer) { s.rankOffset = 1 }, "calls this task rank 1, but its environment says 0"},
		{"bad mapping", func(s *fakeServer) { s.mapping = "(vector,(0,x,1))" }, "PMI_process_mapping"},
		{"dropped", func(s *fakeServer) { s.dropAfter = 1 }, "connection to the process manager lost"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newFakeServer(t, 2)
			tc.setup(s)
			_, err := New(s.connect(0), 0, s.jobID)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLostMidJob(t *testing.T) {
	s := newFakeServer(t, 1)
	s.dropAfter = 4 // fullinit, job-getid, getjobattr, one put
	c, err := New(s.connect(0), 0, s.jobID)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Put("a", []byte("x")); err != nil {
		t.Fatal(err)
	}
	err = c.Fence()
	if !errors.Is(err, ErrLost) {
		t.Fatalf("fence on a dropped socket: %v, want ErrLost", err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if !errors.Is(c.Err(), ErrLost) {
		t.Fatalf("Err() = %v", c.Err())
	}
}

func TestAbort(t *testing.T) {
	s := newFakeServer(t, 1)
	c, err := New(s.connect(0), 0, s.jobID)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Abort(3, "bad; input\nhere"); err != nil {
		t.Fatal(err)
	}
	c.Close() // the server has read the abort by the time it sees EOF
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := append([]string(nil), s.aborts...)
		s.mu.Unlock()
		if len(got) == 1 {
			if got[0] != "TRUE rank 0 exit code 3: bad  input here" {
				t.Fatalf("abort seen as %q", got[0])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server saw aborts %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestOpen runs the session over a real socketpair named by PMI_FD, as
// slurmstepd hands it to a task.
func TestOpen(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	srvFile := os.NewFile(uintptr(fds[1]), "server")
	srvConn, err := net.FileConn(srvFile)
	srvFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := newFakeServer(t, 3)
	s.mapping = "(vector,(0,1,3))"
	go s.serve(srvConn, 2)
	env := map[string]string{EnvFD: strconv.Itoa(fds[0]), EnvRank: "2", EnvSize: "3", EnvJobID: "77.0"}
	getenv := func(k string) string { return env[k] }
	if !Detect(getenv) {
		t.Fatal("Detect = false with PMI_FD, PMI_RANK and PMI_SIZE set")
	}
	c, err := Open(getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if e := c.Env(); e.Rank != 2 || e.Size != 3 || e.LocalRank != 2 || e.LocalSize != 3 || e.NodeID != 0 {
		t.Fatalf("env %+v", e)
	}
	if err := c.Put("x", []byte("y")); err != nil {
		t.Fatal(err)
	}
}

func TestOpenEnvErrors(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{EnvFD: "x", EnvRank: "0", EnvSize: "1"}, "PMI_FD=\"x\" is not a file descriptor"},
		{map[string]string{EnvFD: "3", EnvRank: "-1", EnvSize: "1"}, "PMI_RANK=\"-1\""},
		{map[string]string{EnvFD: "3", EnvRank: "1", EnvSize: "1"}, "PMI_SIZE=\"1\""},
	}
	for _, tc := range tests {
		_, err := Open(func(k string) string { return tc.env[k] })
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%v) error = %v, want %q", tc.env, err, tc.want)
		}
	}
	if Detect(func(k string) string { return map[string]string{EnvRank: "0", EnvSize: "1"}[k] }) {
		t.Error("Detect = true without PMI_FD")
	}
}

func TestParseProcessMapping(t *testing.T) {
	tests := []struct {
		s    string
		size int
		want []int
		err  string
	}{
		{"(vector,(0,2,2))", 4, []int{0, 0, 1, 1}, ""},
		{"(vector,(0,2,1))", 4, []int{0, 1, 0, 1}, ""},
		{"(vector,(0,1,3),(1,1,1))", 4, []int{0, 0, 0, 1}, ""},
		{"(vector, (0,3,1))", 2, []int{0, 1}, ""},
		{"(vector,(0,1,1))", 1, []int{0}, ""},
		{"(vector,(2,2,2))", 5, []int{2, 2, 3, 3, 2}, ""},
		{"", 2, nil, "want (vector"},
		{"(vector,)", 2, nil, "no blocks"},
		{"(vector,(0,1))", 2, nil, "three numbers"},
		{"(vector,(0,0,1))", 2, nil, "empty block"},
		{"(vector,(0,1,1)", 2, nil, "unclosed block"},
		{"(vector,(0,1,1)x)", 2, nil, "want a (node,count,ppn) block"},
		{"(vector,(a,1,1))", 2, nil, "not a count"},
		{"(vector,(0,1,1))", 0, nil, "job size 0"},
	}
	for _, tc := range tests {
		got, err := ParseProcessMapping(tc.s, tc.size)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseProcessMapping(%q, %d) error = %v, want %q", tc.s, tc.size, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseProcessMapping(%q, %d) = %v, %v; want %v", tc.s, tc.size, got, err, tc.want)
		}
	}
}

func TestWire(t *testing.T) {
	b, err := encode("kvs-put", Pair{"key", "a"}, Pair{"value", "x;y"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "29    cmd=kvs-put;key=a;value=x;;y;" {
		t.Fatalf("encoded %q", b)
	}
	c, err := readCommand(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "kvs-put" || !reflect.DeepEqual(c.Pairs, []Pair{{"key", "a"}, {"value", "x;y"}}) {
		t.Fatalf("decoded %+v", c)
	}
	bad := []struct {
		in, want string
	}{
		{"abcdef", "length field"},
		{"99999999", "length field"},
		{"10    cmd=x;", "cut short"},
		{"4     rc=0", "does not start with cmd="},
		{"5     cmd=;", "does not start with cmd="},
		{"8     cmd=x;yy", "want key=value"},
		{"9     cmd=x;=y;", "want key=value"},
	}
	for _, tc := range bad {
		_, err := readCommand(strings.NewReader(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrProtocol) {
			t.Errorf("readCommand(%q) error = %v, want ErrProtocol with %q", tc.in, err, tc.want)
		}
	}
	for _, p := range []Pair{{"", "v"}, {"a=b", "v"}, {strings.Repeat("k", 65), "v"}, {"k", strings.Repeat("v", 1025)}} {
		if _, err := encode("kvs-put", p); err == nil {
			t.Errorf("encode accepted pair %q=%q", truncate(p.Key), truncate(p.Value))
		}
	}
}

// Seeds are real Slurm and Hydra responses.
var seedResponses = []string{
	"cmd=fullinit-response;rc=0;pmi-version=2;pmi-subversion=0;rank=0;size=4;appnum=-1;debugged=FALSE;pmiverbose=FALSE;",
	"cmd=job-getid-response;rc=0;jobid=1234.0;",
	"cmd=kvs-put-response;rc=0;",
	"cmd=kvs-fence-response;rc=0;",
	"cmd=kvs-fence-response;rc=1;errmsg=mpi/pmi2: failed to send temp kvs;",
	"cmd=kvs-get-response;rc=0;found=TRUE;value=vAAEC;",
	"cmd=kvs-get-response;rc=0;found=FALSE;",
	"cmd=info-getjobattr-response;rc=0;found=TRUE;value=(vector,(0,2,2));",
	"cmd=finalize-response;rc=0;",
}

func FuzzReadCommand(f *testing.F) {
	for _, s := range seedResponses {
		f.Add([]byte(fmt.Sprintf("%-6d%s", len(s), s)))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := readCommand(bytes.NewReader(in))
		if err != nil {
			return
		}
		if c.Name == "" {
			t.Fatalf("empty command name from %q", in)
		}
		// What decodes re-encodes to something that decodes the same.
		b, err := encode(c.Name, c.Pairs...)
		if err != nil {
			return // keys or values past the limits the client sends
		}
		c2, err := readCommand(bytes.NewReader(b))
		if err != nil || c2.Name != c.Name || !reflect.DeepEqual(c2.Pairs, c.Pairs) {
			t.Fatalf("round trip of %q: %+v vs %+v (%v)", in, c, c2, err)
		}
	})
}

func FuzzParseProcessMapping(f *testing.F) {
	for _, s := range []string{"(vector,(0,2,2))", "(vector,(0,1,3),(1,1,1))", "(vector,(0,4,1))"} {
		f.Add(s, 4)
	}
	f.Fuzz(func(t *testing.T, s string, size int) {
		if size > 4096 {
			size %= 4096
		}
		nodes, err := ParseProcessMapping(s, size)
		if err != nil {
			return
		}
		if len(nodes) != size {
			t.Fatalf("%q size %d: %d nodes", s, size, len(nodes))
		}
		for _, n := range nodes {
			if n < 0 {
				t.Fatalf("%q: negative node", s)
			}
		}
	})
}
