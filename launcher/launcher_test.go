package launcher

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

// rankProg is launcher/testdata/rankprog, built once by TestMain.
var rankProg string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mpx-launcher-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rankProg = filepath.Join(dir, "rankprog")
	out, err := exec.Command("go", "build", "-o", rankProg, "./testdata/rankprog").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building the rank program: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer is a bytes.Buffer that tests may read while ranks write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// jobRun is one job started by a test.
type jobRun struct {
	res            Result
	err            error
	stdout, stderr string
	elapsed        time.Duration
}

// runJob runs cfg with the rank program, a deadline, and a marker in the
// ranks' environment; it fails the test if any process carrying the
// marker is left one second after Run returned.
func runJob(t *testing.T, cfg Config) jobRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mark := newMark(t)
	if cfg.Program == "" {
		cfg.Program = rankProg
	}
	cfg.Env = append(cfg.Env, "MPXTEST_MARK="+mark)
	var out, errb lockedBuffer
	if cfg.Stdout == nil {
		cfg.Stdout = &out
	}
	if cfg.Stderr == nil {
		cfg.Stderr = &errb
	}
	start := time.Now()
	res, err := Run(ctx, cfg)
	jr := jobRun{res: res, err: err, stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Errorf("job hit the test's deadline; stderr:\n%s", jr.stderr)
	}
	checkNoneLeft(t, mark)
	return jr
}

func newMark(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// jobProcs lists the processes whose environment carries mark.
func jobProcs(mark string) []string {
	var pids []string
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		env, err := os.ReadFile(d + "/environ")
		if err == nil && bytes.Contains(env, []byte("MPXTEST_MARK="+mark)) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

func checkNoneLeft(t *testing.T, mark string) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		pids := jobProcs(mark)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, p := range pids {
				var pid int
				fmt.Sscan(p, &pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes of the job still running 1s after Run returned: %v", pids)
		}
		time.Sleep(delay)
	}
}

// summaries are the launcher's own lines in stderr.
func summaries(stderr string) []string {
	var lines []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "mpx: ") {
			lines = append(lines, l)
		}
	}
	return lines
}

func TestAllRanksSucceed(t *testing.T) {
	jr := runJob(t, Config{NP: 4, Oversubscribe: true})
	if jr.err != nil || jr.res.ExitCode != 0 || jr.res.Rank != -1 || jr.res.Summary != "" {
		t.Fatalf("result %+v, %v; stderr:\n%s", jr.res, jr.err, jr.stderr)
	}
	for r := range 4 {
		if !strings.Contains(jr.stdout, fmt.Sprintf("rank %d of 4: wired up\n", r)) {
			t.Errorf("stdout lacks rank %d's line:\n%s", r, jr.stdout)
		}
	}
	if s := summaries(jr.stderr); len(s) != 0 {
		t.Errorf("launcher printed %q on success", s)
	}
}

func TestNonMPIProgram(t *testing.T) {
	// A program that never connects to the launcher is fine, as with mpirun.
	jr := runJob(t, Config{NP: 2, Oversubscribe: true, Program: "true"})
	if jr.err != nil || jr.res.ExitCode != 0 {
		t.Fatalf("result %+v, %v; stderr:\n%s", jr.res, jr.err, jr.stderr)
	}
}

