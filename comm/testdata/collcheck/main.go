// Command collcheck runs every collective between real processes and
// checks each result against a serial oracle that every rank computes from
// the same deterministic inputs. comm's launch tests run it through
// `mpx run` over each transport; rank 0 prints one summary line.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mpx-hpc/mpx/comm"
)

// in is rank r's i-th input element.
func in(r, i int) int64 { return int64((r+1)*1000003+i*7919) % 100003 }

func fail(format string, args ...any) error { return fmt.Errorf(format, args...) }

func main() {
	countsFlag := flag.String("counts", "0,1,7,1000,300000", "element counts to check")
	flag.Parse()
	var counts []int
	for _, s := range strings.Split(*countsFlag, ",") {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "collcheck: -counts: %q is not a count\n", s)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	w, err := comm.Init()
	if err != nil {
		fmt.Fprintln(os.Stderr, "collcheck:", err)
		os.Exit(1)
	}
	w.SetErrorHandler(comm.ErrorsReturn)
	checked := 0
	// The world, then a split into even and odd ranks (non-power-of-two
	// sizes and a context of their own).
	half, err := w.Split(w.Rank()%2, -w.Rank())
	if err == nil {
		for _, c := range []*comm.Comm{w, half} {
			for _, n := range counts {
				var k int
				if k, err = check(c, n); err != nil {
					err = fmt.Errorf("%s (size %d), count %d: %w", c.Name(), c.Size(), n, err)
					break
				}
				checked += k
			}
			if err != nil {
				break
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "collcheck rank %d: %v\n", w.Rank(), err)
		os.Exit(1)
	}
	if err := w.Finalize(); err != nil {
		fmt.Fprintln(os.Stderr, "collcheck:", err)
		os.Exit(1)
	}
	if w.Rank() == 0 {
		fmt.Printf("collcheck: %d ranks, %d collective results checked: ok\n", w.Size(), checked)
	}
}

func equal(got, want []int64) error {
	if len(got) != len(want) {
		return fail("length %d, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fail("element %d: %d, want %d", i, got[i], want[i])
		}
	}
	return nil
}

func input(r, n int) []int64 {
	b := make([]int64, n)
	for i := range b {
		b[i] = in(r, i)
	}
	return b
}

// check runs each collective with count n on c and returns how many
// results it checked.
func check(c *comm.Comm, n int) (int, error) {
	me, p := c.Rank(), c.Size()
	root := p / 2
	sum := make([]int64, n) // oracle of a Sum over all ranks
	max := make([]int64, n)
	for r := 0; r < p; r++ {
		for i := 0; i < n; i++ {
			sum[i] += in(r, i)
			if r == 0 || in(r, i) > max[i] {
				max[i] = in(r, i)
			}
		}
	}
	steps := []struct {
		name string
		run  func() error
	}{
		{"barrier", func() error { return comm.Barrier(c) }},
		{"bcast", func() error {
			b := make([]int64, n)
			if me == root {
				copy(b, input(root, n))
			}
			if err := comm.Bcast(c, b, root); err != nil {
				return err
			}
			return equal(b, input(root, n))
		}},
		{"allreduce sum", func() error {
			out := make([]int64, n)
			if err := comm.Allreduce(c, input(me, n), out, comm.Sum); err != nil {
				return err
			}
			return equal(out, sum)
		}},
		{"allreduce max in place", func() error {
			b := input(me, n)
			if err := comm.Allreduce(c, nil, b, comm.Max); err != nil {
				return err
			}
			return equal(b, max)
		}},
		{"iallreduce", func() error {
			out := make([]int64, n)
			r, err := comm.Iallreduce(c, input(me, n), out, comm.Sum)
			if err != nil {
				return err
			}
			if _, err := r.Wait(); err != nil {
				return err
			}
			return equal(out, sum)
		}},
		{"reduce", func() error {
			out := make([]int64, n)
			if err := comm.Reduce(c, input(me, n), out, comm.Sum, root); err != nil {
				return err
			}
			if me != root {
				return nil
			}
			return equal(out, sum)
		}},
		{"gather / allgather", func() error {
			want := make([]int64, 0, n*p)
			for r := 0; r < p; r++ {
				want = append(want, input(r, n)...)
			}
			out := make([]int64, n*p)
			if err := comm.Gather(c, input(me, n), out, root); err != nil {
				return err
			}
			if me == root {
				if err := equal(out, want); err != nil {
					return fmt.Errorf("gather: %w", err)
				}
			}
			all := make([]int64, n*p)
			if err := comm.Allgather(c, input(me, n), all); err != nil {
				return err
			}
			return equal(all, want)
		}},
		{"scatter", func() error {
			var send []int64
			if me == root {
				for r := 0; r < p; r++ {
					send = append(send, input(r, n)...)
				}
			}
			out := make([]int64, n)
			if err := comm.Scatter(c, send, out, root); err != nil {
				return err
			}
			return equal(out, input(me, n))
		}},
		{"alltoall", func() error {
			// Block j of rank r's send is input(r*p+j, n).
			send := make([]int64, 0, n*p)
			for j := 0; j < p; j++ {
				send = append(send, input(me*p+j, n)...)
			}
			out := make([]int64, n*p)
			if err := comm.Alltoall(c, send, out); err != nil {
				return err
			}
			want := make([]int64, 0, n*p)
			for r := 0; r < p; r++ {
				want = append(want, input(r*p+me, n)...)
			}
			return equal(out, want)
		}},
		{"gatherv", func() error {
			// Rank r contributes r+n%3 elements.
			counts, displs := make([]int, p), make([]int, p)
			total := 0
			for r := range counts {
				counts[r], displs[r] = r+n%3, total
				total += counts[r]
			}
			out := make([]int64, total)
			if err := comm.Gatherv(c, input(me, counts[me]), out, counts, displs, root); err != nil {
				return err
			}
			if me != root {
				return nil
			}
			var want []int64
			for r := range counts {
				want = append(want, input(r, counts[r])...)
			}
			return equal(out, want)
		}},
		{"reduce-scatter block", func() error {
			send := input(me, n*p)
			out := make([]int64, n)
			if err := comm.ReduceScatterBlock(c, send, out, comm.Sum); err != nil {
				return err
			}
			want := make([]int64, n)
			for r := 0; r < p; r++ {
				full := input(r, n*p)
				for i := range want {
					want[i] += full[me*n+i]
				}
			}
			return equal(out, want)
		}},
		{"scan / exscan", func() error {
			out := make([]int64, n)
			if err := comm.Scan(c, input(me, n), out, comm.Sum); err != nil {
				return err
			}
			want := make([]int64, n)
			for r := 0; r <= me; r++ {
				for i := range want {
					want[i] += in(r, i)
				}
			}
			if err := equal(out, want); err != nil {
				return fmt.Errorf("scan: %w", err)
			}
			ex := make([]int64, n)
			if err := comm.Exscan(c, input(me, n), ex, comm.Sum); err != nil {
				return err
			}
			if me == 0 {
				return nil
			}
			for i := range want {
				want[i] -= in(me, i)
			}
			return equal(ex, want)
		}},
		{"float allreduce identical on every rank", func() error {
			x := make([]float64, n)
			for i := range x {
				x[i] = 1 / float64(in(me, i)+1)
			}
			out := make([]float64, n)
			if err := comm.Allreduce(c, x, out, comm.Sum); err != nil {
				return err
			}
			// Every rank must hold the same bits: compare with root's.
			ref := append([]float64(nil), out...)
			if err := comm.Bcast(c, ref, root); err != nil {
				return err
			}
			for i := range out {
				if out[i] != ref[i] {
					return fail("element %d: %v here, %v on rank %d", i, out[i], ref[i], root)
				}
			}
			return nil
		}},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			return 0, errors.Join(fmt.Errorf("%s", s.name), err)
		}
	}
	return len(steps), nil
}
