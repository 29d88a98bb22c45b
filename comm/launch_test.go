package comm_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Multi-process tests: real ranks started by the real launcher, over each
// transport. MPX_BIN names a built mpx (the test command sets it);
// otherwise the test builds one.

var (
	mpxOnce sync.Once
	mpxPath string
	mpxErr  error
)

func mpxBinary(t *testing.T) string {
	t.Helper()
	mpxOnce.Do(func() {
		if p := os.Getenv("MPX_BIN"); p != "" {
			mpxPath = p
			return
		}
		dir, err := os.MkdirTemp("", "mpx-bin-")
		if err != nil {
			mpxErr = err
			return
		}
		mpxPath = filepath.Join(dir, "mpx")
		out, err := exec.Command("go", "build", "-o", mpxPath, "../cmd/mpx").CombinedOutput()
		if err != nil {
			mpxErr = &buildError{out: string(out), err: err}
		}
	})
	if mpxErr != nil {
		t.Fatal(mpxErr)
	}
	return mpxPath
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return "building mpx: " + e.err.Error() + "\n" + e.out }

// mpxRun runs `mpx run args...` with a deadline, killing the whole process
// group it started if the deadline passes.
func mpxRun(t *testing.T, deadline time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, mpxBinary(t), append([]string{"run"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpx run %s: still running after %v; output:\n%s", strings.Join(args, " "), deadline, out)
	}
	return string(out), err
}

func TestLaunchedPointToPoint(t *testing.T) {
	for _, tr := range []string{"tcp", "shm"} {
		t.Run(tr, func(t *testing.T) {
			out, err := mpxRun(t, 3*time.Minute, "-n", "4", "--oversubscribe", "--timeout", "150s",
				"--param", "transport="+tr, "./testdata/p2pcheck", "-messages", "1000")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "p2pcheck: 4 ranks, 1000 messages checked: ok") {
				t.Fatalf("no success line in:\n%s", out)
			}
		})
	}
}

// Every collective between processes, against a serial oracle: the world
// and a split of it, non-power-of-two sizes, over each transport.
func TestLaunchedCollectives(t *testing.T) {
	for _, tc := range []struct {
		transport string
		ranks     string
	}{
		{"shm", "4"},
		{"tcp", "5"},
	} {
		t.Run(tc.transport+"/"+tc.ranks, func(t *testing.T) {
			out, err := mpxRun(t, 4*time.Minute, "-n", tc.ranks, "--oversubscribe", "--timeout", "200s",
				"--param", "transport="+tc.transport, "./testdata/collcheck", "-counts", "0,1,7,1000,300000")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if !strings.Contains(out, "collcheck: "+tc.ranks+" ranks, 130 collective results checked: ok") {
				t.Fatalf("no success line in:\n%s", out)
			}
		})
	}
}

// A rank that panics under `defer world.Finalize()` while its peers wait
// for it: the stack is shown and the job ends, instead of every rank
// waiting in Finalize or Barrier forever.
func TestLaunchedPanicUnderDeferredFinalize(t *testing.T) {
	out, err := mpxRun(t, time.Minute, "-n", "3", "--oversubscribe", "./testdata/panicky")
	if err == nil {
		t.Fatalf("job succeeded:\n%s", out)
	}
	for _, want := range []string{"panic: assignment to entry in nil map", "main.main()", "rank 1", "rank 1 panicked"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// shmFiles lists the /dev/shm files of job id.
func shmFiles(id string) []string {
	names, _ := filepath.Glob("/dev/shm/mpx-" + id + "-*")
	return names
}

// jobID reads the job id shmhold prints.
func jobID(t *testing.T, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 5 && f[0] == "job" && f[4] == "ready" {
			return f[1]
		}
	}
	t.Fatalf("no job id in output:\n%s", out)
	return ""
}

// No file under /dev/shm outlives a job over shared memory: after a
// normal end, after a rank is killed with SIGKILL, and after the launcher
// is.
func TestLaunchedNoShmResidue(t *testing.T) {
	for _, mode := range []string{"ok", "die"} {
		t.Run(mode, func(t *testing.T) {
			out, err := mpxRun(t, time.Minute, "-n", "3", "--oversubscribe", "--param", "transport=shm", "./testdata/shmhold", "-mode", mode)
			if (err == nil) != (mode == "ok") {
				t.Fatalf("mode %s: exit %v\n%s", mode, err, out)
			}
			if mode == "die" && !strings.Contains(out, "rank 1") {
				t.Errorf("the failure does not name rank 1:\n%s", out)
			}
			if left := shmFiles(jobID(t, out)); len(left) > 0 {
				t.Errorf("left under /dev/shm: %v", left)
			}
		})
	}
	t.Run("launcher-killed", func(t *testing.T) {
		cmd := exec.Command(mpxBinary(t), "run", "-n", "3", "--oversubscribe", "--param", "transport=shm", "./testdata/shmhold", "-mode", "hang")
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		mark := "MPX_TEST_SHMHOLD_MARK=" + strings.ReplaceAll(t.Name(), "/", "_") + time.Now().Format("150405.000000")
		cmd.Env = append(os.Environ(), mark)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(time.Minute)
		for strings.Count(out.String(), "ready") < 3 {
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				t.Fatalf("ranks never got ready:\n%s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		id := jobID(t, out.String())
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		// The ranks die with their launcher; give them a moment, then
		// neither they nor their segments may be left.
		for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			pids := markedProcs(mark)
			if len(pids) == 0 {
				break
			}
			if time.Now().After(end) {
				for _, p := range pids {
					syscall.Kill(p, syscall.SIGKILL)
				}
				t.Fatalf("ranks %v still running 5s after the launcher was killed", pids)
			}
		}
		if left := shmFiles(id); len(left) > 0 {
			t.Errorf("left under /dev/shm: %v", left)
		}
	})
}

// markedProcs lists the processes whose environment holds mark.
func markedProcs(mark string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(d + "/environ")
		if err == nil && strings.Contains(string(env), mark) {
			var pid int
			if _, err := fmt.Sscan(filepath.Base(d), &pid); err == nil && pid != os.Getpid() {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
