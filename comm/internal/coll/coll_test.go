package coll

import (
	"fmt"
	"math"
	"math/rand"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

const maxRanks = 17

var counts = []int{0, 1, 7, 1000, 300000}

// bigRanks are the sizes that also run the 300000-element count: powers of
// two and not, small and the largest.
var bigRanks = map[int]bool{2: true, 5: true}

// cases calls fn for every communicator size 1..17 and element count.
func cases(t *testing.T, fn func(t *testing.T, p, n int)) {
	for p := 1; p <= maxRanks; p++ {
		for _, n := range counts {
			if n >= 300000 && (!bigRanks[p] || testing.Short()) {
				continue
			}
			t.Run(fmt.Sprintf("p=%d/n=%d", p, n), func(t *testing.T) { fn(t, p, n) })
		}
	}
}

// val is rank r's element i: small integers, so that float sums are exact
// in any order and every algorithm must match the oracle exactly.
func val(r, i int) float64 { return float64((r*7919 + i*31 + 3) % 1000) }

func input(r, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = val(r, i)
	}
	return x
}

var sum = Op[float64]{Fn: func(dst, a, b []float64) {
	for i := range dst {
		dst[i] = a[i] + b[i]
	}
}, Commutative: true}

// mat2 is a 2x2 matrix over uint32 (wrapping): multiplication is
// associative and not commutative, so it catches any algorithm that
// combines out of rank order.
type mat2 [4]uint32

func mul(a, b mat2) mat2 {
	return mat2{a[0]*b[0] + a[1]*b[2], a[0]*b[1] + a[1]*b[3], a[2]*b[0] + a[3]*b[2], a[2]*b[1] + a[3]*b[3]}
}

var matmul = Op[mat2]{Fn: func(dst, a, b []mat2) {
	for i := range dst {
		dst[i] = mul(a[i], b[i])
	}
}}

func matInput(r, n int) []mat2 {
	x := make([]mat2, n)
	for i := range x {
		s := uint32(r*131 + i*7 + 1)
		x[i] = mat2{s, s*3 + 1, s ^ 0x55, s*5 + 2}
	}
	return x
}

// prefixes is the serial oracle: element r is x_0 op ... op x_r,
// computed one element at a time.
func prefixes[T any](op Op[T], in func(r, n int) []T, p, n int) [][]T {
	out := make([][]T, p)
	out[0] = in(0, n)
	for r := 1; r < p; r++ {
		acc, x := append([]T(nil), out[r-1]...), in(r, n)
		for i := range acc {
			op.Fn(acc[i:i+1], acc[i:i+1], x[i:i+1])
		}
		out[r] = acc
	}
	return out
}

// fold is x_0 op ... op x_{p-1}.
func fold[T any](op Op[T], in func(r, n int) []T, p, n int) []T {
	return prefixes(op, in, p, n)[p-1]
}

func roots(p int) []int { return slices.Compact([]int{0, p / 2, p - 1}) }

// rootsFor keeps the large count to one (non-zero where possible) root.
func rootsFor(p, n int) []int {
	if n >= 300000 {
		return []int{p - 1}
	}
	return roots(p)
}

