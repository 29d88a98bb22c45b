package coll

import (
	"fmt"
	"sync"
	"testing"

	"github.com/mpx-hpc/mpx/param"
)

// tagConn records the tag of every operation a rank posts, in order.
type tagConn struct {
	Conn
	mu   *sync.Mutex
	tags *[]int
}

func (c tagConn) note(tag int) {
	c.mu.Lock()
	*c.tags = append(*c.tags, tag)
	c.mu.Unlock()
}
func (c tagConn) Send(dst, tag int, buf []byte) error { c.note(tag); return c.Conn.Send(dst, tag, buf) }
func (c tagConn) Recv(src, tag int, buf []byte) error { c.note(tag); return c.Conn.Recv(src, tag, buf) }
func (c tagConn) Isend(dst, tag int, buf []byte) (Req, error) {
	c.note(tag)
	return c.Conn.Isend(dst, tag, buf)
}
func (c tagConn) Irecv(src, tag int, buf []byte) (Req, error) {
	c.note(tag)
	return c.Conn.Irecv(src, tag, buf)
}

// runCall runs call's collective on c with n float64s per rank (per block
// for the gather-like ones) and the given operator.
func runCall(c Conn, t Tag, call Call, n int, op Op[float64]) error {
	r, p, a, root := c.Rank(), c.Size(), call.Algorithm, call.Root
	vec := func(m int) []float64 { return input(r, m) }
	switch call.Kind {
	case KindBarrier:
		return Barrier(c, t)
	case KindBcast:
		return Bcast(c, t, bytesOf(vec(n)), root, a)
	case KindReduce:
		return Reduce(c, t, vec(n), op, root, a)
	case KindAllreduce:
		return Allreduce(c, t, vec(n), op, a)
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
			cnt[i] = (n + i) / p
		}
		return ReduceScatter(c, t, vec(n), cnt, op, a)
	case KindScan:
		return Scan(c, t, vec(n), op, a)
	case KindExscan:
		return Exscan(c, t, vec(n), op, a)
	}
	cnt, displs, total := vlayout(p, n)
	switch call.Kind {
	case KindGatherv:
		return GathervLinear(c, t, bytesFor(r, cnt[r]), make([]byte, total), cnt, displs, root)
	case KindScatterv:
		return ScattervLinear(c, t, make([]byte, total), cnt, displs, make([]byte, cnt[r]), root)
	case KindAllgatherv:
		return AllgathervRing(c, t, bytesFor(r, cnt[r]), make([]byte, total), cnt, displs)
	case KindAlltoallv:
		sc := make([]int, p)
		for i := range sc {
			sc[i] = n
		}
		_, sd := countsOf(partition(n*p, p), 1)
		return AlltoallvPairwise(c, t, make([]byte, n*p), sc, sd, make([]byte, n*p), sc, sd)
	}
	return fmt.Errorf("no case for %s", call.Kind)
}

// TestCallRound checks the decoding of tags into rounds against the
// schedules themselves: every tag each rank posts, for every collective,
// algorithm, rank count 1..9, root, operator kind and a vector long
// enough to take the chain past one segment, is a round of its call's
// layout; a rank's rounds never go back; and the last round some rank
// posts is the layout's last, so "of n" is not inflated. Nested choices
// (the ordered allreduce's bcast, reduce_scatterv's reduce) are forced in
// turn.
func TestCallRound(t *testing.T) {
	noncomm := sum
	noncomm.Commutative = false
	nested := []struct{ name, value string }{
		{"", ""},
		{"coll_bcast_algorithm", "scatter_allgather"},
		{"coll_reduce_algorithm", "rabenseifner"},
		{"coll_reduce_algorithm", "ordered"},
	}
	for _, nest := range nested {
		if nest.name != "" {
			if err := param.Set(nest.name, nest.value); err != nil {
				t.Fatal(err)
			}
		}
		for k := KindBarrier; k < kindEnd; k++ {
			for _, a := range Algorithms[k] {
				if nest.name != "" && a != Ordered && a != ReduceScatterv {
					continue // the nested choice matters to these only
				}
				ns, ops := []int{10}, []Op[float64]{sum}
				if a == Ordered || a == Linear {
					ns = append(ns, ChainSegment/8+3)
				}
				if _, reduces := reproducibleChoice[k]; reduces {
					ops = append(ops, noncomm)
				}
				for p := 1; p <= 9; p++ {
					rs := []int{-1}
					if rooted[k] {
						rs = roots(p)
					}
					for _, n := range ns {
						for _, op := range ops {
							if !op.Commutative && needsCommutative[k][a] {
								continue
							}
							for _, root := range rs {
								call := Call{Kind: k, Algorithm: a, Ranks: p, Bytes: 8 * n, Elem: 8, Commutative: op.Commutative, Root: root}
								name := fmt.Sprintf("%s %s=%s %+v", k, nest.name, nest.value, call)
								checkRounds(t, name, call, n, op)
							}
						}
					}
				}
			}
		}
		if nest.name != "" {
			param.Unset(nest.name)
		}
	}
}

