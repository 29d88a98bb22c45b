package comm_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/param"
)

// algorithmSettings is how many settings collalgs checks: the defaults,
// then each forced algorithm.
func algorithmSettings() int {
	n := 1
	for _, in := range param.All() {
		if strings.HasPrefix(in.Name, "coll_") && strings.HasSuffix(in.Name, "_algorithm") {
			n += len(in.Choices) - 1 // all but auto
		}
	}
	return n
}

// TestLaunchedAlgorithms runs every collective with every algorithm
// forced in turn (testdata/collalgs) between real processes, on the world,
// a split and a Cartesian sub-grid, over each transport and on sizes that
// are and are not powers of two. The reproducible case gives the mode and
// a forced ring allreduce through the launcher: collalgs then checks every
// reduction of order-sensitive floats against the serial fold, bit for
// bit, under every setting, and rank 0 alone says at start that the ring
// is overridden.
func TestLaunchedAlgorithms(t *testing.T) {
	const warning = "mpx: coll_reproducible=true overrides coll_allreduce_algorithm=ring: reductions fold in rank order"
	for _, tc := range []struct {
		transport, ranks string
		reproducible     bool
	}{
		{"tcp", "2", false},
		{"tcp", "17", false},
		{"shm", "3", false},
		{"shm", "8", false},
		{"shm", "5", true},
	} {
		name, mode, args := tc.transport+"/"+tc.ranks, "", []string{}
		if tc.reproducible {
			name, mode = name+"/reproducible", ", reproducible"
			args = []string{"--param", "coll_reproducible=true", "--param", "coll_allreduce_algorithm=ring"}
		}
		t.Run(name, func(t *testing.T) {
			args := append([]string{"-n", tc.ranks, "--oversubscribe", "--timeout", "200s",
				"--param", "transport=" + tc.transport}, args...)
			out, err := mpxRun(t, 4*time.Minute, append(args, "./testdata/collalgs")...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			want := fmt.Sprintf("collalgs: %s ranks, %d algorithm settings checked%s: ok", tc.ranks, algorithmSettings(), mode)
			if !strings.Contains(out, want) {
				t.Fatalf("no success line %q in:\n%s", want, out)
			}
			warned := 0
			if tc.reproducible {
				warned = 1
			}
			if n := strings.Count(out, warning); n != warned {
				t.Fatalf("the override warning %d times, want %d:\n%s", n, warned, out)
			}
		})
	}
}

// TestLaunchedTimeoutNamesCollective: the launcher's --timeout report
// shows a rank blocked inside a collective by collective, algorithm, round
// and peer, not by raw tag. The last rank of shmhold -mode stuck never
// joins the ring allreduce: rank 0 waits for it in the first round, rank 1
// for rank 0 in the second.
func TestLaunchedTimeoutNamesCollective(t *testing.T) {
	for _, tr := range []string{"shm", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			out, err := mpxRun(t, 2*time.Minute, "-n", "3", "--oversubscribe", "--timeout", "5s",
				"--param", "transport="+tr, "--param", "coll_allreduce_algorithm=ring",
				"./testdata/shmhold", "-mode", "stuck")
			if err == nil {
				t.Fatalf("a job that cannot finish exited 0:\n%s", out)
			}
			for _, want := range []string{
				`(?m)^mpx: rank 0 on host \S+: blocked in allreduce \(ring, round 1 of 4\) recv from rank 2 on comm world, for \d`,
				`(?m)^mpx: rank 1 on host \S+: blocked in allreduce \(ring, round 2 of 4\) recv from rank 0 on comm world, for \d`,
				`(?m)^mpx: rank 2 on host \S+: blocked in recv from rank 0, tag 99, on world, for \d`,
			} {
				if !regexp.MustCompile(want).MatchString(out) {
					t.Errorf("no line matching %s in:\n%s", want, out)
				}
			}
		})
	}
}
