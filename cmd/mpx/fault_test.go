package main

import (
	"regexp"
	"strings"
	"testing"
)

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// The rank that fails first is named in the job's last line, with what
// happened to it, and mpx exits as that rank did (128+signal, its status),
// not with the Abort of a rank that only noticed its link break. Over tcp
// the noticing rank's Abort often reaches the launcher before the faulty
// rank's exit does, so each case runs several times.
func TestFaultBlamesFirstCause(t *testing.T) {
	const runs = 5
	faults := []struct {
		fault string
		line  string // what the last line says after "rank 2 on host H "
		code  int
	}{
		{"kill", `was killed by signal 9 \(killed\)`, 137},
		{"panic", `panicked \(exited with status 2\): assignment to entry in nil map`, 2},
		{"nofinalize", `exited with status 0 without calling Finalize`, 1},
	}
	for _, tr := range []string{"tcp", "shm"} {
		for _, tc := range faults {
			t.Run(tr+"/"+tc.fault, func(t *testing.T) {
				re := regexp.MustCompile(`^mpx: rank 2 on host \S+ ` + tc.line + `(; stopped [1-3] other ranks?)?$`)
				for i := range runs {
					code, _, stderr := runMpx(t, "run", "-n", "4", "--oversubscribe", "--param", "transport="+tr,
						faultyProg, "-fault", tc.fault, "-rank", "2")
					last := lastLine(stderr)
					if code != tc.code || !re.MatchString(last) {
						t.Fatalf("run %d of %d: exit %d, last line %q; want %d and %s; stderr:\n%s",
							i+1, runs, code, last, tc.code, re, stderr)
					}
				}
			})
		}
	}
}
