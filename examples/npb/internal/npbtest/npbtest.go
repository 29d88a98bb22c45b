// Package npbtest runs an NPB example as real processes under the mpx
// launcher, for the examples' multi-process tests.
package npbtest

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

var (
	once    sync.Once
	mpxPath string
	mpxErr  error
)

// Mpx returns the launcher: $MPX_BIN when set (the test command sets it),
// else one built from root (the module root, relative to the test's
// directory) into a temporary directory.
func Mpx(t *testing.T, root string) string {
	t.Helper()
	once.Do(func() {
		if p := os.Getenv("MPX_BIN"); p != "" {
			mpxPath = p
			return
		}
		dir, err := os.MkdirTemp("", "mpx-npb-")
		if err != nil {
			mpxErr = err
			return
		}
		mpxPath = filepath.Join(dir, "mpx")
		cmd := exec.Command("go", "build", "-o", mpxPath, "./cmd/mpx")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			mpxErr = &buildError{string(out), err}
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

// Run runs `mpx run args...` with a deadline, killing the process group it
// started when the deadline passes, and returns the combined output and
// the exit status.
func Run(t *testing.T, root string, deadline time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, Mpx(t, root), append([]string{"run"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("mpx run %s: still running after %v; output:\n%s", strings.Join(args, " "), deadline, out)
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("mpx run %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), 0
}
