package coll

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the schedule golden files in testdata/")

// scheduleCase runs one collective with one algorithm on a rank: 10
// float64s per rank (per block for gather-like calls), root 1.
func scheduleCase(k Kind, a Algorithm, c Conn) error {
	const n, root = 10, 1
	r, p := c.Rank(), c.Size()
	t := NewTag(0)
	vec := func(m int) []float64 { return input(r, m) }
	switch k {
	case KindBarrier:
		return Barrier(c, t)
	case KindBcast:
		return Bcast(c, t, bytesOf(vec(n)), root, a)
	case KindReduce:
		return Reduce(c, t, vec(n), sum, root, a)
	case KindAllreduce:
		return Allreduce(c, t, vec(n), sum, a)
	case KindGather:
		return Gather(c, t, bytesOf(vec(n)), bytesOf(make([]float64, n*p)), root, a)
	case KindScatter:
		return Scatter(c, t, bytesOf(vec(n*p)), bytesOf(make([]float64, n)), root, a)
	case KindAllgather:
		return Allgather(c, t, bytesOf(vec(n)), bytesOf(make([]float64, n*p)), a)
	case KindAlltoall:
		return Alltoall(c, t, bytesOf(vec(n*p)), bytesOf(make([]float64, n*p)), a)
	case KindReduceScatter:
		cnt := make([]int, p)
		for i := range cnt {
			cnt[i] = n
		}
		return ReduceScatter(c, t, vec(n*p), cnt, sum, a)
	case KindScan:
		return Scan(c, t, vec(n), sum, a)
	case KindExscan:
		return Exscan(c, t, vec(n), sum, a)
	}
	cnt, displs, total := vlayout(p, n)
	switch k {
	case KindGatherv:
		return GathervLinear(c, t, bytesFor(r, cnt[r]), make([]byte, total), cnt, displs, root)
	case KindScatterv:
		return ScattervLinear(c, t, make([]byte, total), cnt, displs, make([]byte, cnt[r]), root)
	case KindAllgatherv:
		return AllgathervRing(c, t, bytesFor(r, cnt[r]), make([]byte, total), cnt, displs)
	case KindAlltoallv:
		// Rank s sends (s+d)%3+1 bytes to rank d.
		sc, sd, rc, rd := make([]int, p), make([]int, p), make([]int, p), make([]int, p)
		for d := 1; d < p; d++ {
			sd[d], rd[d] = sd[d-1]+(r+d-1)%3+1, rd[d-1]+(d-1+r)%3+1
		}
		for d := 0; d < p; d++ {
			sc[d], rc[d] = (r+d)%3+1, (d+r)%3+1
		}
		return AlltoallvPairwise(c, t, make([]byte, sd[p-1]+sc[p-1]), sc, sd, make([]byte, rd[p-1]+rc[p-1]), rc, rd)
	}
	return fmt.Errorf("no schedule case for %s", k)
}

// TestScheduleGolden pins every algorithm's schedule (who sends how many
// bytes to whom in which round) for 4, 5 and 8 ranks, so that a change to
// a schedule shows in review. Run with -update to rewrite the files.
func TestScheduleGolden(t *testing.T) {
	for k := KindBarrier; k < kindEnd; k++ {
		for _, a := range Algorithms[k] {
			name := k.String() + "_" + string(a)
			t.Run(name, func(t *testing.T) {
				var b strings.Builder
				for _, p := range []int{4, 5, 8} {
					w := newWorld(p)
					if err := w.run(t, func(c Conn) error { return scheduleCase(k, a, c) }); err != nil {
						t.Fatalf("p=%d: %v", p, err)
					}
					fmt.Fprintf(&b, "# %s %s, %d ranks\n%s\n", k, a, p, w.schedule())
				}
				path := filepath.Join("testdata", name+".golden")
				if *update {
					if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if b.String() != string(want) {
					t.Errorf("schedule of %s changed; if intended, run go test -update.\ngot:\n%s", name, b.String())
				}
			})
		}
	}
}
