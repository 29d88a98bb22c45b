package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// mpxBin, rankProg and faultyProg are built once by TestMain.
var mpxBin, rankProg, faultyProg string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mpx-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mpxBin, rankProg, faultyProg = filepath.Join(dir, "mpx"), filepath.Join(dir, "rankprog"), filepath.Join(dir, "faulty")
	builds := [][]string{
		append(append([]string{"build"}, raceFlag...), "-o", mpxBin, "."),
		{"build", "-o", rankProg, "../../launcher/testdata/rankprog"},
		{"build", "-o", faultyProg, "./testdata/faulty"},
	}
	for _, args := range builds {
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(args, " "), err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer may be read while the process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
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

type mpxRun struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	mark           string
}

// startMpx starts mpx with args; a marker variable reaches the ranks
// through -x when the command is `run`, so that leftovers can be found.
func startMpx(t *testing.T, args ...string) *mpxRun {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	r := &mpxRun{stdout: &syncBuffer{}, stderr: &syncBuffer{}, mark: hex.EncodeToString(b)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	r.cmd = exec.CommandContext(ctx, mpxBin, args...)
	r.cmd.Env = append(os.Environ(), "MPXTEST_MARK="+r.mark)
	r.cmd.Stdout, r.cmd.Stderr = r.stdout, r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.checkNoneLeft(t) })
	return r
}

// wait returns mpx's exit code.
func (r *mpxRun) wait(t *testing.T) int {
	t.Helper()
	err := r.cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee) && ee.Exited():
		return ee.ExitCode()
	}
	t.Fatalf("mpx %v: %v; stderr:\n%s", r.cmd.Args[1:], err, r.stderr.String())
	return -1
}

func runMpx(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	r := startMpx(t, args...)
	code = r.wait(t)
	return code, r.stdout.String(), r.stderr.String()
}

// checkNoneLeft fails if a process carrying the run's marker is still
// there one second later (and kills it).
func (r *mpxRun) checkNoneLeft(t *testing.T) {
	deadline := time.Now().Add(time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		var pids []int
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			env, err := os.ReadFile(d + "/environ")
			if err == nil && bytes.Contains(env, []byte("MPXTEST_MARK="+r.mark)) {
				var pid int
				fmt.Sscan(filepath.Base(d), &pid)
				pids = append(pids, pid)
			}
		}
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Errorf("processes of the job still running 1s after mpx ended: %v", pids)
			return
		}
		time.Sleep(delay)
	}
}