func TestRankFailures(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		code    int
		summary string // regexp for the one summary line
		before  string // must appear in stderr before the summary
	}{
		{"exit 3", []string{"-mode", "exit", "-spawn", "-shm"}, 3,
			`^mpx: rank 1 on host \S+ exited with status 3(; stopped [12] other ranks?)?$`, "rank 1: exiting with status 3"},
		{"SIGKILL", []string{"-mode", "kill"}, 128 + 9,
			`^mpx: rank 1 on host \S+ was killed by signal 9 \(killed\)(; stopped [12] other ranks?)?$`, ""},
		{"panic", []string{"-mode", "panic"}, 2,
			`^mpx: rank 1 on host \S+ panicked \(exited with status 2\): assignment to entry in nil map`, "goroutine 1 [running]:"},
		{"no Finalize", []string{"-mode", "nofinalize", "-rank", "2"}, 1,
			`^mpx: rank 2 on host \S+ exited with status 0 without calling Finalize`, ""},
		{"no connection", []string{"-mode", "noconnect", "-rank", "1"}, 1,
			`^mpx: rank 1 on host \S+ exited with status 0 without connecting to the launcher, while other ranks did`, ""},
		{"left the job", []string{"-mode", "leave"}, 1,
			`^mpx: rank 1 on host \S+ closed its connection to the launcher without Finalize`, ""},
		{"Abort", []string{"-mode", "abort", "-code", "5", "-rank", "0"}, 5,
			`^mpx: rank 0 on host \S+ called Abort with code 5: deliberate abort; stopped 2 other ranks$`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jr := runJob(t, Config{NP: 3, Oversubscribe: true, Args: tc.args})
			if jr.err != nil {
				t.Fatal(jr.err)
			}
			lines := summaries(jr.stderr)
			if len(lines) != 1 || !regexp.MustCompile(tc.summary).MatchString(lines[0]) {
				t.Fatalf("summary lines %q, want one matching %s; stderr:\n%s", lines, tc.summary, jr.stderr)
			}
			if jr.res.ExitCode != tc.code || jr.res.Summary != lines[0] {
				t.Errorf("result %+v, want exit code %d", jr.res, tc.code)
			}
			if tc.before != "" {
				i, j := strings.Index(jr.stderr, tc.before), strings.Index(jr.stderr, lines[0])
				if i < 0 || i > j {
					t.Errorf("%q does not precede the summary; stderr:\n%s", tc.before, jr.stderr)
				}
			}
			if shm, _ := filepath.Glob("/dev/shm/mpx-" + jr.res.JobID + "*"); len(shm) != 0 {
				t.Errorf("shared-memory files left: %v", shm)
			}
		})
	}
}

func TestContextCancel(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out, errb lockedBuffer
	mark := newMark(t)
	res, err := Run(ctx, Config{NP: 2, Oversubscribe: true, Program: rankProg, Args: []string{"-mode", "hang"},
		Env: []string{"MPXTEST_MARK=" + mark}, Stdout: &out, Stderr: &errb})
	checkNoneLeft(t, mark)
	if err != nil || res.ExitCode != 1 || res.Summary != "mpx: stopped: context deadline exceeded; stopped 2 ranks" {
		t.Fatalf("result %+v, %v; stderr:\n%s", res, err, errb.String())
	}
}

func TestTimeoutReports(t *testing.T) {
	// Long enough for the ranks to reach their hang on a loaded machine.
	jr := runJob(t, Config{NP: 3, Oversubscribe: true, Timeout: 3 * time.Second, Args: []string{"-mode", "hang"},
		Params: []string{"launcher_report_wait=5s"}})
	if jr.err != nil || jr.res.ExitCode != 124 || jr.res.Rank != -1 {
		t.Fatalf("result %+v, %v", jr.res, jr.err)
	}
	lines := summaries(jr.stderr)
	want := []string{`^mpx: timeout of 3s expired; what each rank is doing:$`}
	for r := range 3 {
		want = append(want, fmt.Sprintf(`^mpx: rank %d on host \S+: Recv comm=world src=%d tag=7 for \d+s$`, r, (r+1)%3))
	}
	want = append(want, `^mpx: timeout of 3s expired; stopped 3 ranks$`)
	if len(lines) != len(want) {
		t.Fatalf("launcher lines %q, want %d; stderr:\n%s", lines, len(want), jr.stderr)
	}
	for i, w := range want {
		if !regexp.MustCompile(w).MatchString(lines[i]) {
			t.Errorf("line %d %q, want %s", i, lines[i], w)
		}
	}
}

