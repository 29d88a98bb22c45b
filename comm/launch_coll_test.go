package comm_test

import (
	"fmt"
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
// are and are not powers of two.
func TestLaunchedAlgorithms(t *testing.T) {
	for _, tc := range []struct {
		transport, ranks string
	}{
		{"tcp", "2"},
		{"tcp", "17"},
		{"shm", "3"},
		{"shm", "8"},
	} {
		t.Run(tc.transport+"/"+tc.ranks, func(t *testing.T) {
			out, err := mpxRun(t, 4*time.Minute, "-n", tc.ranks, "--oversubscribe", "--timeout", "200s",
				"--param", "transport="+tc.transport, "./testdata/collalgs")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			want := fmt.Sprintf("collalgs: %s ranks, %d algorithm settings checked: ok", tc.ranks, algorithmSettings())
			if !strings.Contains(out, want) {
				t.Fatalf("no success line in:\n%s", out)
			}
		})
	}
}