// waitOutput waits until s has appeared n times in the run's stdout.
func (r *mpxRun) waitOutput(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(r.stdout.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("stdout never had %d times %q:\n%s\nstderr:\n%s", n, s, r.stdout.String(), r.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"run", "--bogus", "-n", "1", "RANKPROG"}, "flag provided but not defined: -bogus"},
		{"n zero", []string{"run", "-n", "0", "RANKPROG"}, "-n 0: want at least 1 rank"},
		{"n not a number", []string{"run", "-n", "four", "RANKPROG"}, `-n wants a whole number of ranks, got "four"`},
		{"no program", []string{"run", "-n", "2"}, "no program given"},
		{"program does not exist", []string{"run", "-n", "1", "./does/not/exist"}, "program ./does/not/exist: no such file or directory"},
		{"program not on PATH", []string{"run", "-n", "1", "mpx-no-such-program"}, "program mpx-no-such-program not found in PATH"},
		{"too many ranks", []string{"run", "-n", "4096", "RANKPROG"}, "4096 ranks requested but the hosts offer"},
		{"unknown parameter", []string{"run", "--param", "no.such=1", "-n", "1", "RANKPROG"}, `unknown parameter "no.such"`},
		{"bad timeout", []string{"run", "--timeout", "soon", "-n", "1", "RANKPROG"}, `--timeout wants seconds or a duration such as 90s, 1m30s or 2h, got "soon"`},
		{"unknown command", []string{"launch"}, `unknown command "launch"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "RANKPROG", rankProg)
			}
			code, stdout, stderr := runMpx(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "mpx: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr %q, want one line containing %q", stderr, tc.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
}

func TestRunSucceeds(t *testing.T) {
	code, stdout, stderr := runMpx(t, "run", "-np", "2", "--oversubscribe", "-x", "MPXTEST_MARK", rankProg)
	if code != 0 || strings.Count(stdout, "wired up") != 2 || stderr != "" {
		t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
}

func TestRankExits3(t *testing.T) {
	code, _, stderr := runMpx(t, "run", "-n", "3", "--oversubscribe", rankProg, "-mode", "exit", "-code", "3")
	if code != 3 {
		t.Errorf("exit code %d, want 3", code)
	}
	var summary []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "mpx: ") {
			summary = append(summary, l)
		}
	}
	re := regexp.MustCompile(`^mpx: rank 1 on host \S+ exited with status 3(; stopped [12] other ranks?)?$`)
	if len(summary) != 1 || !re.MatchString(summary[0]) {
		t.Fatalf("launcher lines %q, want one naming rank 1 and status 3; stderr:\n%s", summary, stderr)
	}
}

func TestTagOutput(t *testing.T) {
	code, stdout, _ := runMpx(t, "run", "-n", "2", "--oversubscribe", "--tag-output", rankProg)
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for r := range 2 {
		if want := fmt.Sprintf("[1,%d]<stdout>: rank %d of 2: wired up\n", r, r); !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

func TestParamAndEnvReachRanks(t *testing.T) {
	code, stdout, stderr := runMpx(t, "run", "-n", "1", "-x", "MPXTEST_A=1,2", "--param", "launcher_report_wait=2s",
		"--wdir", "/", rankProg, "-pwd", "-env", "MPXTEST_A,MPX_PARAM_LAUNCHER_REPORT_WAIT")
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"rank 0: MPXTEST_A=1,2\n", "rank 0: MPX_PARAM_LAUNCHER_REPORT_WAIT=2s\n", "rank 0: cwd /\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
}

func TestTimeout(t *testing.T) {
	code, _, stderr := runMpx(t, "run", "-n", "2", "--oversubscribe", "--timeout", "3s",
		"--param", "launcher_report_wait=5s", rankProg, "-mode", "hang")
	if code != 124 {
		t.Errorf("exit code %d, want 124", code)
	}
	for _, re := range []string{`mpx: rank 0 on host \S+: Recv comm=world src=1 tag=7 for \d+s\n`,
		`mpx: rank 1 on host \S+: Recv comm=world src=0 tag=7 for \d+s\n`, `mpx: timeout of 3s expired; stopped 2 ranks\n$`} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("stderr lacks %s:\n%s", re, stderr)
		}
	}
}

func TestSIGINTForwarded(t *testing.T) {
	r := startMpx(t, "run", "-n", "2", "--oversubscribe", rankProg, "-mode", "sigwait")
	r.waitOutput(t, "waiting for SIGINT", 2)
	r.cmd.Process.Signal(syscall.SIGINT)
	if code := r.wait(t); code != 130 {
		t.Errorf("exit code %d, want 130", code)
	}
	if n := strings.Count(r.stdout.String(), "got SIGINT"); n != 2 {
		t.Errorf("%d ranks got SIGINT, want 2; stdout:\n%s", n, r.stdout.String())
	}
}

func TestRanksDieWithLauncher(t *testing.T) {
	r := startMpx(t, "run", "-n", "2", "--oversubscribe", rankProg, "-mode", "hang")
	r.waitOutput(t, "hanging", 2)
	r.cmd.Process.Kill()
	r.cmd.Wait()
	// checkNoneLeft, run at cleanup, proves the ranks died with it.
}

func TestInfo(t *testing.T) {
	code, stdout, stderr := runMpx(t, "info")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, re := range []string{`^mpx \S+`, `\nTransports:\n  tcp +available`, `\nParameters:\n  NAME +TYPE +DEFAULT +VALUE +SOURCE +DESCRIPTION\n`,
		`\n  launcher_kill_grace +duration +300ms +300ms +default +time between SIGTERM and SIGKILL`} {
		if !regexp.MustCompile(re).MatchString(stdout) {
			t.Errorf("info output lacks %s:\n%s", re, stdout)
		}
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runMpx(t, "run", "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, flag := range []string{"-n N, --np N", "-x VAR", "--tag-output", "--timeout SECONDS", "--oversubscribe", "--display-allocation", "--param name=value", "--wdir DIR"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("help lacks %q:\n%s", flag, stdout)
		}
	}
}

// TestSecretFileMode: a secret file others may read is refused by mpx
// agent and mpx run, with a message naming the file, its mode and the fix.
func TestSecretFileMode(t *testing.T) {
	key := filepath.Join(t.TempDir(), "agent.key")
	if err := os.WriteFile(key, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"agent", "--listen", "127.0.0.1:0", "--secret-file", key},
		{"run", "--host", "127.0.0.1", "--agent-port", "1", "--agent-secret-file", key, "-n", "1", rankProg},
	} {
		t.Run(args[0], func(t *testing.T) {
			code, _, stderr := runMpx(t, args...)
			if code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			for _, want := range []string{key, "0644", "chmod 600 " + key} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
			}
		})
	}
}