func TestEnvironment(t *testing.T) {
	t.Setenv("MPXTEST_FROM_LAUNCHER", "inherited value")
	// The contract of an enclosing job or Slurm step must not leak through.
	t.Setenv("PMI_FD", "7")
	t.Setenv("MPX_JOB_ID", "outer-job")
	jr := runJob(t, Config{
		NP: 2, Oversubscribe: true,
		Env:    []string{"MPXTEST_SET=a,b=c", "MPXTEST_FROM_LAUNCHER"},
		Params: []string{"launcher_report_wait=250ms"},
		Args: []string{"-env", "MPXTEST_SET,MPXTEST_FROM_LAUNCHER,MPX_PARAM_LAUNCHER_REPORT_WAIT," +
			"MPX_SIZE,MPX_LOCAL_RANK,MPX_LOCAL_SIZE,PMI_RANK,OMPI_COMM_WORLD_RANK,OMPI_COMM_WORLD_SIZE,PMI_FD,MPX_JOB_ID"},
	})
	if jr.err != nil || jr.res.ExitCode != 0 {
		t.Fatalf("result %+v, %v; stderr:\n%s", jr.res, jr.err, jr.stderr)
	}
	for r := range 2 {
		for _, kv := range []string{"MPXTEST_SET=a,b=c", "MPXTEST_FROM_LAUNCHER=inherited value",
			"MPX_PARAM_LAUNCHER_REPORT_WAIT=250ms", "MPX_SIZE=2", fmt.Sprintf("MPX_LOCAL_RANK=%d", r), "MPX_LOCAL_SIZE=2",
			fmt.Sprintf("PMI_RANK=%d", r), fmt.Sprintf("OMPI_COMM_WORLD_RANK=%d", r), "OMPI_COMM_WORLD_SIZE=2",
			"PMI_FD=", "MPX_JOB_ID=" + jr.res.JobID} {
			if line := fmt.Sprintf("rank %d: %s\n", r, kv); !strings.Contains(jr.stdout, line) {
				t.Errorf("stdout lacks %q:\n%s", line, jr.stdout)
			}
		}
	}
	if v := reportWait.Get(); v != time.Second {
		t.Errorf("--param stayed applied to the launcher after Run: %v", v)
	}
}

func TestTagOutput(t *testing.T) {
	jr := runJob(t, Config{NP: 2, Oversubscribe: true, TagOutput: true, Args: []string{"-mode", "exit", "-code", "4"}})
	for _, want := range []string{"[1,0]<stdout>: rank 0 of 2: wired up\n", "[1,1]<stdout>: rank 1 of 2: wired up\n"} {
		if !strings.Contains(jr.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, jr.stdout)
		}
	}
	if want := "[1,1]<stderr>: rank 1: exiting with status 4\n"; !strings.Contains(jr.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, jr.stderr)
	}
	for _, l := range strings.Split(strings.TrimSpace(jr.stdout), "\n") {
		if !regexp.MustCompile(`^\[1,[01]\]<stdout>: `).MatchString(l) {
			t.Errorf("untagged stdout line %q", l)
		}
	}
}

func TestKillGrace(t *testing.T) {
	// The other ranks ignore SIGTERM, so only the kill after the grace
	// period ends them: the job cannot end sooner than the grace.
	const grace = 1500 * time.Millisecond
	jr := runJob(t, Config{NP: 2, Oversubscribe: true, Params: []string{"launcher_kill_grace=" + grace.String()},
		Args: []string{"-mode", "exit", "-ignoreterm"}})
	if jr.res.ExitCode != 3 {
		t.Fatalf("result %+v; stderr:\n%s", jr.res, jr.stderr)
	}
	if jr.elapsed < grace {
		t.Fatalf("job ended after %v, before the kill grace of %v", jr.elapsed, grace)
	}
}