var rooted = map[Kind]bool{KindBcast: true, KindReduce: true, KindGather: true, KindGatherv: true, KindScatter: true, KindScatterv: true}

func checkRounds(t *testing.T, name string, call Call, n int, op Op[float64]) {
	t.Helper()
	w := newWorld(call.Ranks)
	var mu sync.Mutex
	tags := make([][]int, call.Ranks)
	tg := NewTag(77).Phase(0)
	err := w.run(t, func(c Conn) error {
		return runCall(tagConn{Conn: c, mu: &mu, tags: &tags[c.Rank()]}, tg, call, n, op)
	})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	last, total := 0, -1
	for r, ts := range tags {
		prev := 0
		for _, tag := range ts {
			i, m, ok := call.Round(tag)
			if !ok || i < 1 || i > m {
				t.Fatalf("%s: rank %d posts round %d, decoded as %d of %d (ok %v)", name, r, RoundOf(tag), i, m, ok)
			}
			if i < prev {
				t.Fatalf("%s: rank %d goes back from round %d to %d (tag round %d)", name, r, prev, i, RoundOf(tag))
			}
			prev, last, total = i, max(last, i), m
		}
	}
	if total >= 0 && last != total {
		t.Fatalf("%s: layout has %d rounds, the ranks post %d", name, total, last)
	}
	if total < 0 && len(call.spans(0)) > 0 {
		t.Fatalf("%s: nobody posts, the layout has %v", name, call.spans(0))
	}
}

// TestDescribe pins the wording of a few decoded tags, including the
// argument check's allreduce and a tag foreign to the schedule.
func TestDescribe(t *testing.T) {
	tg := NewTag(1503625218 >> roundBits)
	ring := Call{Kind: KindAllreduce, Algorithm: Ring, Ranks: 5, Bytes: 800, Elem: 8, Commutative: true, Root: -1}
	rd := Call{Kind: KindAllreduce, Algorithm: RecursiveDoubling, Ranks: 6, Bytes: 8, Elem: 8, Root: -1}
	chain := Call{Kind: KindScan, Algorithm: Linear, Ranks: 3, Bytes: 3 * ChainSegment, Elem: 8, Root: -1}
	for _, tc := range []struct {
		call Call
		tag  int
		want string
	}{
		{ring, tg.Phase(0).At(0), "ring, round 1 of 8"},
		{ring, tg.Phase(1).At(2), "ring, round 7 of 8"},
		{rd, tg.At(0), "recursive_doubling, round 1 of 4"},
		{rd, tg.At(3), "recursive_doubling, round 4 of 4"},
		{chain, tg.At(2), "linear, round 3 of 3"},
		{ring, tg.Phase(CheckPhase).At(1), "coll_check: recursive_doubling, round 2 of 4"},
		{ring, tg.Phase(2).At(0), "ring, round 8192 (not in its schedule)"},
	} {
		if got := tc.call.Describe(tc.tag); got != tc.want {
			t.Errorf("%+v tag %d: %q, want %q", tc.call, tc.tag, got, tc.want)
		}
	}
}
