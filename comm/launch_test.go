package comm_test

import (
	"context"
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