func TestSignalForwarding(t *testing.T) {
	sigs := make(chan os.Signal, 1)
	var out lockedBuffer
	go func() {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if strings.Count(out.String(), "waiting for SIGINT") == 2 {
				sigs <- syscall.SIGINT
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	jr := runJob(t, Config{NP: 2, Oversubscribe: true, Signals: sigs, Stdout: &out, Args: []string{"-mode", "sigwait"}})
	stdout := out.String()
	for r := range 2 {
		if want := fmt.Sprintf("rank %d: got SIGINT\n", r); !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout)
		}
	}
	if jr.res.ExitCode != 130 || !strings.Contains(jr.res.Summary, "received signal 2 (interrupt)") {
		t.Errorf("result %+v", jr.res)
	}
}

func TestGoPackageProgram(t *testing.T) {
	// Two jobs at once build the same package into the same place, and
	// each runs what it built.
	dir := t.TempDir()
	for i := range 2 {
		t.Run(fmt.Sprint("job", i), func(t *testing.T) {
			t.Parallel()
			jr := runJob(t, Config{NP: 2, Oversubscribe: true, Program: "./testdata/rankprog", BuildDir: dir})
			if jr.err != nil || jr.res.ExitCode != 0 || strings.Count(jr.stdout, "wired up") != 2 {
				t.Fatalf("result %+v, %v; stdout:\n%s\nstderr:\n%s", jr.res, jr.err, jr.stdout, jr.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	empty := t.TempDir()
	notExec := filepath.Join(empty, "data.txt")
	if err := os.WriteFile(notExec, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"oversubscribe", Config{NP: 1000}, "1000 ranks requested but the hosts offer"},
		{"negative n", Config{NP: -1}, "-n -1"},
		{"unknown param", Config{NP: 1, Params: []string{"no.such=1"}}, `unknown parameter "no.such"`},
		{"bad param value", Config{NP: 1, Params: []string{"launcher_kill_grace=soon"}}, `launcher_kill_grace="soon"`},
		{"param without value", Config{NP: 1, Params: []string{"launcher_kill_grace"}}, "want name=value"},
		{"missing program", Config{NP: 1, Program: "-"}, "program - not found in PATH"},
		{"no such file", Config{NP: 1, Program: "./no/such/prog"}, "program ./no/such/prog: no such file or directory"},
		{"not executable", Config{NP: 1, Program: notExec}, "is not executable"},
		{"not a Go package", Config{NP: 1, Program: empty, BuildDir: t.TempDir()}, "building Go package"},
		{"unset -x", Config{NP: 1, Env: []string{"MPXTEST_SURELY_UNSET"}}, "MPXTEST_SURELY_UNSET is not set"},
		{"bad wdir", Config{NP: 1, Wdir: "/no/such/dir"}, "--wdir /no/such/dir: not a directory"},
		{"remote host", Config{NP: 1, Hosts: []Host{{Name: "node7", Slots: 1}}}, "host node7 is not this node"},
	}
	if _, err := Run(context.Background(), Config{NP: 1}); !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), "no program given") {
		t.Errorf("no program: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jr := runJob(t, tc.cfg)
			if !errors.Is(jr.err, ErrUsage) || !strings.Contains(jr.err.Error(), tc.want) {
				t.Fatalf("error %v, want a usage error containing %q", jr.err, tc.want)
			}
			if jr.stdout != "" || jr.stderr != "" {
				t.Errorf("output for a job that did not start: %q %q", jr.stdout, jr.stderr)
			}
		})
	}
}

func TestLineWriter(t *testing.T) {
	var mu sync.Mutex
	var out bytes.Buffer
	long := strings.Repeat("x", maxLine+10)
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"whole lines", []string{"a\nb\n"}, "P a\nP b\n"},
		{"split line", []string{"he", "llo\nwor", "ld"}, "P hello\nP world\n"},
		{"empty line", []string{"\n"}, "P \n"},
		{"over-long line", []string{long}, "P " + long[:maxLine] + "\nP " + long[maxLine:] + "\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out.Reset()
			lw := &lineWriter{prefix: []byte("P "), out: syncWriter{&mu, &out}}
			for _, c := range tc.chunks {
				lw.Write([]byte(c))
			}
			lw.Close()
			if out.String() != tc.want {
				t.Fatalf("got %q, want %q", out.String(), tc.want)
			}
		})
	}
}
