package main

import (
	"fmt"
	"os/exec"
	goruntime "runtime"
	"strings"
	"testing"
)

// The commands a new user typed (issue 18, part 4), each with what it must
// print: usage errors are one line on stderr and exit status 2.
func TestCLIUsageLines(t *testing.T) {
	tests := "tests: latency, bw, bibw, mbw_mr, allreduce, reduce, bcast, allgather, alltoall, gather, scatter, barrier, put_latency, get_latency, put_bw, get_bw, acc_latency, fop_latency, cas_latency"
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "mpx: bench: name a test (" + tests + "; also: compare, plot; see `mpx bench --help`)"},
		{[]string{"bench", "compare"}, "mpx: bench compare: name a test (" + tests + "; see `mpx bench compare --help`)"},
		{[]string{"bench", "nosuchtest"}, `mpx: bench: unknown test "nosuchtest" (` + tests + "; also: compare, plot)"},
		{[]string{"bench", "compare", "nosuchtest"}, `mpx: bench compare: unknown test "nosuchtest" (` + tests + ")"},
		{[]string{"bench", "--bogus"}, "mpx: bench: flag provided but not defined: -bogus (see `mpx bench --help`)"},
		{[]string{"bench", "latency", "--bogus"}, "mpx: bench latency: flag provided but not defined: -bogus (see `mpx bench latency --help`)"},
		{[]string{"bench", "compare", "latency", "--bogus"}, "mpx: bench compare latency: flag provided but not defined: -bogus (see `mpx bench compare latency --help`)"},
		{[]string{"run", "-n", "abc", "true"}, `mpx: run: -n wants a whole number of ranks, got "abc"`},
		{[]string{"run", "-np", "4x", "true"}, `mpx: run: --np wants a whole number of ranks, got "4x"`},
		{[]string{"run", "--timeout", "soon", "true"}, `mpx: run: --timeout wants seconds or a duration such as 90s, 1m30s or 2h, got "soon"`},
		{[]string{"run", "-N", "two", "true"}, `mpx: run: -N wants a whole number of ranks per node, got "two"`},
		{[]string{"bench", "latency", "-n", "abc"}, `mpx: bench latency: -n wants a whole number of ranks, got "abc"`},
		{[]string{"bench", "bw", "-W", "x"}, `mpx: bench bw: -W wants a whole number of sends in flight, got "x"`},
		{[]string{"bench", "compare", "latency", "--repeat", "x"}, `mpx: bench compare latency: --repeat wants a whole number of runs, got "x"`},
		{[]string{"bench", "latency", "--timeout", "x"}, `mpx: bench latency: --timeout wants seconds or a duration such as 90s, 1m30s or 2h, got "x"`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMpx(t, c.args...)
			if code != 2 || stderr != c.want+"\n" || stdout != "" {
				t.Errorf("mpx %s: exit %d\nstderr %q\nwant   %q\nstdout %q", strings.Join(c.args, " "), code, stderr, c.want+"\n", stdout)
			}
		})
	}
}

