package main

import (
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// SIGUSR1 and SIGUSR2 sent to mpx run reach every rank, and the job goes
// on: each rank prints each signal once and finishes normally.
func TestUserSignalsForwarded(t *testing.T) {
	const n = 3
	r := startMpx(t, "run", "-n", fmt.Sprint(n), "--oversubscribe", faultyProg, "-fault", "signals")
	r.waitOutput(t, ": ready", n)
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2} {
		r.cmd.Process.Signal(sig)
		// One at a time: two pending signals of one kind would merge.
		r.waitOutput(t, "got "+sigName(sig), n)
	}
	if code := r.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0; stderr:\n%s", code, r.stderr.String())
	}
	out := r.stdout.String()
	for rank := range n {
		for _, sig := range []string{"SIGUSR1", "SIGUSR2"} {
			if got := strings.Count(out, fmt.Sprintf("rank %d: got %s\n", rank, sig)); got != 1 {
				t.Errorf("rank %d got %s %d times, want once; stdout:\n%s", rank, sig, got, out)
			}
		}
	}
}

func sigName(s syscall.Signal) string {
	if s == syscall.SIGUSR1 {
		return "SIGUSR1"
	}
	return "SIGUSR2"
}

// A rank stopped by SIGSTOP cannot answer the --timeout report: the
// report says it is stopped, by which signal, and its pid, rather than
// only that it did not answer.
func TestTimeoutNamesStoppedRank(t *testing.T) {
	code, _, stderr := runMpx(t, "run", "-n", "3", "--oversubscribe", "--timeout", "3s",
		faultyProg, "-fault", "stop", "-rank", "1")
	if code != 124 {
		t.Errorf("exit code %d, want 124", code)
	}
	for _, re := range []string{
		`mpx: rank 1 on host \S+ \(pid [1-9]\d*\): stopped by signal 19 \(SIGSTOP\); no report: no answer within 1s\n`,
		`mpx: rank 0 on host \S+: blocked in `, `mpx: rank 2 on host \S+: blocked in `,
	} {
		if !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("stderr lacks %s:\n%s", re, stderr)
		}
	}
}