func TestBarrier(t *testing.T) {
	for p := 1; p <= maxRanks; p++ {
		var entered atomic.Int32
		w := newWorld(p)
		err := w.run(t, func(c Conn) error {
			entered.Add(1)
			if err := Barrier(c, NewTag(1)); err != nil {
				return err
			}
			if n := entered.Load(); int(n) != p {
				return fmt.Errorf("rank %d left the barrier with %d of %d ranks entered", c.Rank(), n, p)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("p=%d: %v", p, err)
		}
	}
}

func TestBcast(t *testing.T) {
	for _, a := range Algorithms[KindBcast] {
		t.Run(string(a), func(t *testing.T) {
			cases(t, func(t *testing.T, p, n int) {
				for _, root := range rootsFor(p, n) {
					want := input(root, n)
					err := newWorld(p).run(t, func(c Conn) error {
						buf := make([]float64, n)
						if c.Rank() == root {
							copy(buf, want)
						}
						if err := Bcast(c, NewTag(7), bytesOf(buf), root, a); err != nil {
							return err
						}
						return sameAs(c.Rank(), buf, want)
					})
					if err != nil {
						t.Fatalf("root %d: %v", root, err)
					}
				}
			})
		})
	}
}

func sameAs[T comparable](r int, got, want []T) error {
	if len(got) != len(want) {
		return fmt.Errorf("rank %d: length %d, want %d", r, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("rank %d: element %d is %v, want %v", r, i, got[i], want[i])
		}
	}
	return nil
}

// reduceCase runs one reduction with every operator of the test (a
// commutative sum and a non-commutative matrix product).
func TestReduce(t *testing.T) {
	for _, a := range Algorithms[KindReduce] {
		t.Run(string(a), func(t *testing.T) {
			cases(t, func(t *testing.T, p, n int) {
				for _, root := range rootsFor(p, n) {
					checkReduce(t, p, n, root, a, sum, input)
					if n < 300000 {
						checkReduce(t, p, n, root, a, matmul, matInput)
					}
				}
			})
		})
	}
}

func checkReduce[T comparable](t *testing.T, p, n, root int, a Algorithm, op Op[T], in func(r, n int) []T) {
	t.Helper()
	want := fold(op, in, p, n)
	err := newWorld(p).run(t, func(c Conn) error {
		buf := in(c.Rank(), n)
		if err := Reduce(c, NewTag(3), buf, op, root, a); err != nil {
			return err
		}
		if c.Rank() == root {
			return sameAs(root, buf, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("root %d, commutative %v: %v", root, op.Commutative, err)
	}
}

func TestAllreduce(t *testing.T) {
	for _, a := range Algorithms[KindAllreduce] {
		t.Run(string(a), func(t *testing.T) {
			cases(t, func(t *testing.T, p, n int) {
				checkAllreduce(t, p, n, a, sum, input)
				if !needsCommutative[KindAllreduce][a] && n < 300000 {
					checkAllreduce(t, p, n, a, matmul, matInput)
				}
			})
		})
	}
}

func checkAllreduce[T comparable](t *testing.T, p, n int, a Algorithm, op Op[T], in func(r, n int) []T) {
	t.Helper()
	want := fold(op, in, p, n)
	err := newWorld(p).run(t, func(c Conn) error {
		buf := in(c.Rank(), n)
		if err := Allreduce(c, NewTag(3), buf, op, a); err != nil {
			return err
		}
		return sameAs(c.Rank(), buf, want)
	})
	if err != nil {
		t.Fatalf("commutative %v: %v", op.Commutative, err)
	}
}

// TestRingRefusesNonCommutative: the ring algorithms combine out of rank
// order and must say so rather than compute a wrong product.
func TestRingRefusesNonCommutative(t *testing.T) {
	err := newWorld(3).run(t, func(c Conn) error {
		return Allreduce(c, NewTag(1), matInput(c.Rank(), 5), matmul, Ring)
	})
	if err == nil || !strings.Contains(err.Error(), "commutative") {
		t.Fatalf("ring allreduce with a non-commutative op: error %v, want one naming commutativity", err)
	}
}

func TestReduceScatter(t *testing.T) {
	for _, a := range Algorithms[KindReduceScatter] {
		t.Run(string(a), func(t *testing.T) {
			cases(t, func(t *testing.T, p, n int) {
				// Uneven blocks: rank i gets n/p plus one for every third rank.
				cnt := make([]int, p)
				total := 0
				for i := range cnt {
					cnt[i] = n/p + i%3%2
					total += cnt[i]
				}
				checkReduceScatter(t, p, total, cnt, a, sum, input)
				if !needsCommutative[KindReduceScatter][a] && n < 300000 {
					checkReduceScatter(t, p, total, cnt, a, matmul, matInput)
				}
			})
		})
	}
}

func checkReduceScatter[T comparable](t *testing.T, p, n int, cnt []int, a Algorithm, op Op[T], in func(r, n int) []T) {
	t.Helper()
	want := fold(op, in, p, n)
	err := newWorld(p).run(t, func(c Conn) error {
		r := c.Rank()
		buf := in(r, n)
		if err := ReduceScatter(c, NewTag(9), buf, cnt, op, a); err != nil {
			return err
		}
		off := 0
		for i := 0; i < r; i++ {
			off += cnt[i]
		}
		return sameAs(r, buf[off:off+cnt[r]], want[off:off+cnt[r]])
	})
	if err != nil {
		t.Fatalf("commutative %v: %v", op.Commutative, err)
	}
}

func TestScan(t *testing.T) {
	for _, k := range []Kind{KindScan, KindExscan} {
		for _, a := range Algorithms[k] {
			t.Run(k.String()+"/"+string(a), func(t *testing.T) {
				cases(t, func(t *testing.T, p, n int) {
					checkScan(t, p, n, k, a, sum, input)
					if n < 300000 { // the product is slow; 1000 elements show the order
						checkScan(t, p, n, k, a, matmul, matInput)
					}
				})
			})
		}
	}
}

func checkScan[T comparable](t *testing.T, p, n int, k Kind, a Algorithm, op Op[T], in func(r, n int) []T) {
	t.Helper()
	pre := prefixes(op, in, p, n)
	err := newWorld(p).run(t, func(c Conn) error {
		r := c.Rank()
		buf := in(r, n)
		var want []T
		var err error
		if k == KindScan {
			want = pre[r]
			err = Scan(c, NewTag(2), buf, op, a)
		} else {
			want = in(r, n) // rank 0 keeps its input
			if r > 0 {
				want = pre[r-1]
			}
			err = Exscan(c, NewTag(2), buf, op, a)
		}
		if err != nil {
			return err
		}
		return sameAs(r, buf, want)
	})
	if err != nil {
		t.Fatalf("commutative %v: %v", op.Commutative, err)
	}
}

func TestGatherScatter(t *testing.T) {
	cases(t, func(t *testing.T, p, n int) {
		if n >= 300000 {
			n /= p // the gathered whole stays near the big count
		}
		for _, root := range roots(p) {
			all := make([]float64, 0, n*p)
			for r := 0; r < p; r++ {
				all = append(all, input(r, n)...)
			}
			err := newWorld(p).run(t, func(c Conn) error {
				r := c.Rank()
				var recv []float64
				if r == root {
					recv = make([]float64, n*p)
				}
				if err := Gather(c, NewTag(4), bytesOf(input(r, n)), bytesOf(recv), root, Binomial); err != nil {
					return err
				}
				if r == root {
					if err := sameAs(r, recv, all); err != nil {
						return fmt.Errorf("gather: %w", err)
					}
				}
				var send []float64
				if r == root {
					send = all
				}
				mine := make([]float64, n)
				if err := Scatter(c, NewTag(5), bytesOf(send), bytesOf(mine), root, Binomial); err != nil {
					return err
				}
				if err := sameAs(r, mine, input(r, n)); err != nil {
					return fmt.Errorf("scatter: %w", err)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("root %d: %v", root, err)
			}
		}
	})
}

// vlayout gives rank i a block of (i*n+3)%(n+2) bytes, laid out in reverse
// rank order with a gap, so that displacements matter.
func vlayout(p, n int) (cnt, displs []int, total int) {
	cnt, displs = make([]int, p), make([]int, p)
	for i := p - 1; i >= 0; i-- {
		cnt[i] = (i*n + 3) % (n + 2)
		displs[i] = total
		total += cnt[i] + 1
	}
	return cnt, displs, total
}

func bytesFor(r, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r*37 + i*11 + 1)
	}
	return b
}

func TestVariants(t *testing.T) {
	cases(t, func(t *testing.T, p, n int) {
		if n >= 300000 {
			n /= p
		}
		cnt, displs, total := vlayout(p, n)
		want := make([]byte, total)
		for i := 0; i < p; i++ {
			copy(want[displs[i]:], bytesFor(i, cnt[i]))
		}
		for _, root := range roots(p) {
			err := newWorld(p).run(t, func(c Conn) error {
				r := c.Rank()
				var recv []byte
				if r == root {
					recv = make([]byte, total)
				}
				if err := GathervLinear(c, NewTag(1), bytesFor(r, cnt[r]), recv, cnt, displs, root); err != nil {
					return err
				}
				if r == root {
					if err := sameAs(r, recv, want); err != nil {
						return fmt.Errorf("gatherv: %w", err)
					}
				}
				mine := make([]byte, cnt[r])
				if err := ScattervLinear(c, NewTag(2), recv, cnt, displs, mine, root); err != nil {
					return err
				}
				if err := sameAs(r, mine, bytesFor(r, cnt[r])); err != nil {
					return fmt.Errorf("scatterv: %w", err)
				}
				all := make([]byte, total)
				if err := AllgathervRing(c, NewTag(3), bytesFor(r, cnt[r]), all, cnt, displs); err != nil {
					return err
				}
				if err := sameAs(r, all, want); err != nil {
					return fmt.Errorf("allgatherv: %w", err)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("root %d: %v", root, err)
			}
		}
	})
}

func TestAllgather(t *testing.T) {
	for _, a := range Algorithms[KindAllgather] {
		t.Run(string(a), func(t *testing.T) {
			cases(t, func(t *testing.T, p, n int) {
				if n >= 300000 {
					n /= p
				}
				var want []float64
				for r := 0; r < p; r++ {
					want = append(want, input(r, n)...)
				}
				err := newWorld(p).run(t, func(c Conn) error {
					recv := make([]float64, n*p)
					if err := Allgather(c, NewTag(6), bytesOf(input(c.Rank(), n)), bytesOf(recv), a); err != nil {
						return err
					}
					return sameAs(c.Rank(), recv, want)
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// a2a is the block rank src sends to rank dst.
func a2a(src, dst, n int) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = float64(src*100000 + dst*1000 + i)
	}
	return x
}

func TestAlltoall(t *testing.T) {
	for _, a := range Algorithms[KindAlltoall] {
		t.Run(string(a), func(t *testing.T) {
			cases(t, func(t *testing.T, p, n int) {
				if n >= 300000 {
					n /= p * p
				}
				err := newWorld(p).run(t, func(c Conn) error {
					r := c.Rank()
					var send, want []float64
					for d := 0; d < p; d++ {
						send = append(send, a2a(r, d, n)...)
						want = append(want, a2a(d, r, n)...)
					}
					recv := make([]float64, n*p)
					if err := Alltoall(c, NewTag(8), bytesOf(send), bytesOf(recv), a); err != nil {
						return err
					}
					return sameAs(r, recv, want)
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestAlltoallv(t *testing.T) {
	cases(t, func(t *testing.T, p, n int) {
		if n >= 300000 {
			n /= p * p
		}
		// Rank s sends (s+d)%3*n/2 bytes to rank d.
		sz := func(s, d int) int { return (s + d) % 3 * n / 2 }
		err := newWorld(p).run(t, func(c Conn) error {
			r := c.Rank()
			scnt, sdis, rcnt, rdis := make([]int, p), make([]int, p), make([]int, p), make([]int, p)
			var send, want []byte
			for d := 0; d < p; d++ {
				scnt[d], sdis[d] = sz(r, d), len(send)
				send = append(send, bytesFor(r*p+d, sz(r, d))...)
				rcnt[d], rdis[d] = sz(d, r), len(want)
				want = append(want, bytesFor(d*p+r, sz(d, r))...)
			}
			recv := make([]byte, len(want))
			if err := AlltoallvPairwise(c, NewTag(8), send, scnt, sdis, recv, rcnt, rdis); err != nil {
				return err
			}
			return sameAs(r, recv, want)
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestDeterministic: with random floats (where order matters), every rank
// gets the same bits from every allreduce algorithm, and the reproducible
// algorithms give exactly the serial left fold.
func TestDeterministic(t *testing.T) {
	rnd := func(r, n int) []float64 {
		g := rand.New(rand.NewSource(int64(r)))
		x := make([]float64, n)
		for i := range x {
			x[i] = g.NormFloat64() * math.Pow(10, float64(g.Intn(12)-6))
		}
		return x
	}
	for _, p := range []int{3, 6, 8, 13} {
		n := 1001
		serial := fold(sum, rnd, p, n)
		for _, a := range Algorithms[KindAllreduce] {
			res := make([][]float64, p)
			err := newWorld(p).run(t, func(c Conn) error {
				buf := rnd(c.Rank(), n)
				res[c.Rank()] = buf
				return Allreduce(c, NewTag(1), buf, sum, a)
			})
			if err != nil {
				t.Fatalf("%s p=%d: %v", a, p, err)
			}
			for r := 1; r < p; r++ {
				for i := range res[r] {
					if math.Float64bits(res[r][i]) != math.Float64bits(res[0][i]) {
						t.Fatalf("%s p=%d: rank %d element %d is %v, rank 0 has %v", a, p, r, i, res[r][i], res[0][i])
					}
				}
			}
			if a == Ordered {
				for i := range serial {
					if math.Float64bits(res[0][i]) != math.Float64bits(serial[i]) {
						t.Fatalf("ordered p=%d: element %d is %v, serial fold %v", p, i, res[0][i], serial[i])
					}
				}
			}
		}
	}
}

func TestMismatchedLengthIsAnError(t *testing.T) {
	err := newWorld(4).run(t, func(c Conn) error {
		buf := make([]byte, 8+c.Rank()%2) // odd ranks expect 9 bytes
		return Bcast(c, NewTag(1), buf, 0, Binomial)
	})
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("bcast with mismatched lengths: error %v, want a length error", err)
	}
}
