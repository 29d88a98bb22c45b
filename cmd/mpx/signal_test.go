package main

import (
	"fmt"
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