// bench takes --oversubscribe as run does, and like run refuses more ranks
// than cores without it.
func TestBenchOversubscribe(t *testing.T) {
	code, stdout, stderr := runMpx(t, benchArgs("bench", "allreduce", "-n", "4", "--oversubscribe", "-m", "8:8")...)
	if code != 0 || !strings.Contains(stdout, "# OSU-style MPX Allreduce Latency Test") || !strings.Contains(stdout, "# ranks: 4") {
		t.Errorf("bench allreduce -n 4 --oversubscribe: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	n := fmt.Sprint(goruntime.NumCPU() + 1)
	for _, args := range [][]string{{"run", "-n", n, "true"}, benchArgs("bench", "allreduce", "-n", n, "-m", "8:8")} {
		code, _, stderr = runMpx(t, args...)
		if code != 2 || !strings.Contains(stderr, n+" ranks requested but the hosts offer") || !strings.Contains(stderr, "use --oversubscribe") {
			t.Errorf("mpx %v without --oversubscribe: exit %d, stderr %q; want 2 and a refusal naming --oversubscribe", args, code, stderr)
		}
	}
}

// What the README's commands write at the top of the tree is ignored by
// git: `go build -o mpx ./cmd/mpx` and the examples' default output dirs.
func TestReadmeOutputsIgnored(t *testing.T) {
	for _, p := range []string{"mpx", "reservoir-out/fivespot.png", "cavity-out/u.vtk"} {
		out, err := exec.Command("git", "-C", "../..", "check-ignore", "--no-index", p).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != p {
			t.Errorf("git check-ignore %s: %v %s; want it ignored (.gitignore)", p, err, out)
		}
	}
	out, err := exec.Command("git", "-C", "../..", "check-ignore", "--no-index", "cmd/mpx/main.go").CombinedOutput()
	if err == nil {
		t.Errorf("cmd/mpx/main.go is ignored: %s", out)
	}
}

// --timeout takes plain seconds, as Open MPI's does, besides durations.
func TestTimeoutPlainSeconds(t *testing.T) {
	code, stdout, stderr := runMpx(t, "run", "--timeout", "10", "-n", "1", "-x", "MPXTEST_MARK", rankProg)
	if code != 0 || !strings.Contains(stdout, "wired up") {
		t.Errorf("run --timeout 10: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	code, _, stderr = runMpx(t, "run", "-n", "2", "--oversubscribe", "--timeout", "2",
		"--param", "launcher_report_wait=5s", rankProg, "-mode", "hang")
	if code != 124 || !strings.HasSuffix(stderr, "mpx: timeout of 2s expired; stopped 2 ranks\n") {
		t.Errorf("run --timeout 2 on hanging ranks: exit %d, want 124 after 2s; stderr:\n%s", code, stderr)
	}
}

// --mca NAME VALUE is --param NAME=VALUE for mpx's names, explains Open
// MPI's, and leaves the program's own arguments alone.
func TestMCA(t *testing.T) {
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"run", "--mca", "wait_mode", "block", "-n", "1", "printenv", "MPX_PARAM_WAIT_MODE"}, 0, "block\n", ""},
		{[]string{"run", "-n", "1", "--mca", "tcp_port_range", "40000-40100", "--mca", "wait_mode", "spin", "sh", "-c", "echo $MPX_PARAM_TCP_PORT_RANGE $MPX_PARAM_WAIT_MODE"}, 0, "40000-40100 spin\n", ""},
		{[]string{"run", "-n", "1", "echo", "--mca", "a", "b"}, 0, "--mca a b\n", ""},
		{[]string{"run", "-n", "1", "-x", "A=1", "echo", "--mca", "a", "b"}, 0, "--mca a b\n", ""},
		{[]string{"run", "--mca", "btl", "self,tcp", "-n", "1", "true"}, 2, "", "mpx: run: --mca btl is Open MPI's; in mpx that is --param transport=auto|shm|tcp\n"},
		{[]string{"run", "--mca", "coll_tuned_allreduce_algorithm", "4", "-n", "1", "true"}, 2, "",
			"mpx: run: --mca coll_tuned_allreduce_algorithm is Open MPI's; in mpx that is --param coll_allreduce_algorithm=NAME (names, not numbers: see mpx info)\n"},
		{[]string{"run", "--mca", "nosuch", "1", "-n", "1", "true"}, 2, "", "mpx: run: --mca nosuch: no such mpx parameter (--mca takes mpx's names, listed by `mpx info`)\n"},
		{[]string{"run", "-n", "1", "--mca", "wait_mode"}, 2, "", "mpx: run: --mca wants NAME VALUE\n"},
		{[]string{"run", "--mca", "wait_mode", "sometimes", "-n", "1", "true"}, 2, "", "wait_mode"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, stdout, stderr := runMpx(t, c.args...)
			if code != c.code || stdout != c.stdout || !strings.Contains(stderr, c.stderr) || (c.code == 0 && stderr != "") {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, stdout, stderr, c.code, c.stdout, c.stderr)
			}
		})
	}
}
