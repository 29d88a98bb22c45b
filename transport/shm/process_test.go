package shm

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/transport"
	"github.com/mpx-hpc/mpx/transport/transporttest"
)

// Multi-process tests re-execute the test binary as rank 1 of a two-rank
// job; the environment selects the child's role.
const (
	envRole   = "MPX_SHM_TEST_CHILD"
	envJob    = "MPX_SHM_TEST_JOB"
	envSecret = "MPX_SHM_TEST_SECRET"
	envPeer   = "MPX_SHM_TEST_PEER"
	envMode   = "MPX_SHM_TEST_MODE"
)

// Frames of the child protocol.
const (
	burstFrames   = 40 // fit in the default ring: the child exits at once
	tagStop       = -1 // Ctrl: close and exit 0
	tagExposeBack = 7  // single-copy RTS: fetch, then expose the copy back
)

func TestMain(m *testing.M) {
	if role := os.Getenv(envRole); role != "" {
		if err := runChild(role); err != nil {
			fmt.Fprintf(os.Stderr, "shm test child %s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childHandler queues frames for the child's loop; the child is single
// goroutine, so no locking. Payload buffers are reused per kind to keep the
// benchmarks free of allocation.
type childHandler struct {
	buf    []byte
	sink   []byte
	queue  []childFrame
	failed error
}

type childFrame struct {
	h       transport.Header
	payload []byte
}

// Alloc reuses one buffer while frames are answered one at a time, as in
// the ping-pong benchmarks, and allocates when several queue up.
func (h *childHandler) Alloc(hd *transport.Header) []byte {
	n := int(hd.PayloadLen())
	if hd.Kind == transport.KindData {
		// Consumed, never echoed: one sink buffer.
		if cap(h.sink) < n {
			h.sink = make([]byte, n)
		}
		return h.sink[:n]
	}
	if len(h.queue) > 0 {
		return make([]byte, n)
	}
	if cap(h.buf) < n {
		h.buf = make([]byte, n)
	}
	return h.buf[:n]
}
func (h *childHandler) Deliver(hd *transport.Header, p []byte) {
	h.queue = append(h.queue, childFrame{*hd, p})
}
func (h *childHandler) Fail(peer int, err error) { h.failed = err }

// runChild is rank 1. Roles:
//
//	echo: send every Eager frame back; consume Data frames; fetch the
//	      buffer of a single-copy RTS and answer Fin, or expose the copy
//	      back in an RTS if its tag is tagExposeBack; answer a Sync flag
//	      on other frames with a Fin.
//	hang: connect, then wait to be killed.
//	burst: send burstFrames frames, then exit without closing.
//	early: create the segment, connect to nobody, wait to be killed.
func runChild(role string) error {
	secret, err := hex.DecodeString(os.Getenv(envSecret))
	if err != nil {
		return err
	}
	h := &childHandler{}
	tr, err := New(Config{Rank: 1, Size: 2, JobID: os.Getenv(envJob), Secret: secret, Handler: h, SingleCopy: os.Getenv(envMode)})
	if err != nil {
		return err
	}
	defer tr.Close()
	if role == "early" {
		fmt.Printf("ADDR %s\n", tr.Address())
		time.Sleep(time.Minute)
		return errors.New("not killed")
	}
	if err := tr.ConnectAll(map[int]string{0: os.Getenv(envPeer), 1: tr.Address()}); err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", tr.Address())
	if role == "hang" {
		for {
			tr.Block(time.Second)
		}
	}
	if role == "burst" {
		ep, err := tr.Endpoint(0, os.Getenv(envPeer))
		if err != nil {
			return err
		}
		for i := 0; i < burstFrames; i++ {
			h := transport.Header{Kind: transport.KindEager, Source: 1, Seq: uint64(i), Len: 100}
			if err := ep.Send(&h, fill(make([]byte, 100), byte(i))); err != nil {
				return err
			}
		}
		os.Exit(0) // without Close: to its peer, an exit
	}
	if role != "echo" {
		return fmt.Errorf("unknown role %q", role)
	}
	ep, err := tr.Endpoint(0, os.Getenv(envPeer))
	if err != nil {
		return err
	}
	sc, _ := ep.(transport.SingleCopy)
	var fetched []byte
	end := time.Now().Add(5 * time.Minute)
	idle := 0
	// time.Now costs ~400ns on a kvm-clock VM: look at the clock rarely.
	for n := 0; n&4095 != 0 || time.Now().Before(end); n++ {
		if !tr.Poll() && len(h.queue) == 0 {
			if h.failed != nil {
				return h.failed
			}
			// Spin for a while (the latency benchmark's peer answers at
			// once), then sleep on the doorbell.
			if idle++; idle > spinPollsBeforeBlock {
				tr.Block(10 * time.Millisecond)
			}
			continue
		}
		idle = 0
		for len(h.queue) > 0 {
			f, payload := h.queue[0].h, h.queue[0].payload
			h.queue = h.queue[1:]
			f.Source = 1
			switch {
			case f.Kind == transport.KindCtrl && f.Tag == tagStop:
				return tr.Seal()
			case f.Kind == transport.KindRTS && f.Flags&transport.FlagSingleCopy != 0:
				if sc == nil {
					return errors.New("single-copy RTS on an endpoint without SingleCopy")
				}
				if cap(fetched) < int(f.Len) {
					fetched = make([]byte, f.Len)
				}
				fetched = fetched[:f.Len]
				if err := sc.Fetch(payload, fetched); err != nil {
					return err
				}
				if f.Tag == tagExposeBack {
					d, err := sc.Expose(fetched)
					if err != nil {
						return err
					}
					f.Seq = uint64(len(d))
					if err := ep.Send(&f, d); err != nil {
						return err
					}
					continue
				}
				// Release the sender's buffer, as the rendezvous protocol does.
				fin := transport.Header{Kind: transport.KindFin, Source: 1, SReq: f.SReq}
				if err := ep.Send(&fin, nil); err != nil {
					return err
				}
				continue
			case f.Kind == transport.KindEager:
				if err := ep.Send(&f, payload); err != nil {
					return err
				}
			}
			if f.Flags&transport.FlagSync != 0 {
				fin := transport.Header{Kind: transport.KindFin, Source: 1, SReq: f.SReq}
				if err := ep.Send(&fin, nil); err != nil {
					return err
				}
			}
		}
	}
	return errors.New("no stop frame within 5 minutes")
}

// spinPollsBeforeBlock is how long the benchmark's ranks poll before
// sleeping on the doorbell (the adaptive wait of comm's default), from
// MPX_SHM_TEST_SPIN; 0 spins forever.
var spinPollsBeforeBlock = func() int {
	if n, err := strconv.Atoi(os.Getenv("MPX_SHM_TEST_SPIN")); err == nil {
		if n == 0 {
			return math.MaxInt
		}
		return n
	}
	return 2000
}()

// child is a running rank 1.
type child struct {
	cmd  *exec.Cmd
	addr string
	done chan error
}

// startChild starts rank 1 in role for a job whose rank 0 is parent. It
// kills the child when the test ends.
func startChild(t testing.TB, role, job string, secret []byte, parent *Transport, mode string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if cpu := os.Getenv("MPX_SHM_TEST_CHILD_CPU"); cpu != "" {
		// Pin the child as mpirun --bind-to core pins ranks (compare.sh
		// pins the parent with taskset).
		cmd = exec.Command("taskset", "-c", cpu, os.Args[0], "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), envRole+"="+role, envJob+"="+job, envSecret+"="+hex.EncodeToString(secret), envMode+"="+mode)
	if parent != nil {
		cmd.Env = append(cmd.Env, envPeer+"="+parent.Address())
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan error, 1)}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		for sc.Scan() {
		}
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		select {
		case <-c.done:
		case <-time.After(deadline):
			t.Errorf("child pid %d not reaped", cmd.Process.Pid)
		}
	})
	select {
	case l, ok := <-lines:
		a, found := strings.CutPrefix(l, "ADDR ")
		if !ok || !found {
			t.Fatalf("child %s: no address line (got %q)", role, l)
		}
		c.addr = a
	case <-time.After(deadline):
		t.Fatalf("child %s: no address within %v", role, deadline)
	}
	return c
}

// wait waits for the child to exit and returns its error.
func (c *child) wait(t testing.TB) error {
	t.Helper()
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(deadline):
		t.Fatalf("child pid %d did not exit within %v", c.cmd.Process.Pid, deadline)
		return nil
	}
}

// parentOf makes rank 0 with handler h.
func parentOf(t testing.TB, job string, secret []byte, h transport.Handler, mode string) *Transport {
	t.Helper()
	tr, err := New(Config{Rank: 0, Size: 2, JobID: job, Secret: secret, Handler: h, SingleCopy: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func shmFiles(job string) []string {
	l, _ := filepath.Glob(filepath.Join(shmDir, segmentPrefix+job+"-*"))
	return l
}

// TestProcessesExchange sends frames of many sizes to a child process and
// checks its echo, exercises single copy both ways between the processes,
// and checks that nothing is left under /dev/shm after a normal end.
func TestProcessesExchange(t *testing.T) {
	for _, mode := range []string{"auto", "copy"} {
		t.Run(mode, func(t *testing.T) {
			job, secret := testJobID(), testSecret()
			rec := transporttest.NewRecorder()
			tr := parentOf(t, job, secret, rec, mode)
			c := startChild(t, "echo", job, secret, tr, mode)
			if err := tr.ConnectAll(map[int]string{1: c.addr}); err != nil {
				t.Fatal(err)
			}
			if err := tr.Seal(); err != nil {
				t.Fatal(err)
			}
			if l := shmFiles(job); len(l) != 0 {
				t.Errorf("segments left after both ranks connected and sealed: %v", l)
			}
			ep, err := tr.Endpoint(1, c.addr)
			if err != nil {
				t.Fatal(err)
			}
			sizes := []int{0, 8, 4000, 4040, 4041, 100 << 10, 3<<20 + 1}
			for i, n := range sizes {
				h := transport.Header{Kind: transport.KindEager, Source: 0, Tag: int32(i), Len: uint64(n)}
				if err := ep.Send(&h, fill(make([]byte, n), byte(i))); err != nil {
					t.Fatal(err)
				}
			}
			pollUntil(t, tr, "echoes", func() bool { return len(rec.Frames()) >= len(sizes) })
			for i, f := range rec.Frames() {
				if f.Header.Tag != int32(i) || f.Header.Source != 1 || !bytes.Equal(f.Payload, fill(make([]byte, sizes[i]), byte(i))) {
					t.Errorf("echo %d: header %v, %d bytes, or corrupted", i, &f.Header, len(f.Payload))
				}
			}

			path, why := Probe()
			sc, isSC := ep.(transport.SingleCopy)
			if mode == "copy" || path != "cma" {
				if isSC {
					t.Errorf("mode %s, Probe %s (%v): endpoint offers single copy", mode, path, why)
				}
			} else {
				if !isSC {
					t.Fatalf("Probe says cma but the endpoint to another process lacks SingleCopy")
				}
				src := fill(make([]byte, 5<<20+3), 77)
				d, err := sc.Expose(src)
				if err != nil {
					t.Fatal(err)
				}
				before := len(rec.Frames())
				h := transport.Header{Kind: transport.KindRTS, Flags: transport.FlagSingleCopy, Source: 0, Tag: tagExposeBack, Len: uint64(len(src)), Seq: uint64(len(d)), SReq: 5}
				if err := ep.Send(&h, d); err != nil {
					t.Fatal(err)
				}
				// The child fetched our buffer and exposes its copy back.
				pollUntil(t, tr, "the child's RTS", func() bool { return len(rec.Frames()) > before })
				f := rec.Frames()[before]
				if f.Header.Kind != transport.KindRTS || f.Header.Len != uint64(len(src)) {
					t.Fatalf("child answered %v", &f.Header)
				}
				got := make([]byte, len(src))
				if err := sc.Fetch(f.Payload, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, src) {
					t.Error("bytes fetched from the child's copy differ from the original")
				}
			}
			stop := transport.Header{Kind: transport.KindCtrl, Source: 0, Tag: tagStop}
			if err := ep.Send(&stop, nil); err != nil {
				t.Fatal(err)
			}
			if err := c.wait(t); err != nil {
				t.Fatalf("child: %v", err)
			}
			pollUntil(t, tr, "Fail for the closed child", func() bool { return len(rec.Fails(1)) > 0 })
			if f := rec.Fails(1); len(f) != 1 || !errors.Is(f[0], ErrPeerClosed) {
				t.Errorf("after the child closed: Fail calls %v, want one ErrPeerClosed", f)
			}
			tr.Close()
			if l := shmFiles(job); len(l) != 0 {
				t.Errorf("segments left after a normal end: %v", l)
			}
		})
	}
}

// TestProcessKilled kills a connected child with SIGKILL: the parent must
// report it through Fail and no file may be left; a child killed before it
// connected leaves its segment, which RemoveJob (the launcher's backstop)
// removes.
func TestProcessKilled(t *testing.T) {
	t.Run("after connecting", func(t *testing.T) {
		job, secret := testJobID(), testSecret()
		rec := transporttest.NewRecorder()
		tr := parentOf(t, job, secret, rec, "")
		c := startChild(t, "hang", job, secret, tr, "")
		if err := tr.ConnectAll(map[int]string{1: c.addr}); err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		pollUntil(t, tr, "Fail for the killed child", func() bool { return len(rec.Fails(1)) > 0 })
		if err := rec.Fails(1)[0]; !errors.Is(err, ErrPeerExited) {
			t.Errorf("Fail(1, %v), want ErrPeerExited", err)
		}
		ep, err := tr.Endpoint(1, c.addr)
		if err != nil {
			t.Fatal(err)
		}
		h := transport.Header{Kind: transport.KindEager, Source: 0}
		if err := ep.Send(&h, nil); !errors.Is(err, ErrPeerExited) {
			t.Errorf("Send to the killed child: %v, want ErrPeerExited", err)
		}
		// Neither rank sealed, but each segment's last opener removed its
		// name: nothing is left even if both ranks die now.
		if l := shmFiles(job); len(l) != 0 {
			t.Errorf("segments %v left once both ranks connected", l)
		}
		tr.Close()
		if l := shmFiles(job); len(l) != 0 {
			t.Errorf("segments left after a child was killed: %v", l)
		}
	})
	t.Run("before connecting", func(t *testing.T) {
		job, secret := testJobID(), testSecret()
		c := startChild(t, "early", job, secret, nil, "")
		c.cmd.Process.Signal(syscall.SIGKILL)
		var ee *exec.ExitError
		if err := c.wait(t); !errors.As(err, &ee) {
			t.Fatalf("child exit: %v", err)
		}
		if l := shmFiles(job); len(l) != 1 {
			t.Fatalf("segments %v, want the killed child's", l)
		}
		other := testJobID()
		keep, err := New(Config{Rank: 0, Size: 1, JobID: other, Handler: transporttest.NewRecorder()})
		if err != nil {
			t.Fatal(err)
		}
		defer keep.Close()
		n, err := RemoveJob(job)
		if err != nil || n != 1 {
			t.Errorf("RemoveJob = %d, %v; want 1 file removed", n, err)
		}
		if l := shmFiles(job); len(l) != 0 {
			t.Errorf("segments left after RemoveJob: %v", l)
		}
		if l := shmFiles(other); len(l) != 1 {
			t.Errorf("RemoveJob(%s) touched job %s: %v", job, other, l)
		}
	})
}

// TestProcessExitsAfterSending: frames a peer wrote before it exited are
// delivered, and only then is its exit reported.
func TestProcessExitsAfterSending(t *testing.T) {
	job, secret := testJobID(), testSecret()
	rec := transporttest.NewRecorder()
	tr := parentOf(t, job, secret, rec, "")
	c := startChild(t, "burst", job, secret, tr, "")
	if err := c.wait(t); err != nil {
		t.Fatalf("child: %v", err)
	}
	if err := tr.ConnectAll(map[int]string{1: c.addr}); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, tr, "Fail for the exited child", func() bool { return len(rec.Fails(1)) > 0 })
	frames := rec.Frames()
	if len(frames) != burstFrames {
		t.Fatalf("%d frames delivered before the exit was reported, want %d", len(frames), burstFrames)
	}
	for i, f := range frames {
		if f.Header.Seq != uint64(i) || !bytes.Equal(f.Payload, fill(make([]byte, 100), byte(i))) {
			t.Errorf("frame %d: %v or corrupted", i, &f.Header)
		}
	}
	if err := rec.Fails(1)[0]; !errors.Is(err, ErrPeerExited) {
		t.Errorf("Fail(1, %v), want ErrPeerExited", err)
	}
	if v := rec.Violations(); len(v) > 0 {
		t.Error(v)
	}
	tr.Close()
	checkNoResidue(t, job)
}
