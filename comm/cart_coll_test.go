package comm_test

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

func TestDimsCreate(t *testing.T) {
	cases := []struct {
		n          int
		dims, want []int
		err        bool
	}{
		{6, []int{0, 0}, []int{3, 2}, false},
		{16, []int{0, 0}, []int{4, 4}, false},
		{12, []int{0, 0, 0}, []int{3, 2, 2}, false},
		{7, []int{0, 0}, []int{7, 1}, false},
		{1, []int{0, 0}, []int{1, 1}, false},
		{24, []int{0, 3, 0}, []int{4, 3, 2}, false},
		{8, []int{2, 4}, []int{2, 4}, false},
		{10, []int{3, 0}, nil, true},
		{8, []int{3, 3}, nil, true},
		{0, []int{0}, nil, true},
		{4, []int{-1, 0}, nil, true},
	}
	for _, tc := range cases {
		got, err := comm.DimsCreate(tc.n, tc.dims)
		if (err != nil) != tc.err || !slices.Equal(got, tc.want) {
			t.Errorf("DimsCreate(%d, %v) = %v, %v; want %v (error %v)", tc.n, tc.dims, got, err, tc.want, tc.err)
		}
	}
}

func TestCartesian(t *testing.T) {
	// A 3x4 grid, periodic in the first dimension only, on 13 ranks: rank
	// 12 is left out.
	err := commtest.Run(13, func(c *comm.Comm) error {
		grid, err := c.Cart([]int{3, 4}, []bool{true, false}, true)
		if err != nil {
			return err
		}
		if c.Rank() == 12 {
			if grid != nil {
				return fmt.Errorf("rank 12 got a grid communicator")
			}
			return nil
		}
		r := grid.Rank()
		co, err := grid.Coords(r)
		if err != nil {
			return err
		}
		if want := []int{r / 4, r % 4}; !slices.Equal(co, want) {
			return fmt.Errorf("coords of %d: %v, want %v", r, co, want)
		}
		if back, err := grid.RankOf(co); err != nil || back != r {
			return fmt.Errorf("rank of %v: %d, %v", co, back, err)
		}
		if w, err := grid.RankOf([]int{-1, 0}); err != nil || w != 8 {
			return fmt.Errorf("rank of (-1,0) on a periodic dimension: %d, %v; want 8", w, err)
		}
		grid.SetErrorHandler(comm.ErrorsReturn)
		if _, err := grid.RankOf([]int{0, 4}); err == nil {
			return fmt.Errorf("rank of (0,4) past a non-periodic edge: no error")
		}
		src, dst, err := grid.Shift(0, 1)
		if err != nil {
			return err
		}
		if src != (r+8)%12 || dst != (r+4)%12 {
			return fmt.Errorf("shift dim 0 at %d: %d, %d", r, src, dst)
		}
		src, dst, _ = grid.Shift(1, 1)
		wantSrc, wantDst := r-1, r+1
		if r%4 == 0 {
			wantSrc = comm.ProcNull
		}
		if r%4 == 3 {
			wantDst = comm.ProcNull
		}
		if src != wantSrc || dst != wantDst {
			return fmt.Errorf("shift dim 1 at %d: %d, %d; want %d, %d", r, src, dst, wantSrc, wantDst)
		}
		// Halo exchange: send my rank to every neighbour; each received
		// block must hold the neighbour's rank, or stay -1 at an edge.
		send := slices.Repeat([]int{r}, 4*2)
		recv := slices.Repeat([]int{-1}, 4*2)
		if err := comm.NeighborAlltoall(grid, send, recv); err != nil {
			return err
		}
		for d := 0; d < 2; d++ {
			down, up, _ := grid.Shift(d, 1)
			for k, nb := range []int{down, up} {
				want := nb
				if nb == comm.ProcNull {
					want = -1
				}
				if b := recv[(2*d+k)*2 : (2*d+k+1)*2]; b[0] != want || b[1] != want {
					return fmt.Errorf("rank %d dim %d side %d: halo %v, want %d", r, d, k, b, want)
				}
			}
		}
		// Columns: drop dimension 1.
		col, err := grid.Sub([]bool{true, false})
		if err != nil {
			return err
		}
		if col.Size() != 3 || col.Rank() != r/4 || !slices.Equal(col.Dims(), []int{3}) {
			return fmt.Errorf("sub: size %d rank %d dims %v", col.Size(), col.Rank(), col.Dims())
		}
		sum := make([]int, 1)
		if err := comm.Allreduce(col, []int{r}, sum, comm.Sum); err != nil {
			return err
		}
		if want := 3*(r%4) + 12; sum[0] != want {
			return fmt.Errorf("column sum at %d: %d, want %d", r, sum[0], want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHaloSmallPeriodic: periodic dimensions of 1 and 2, where one rank is
// both neighbours.
func TestHaloSmallPeriodic(t *testing.T) {
	for _, dims := range [][]int{{1}, {2}, {2, 1}, {2, 2}} {
		n := 1
		for _, d := range dims {
			n *= d
		}
		err := commtest.Run(n, func(c *comm.Comm) error {
			grid, err := c.Cart(dims, slices.Repeat([]bool{true}, len(dims)), false)
			if err != nil {
				return err
			}
			r := grid.Rank()
			nb := 2 * len(dims)
			send := make([]int, nb)
			for i := range send {
				send[i] = r*10 + i // block i names its sender and direction
			}
			recv := make([]int, nb)
			if err := comm.NeighborAlltoall(grid, send, recv); err != nil {
				return err
			}
			for d := range dims {
				down, up, _ := grid.Shift(d, 1)
				// From the neighbour below I get what it sent up (block 2d+1).
				if recv[2*d] != down*10+2*d+1 || recv[2*d+1] != up*10+2*d {
					return fmt.Errorf("dims %v rank %d: recv %v", dims, r, recv)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("dims %v: %v", dims, err)
		}
	}
}

func TestGroups(t *testing.T) {
	err := commtest.Run(6, func(c *comm.Comm) error {
		g := c.Group()
		evens, err := g.Incl([]int{4, 2, 0})
		if err != nil {
			return err
		}
		low, err := g.Excl([]int{3, 4, 5})
		if err != nil {
			return err
		}
		if got, _ := evens.TranslateRanks([]int{0, 1, 2}, g); !slices.Equal(got, []int{4, 2, 0}) {
			return fmt.Errorf("translate evens -> world: %v", got)
		}
		inter := evens.Intersection(low) // 2, 0 in evens' order
		if got, _ := inter.TranslateRanks([]int{0, 1}, g); !slices.Equal(got, []int{2, 0}) {
			return fmt.Errorf("intersection: %v", got)
		}
		uni := low.Union(evens) // 0 1 2 then 4
		if got, _ := uni.TranslateRanks([]int{0, 1, 2, 3}, g); !slices.Equal(got, []int{0, 1, 2, 4}) {
			return fmt.Errorf("union: %v", got)
		}
		if got, _ := g.TranslateRanks([]int{3}, evens); got[0] != comm.Undefined {
			return fmt.Errorf("translate 3 into evens: %v", got)
		}
		if _, err := g.Incl([]int{6}); err == nil {
			return fmt.Errorf("incl of rank 6 of 6: no error")
		}
		sub, err := c.Create(evens)
		if err != nil {
			return err
		}
		if c.Rank()%2 == 1 {
			if sub != nil {
				return fmt.Errorf("odd rank %d got a communicator", c.Rank())
			}
		} else {
			if sub.Rank() != (4-c.Rank())/2 || sub.Size() != 3 || sub.Group().Rank() != sub.Rank() {
				return fmt.Errorf("create: rank %d size %d", sub.Rank(), sub.Size())
			}
			out := make([]int, 3)
			if err := comm.Allgather(sub, []int{c.Rank()}, out); err != nil {
				return err
			}
			if !slices.Equal(out, []int{4, 2, 0}) {
				return fmt.Errorf("allgather on created comm: %v", out)
			}
		}
		// Dup keeps the group but traffic stays apart: a message on the
		// duplicate is not received on the original.
		d, err := c.Dup()
		if err != nil {
			return err
		}
		if c.Size() > 1 {
			if c.Rank() == 0 {
				if err := comm.Send(d, []int{7}, 1, 3); err != nil {
					return err
				}
				if err := comm.Send(c, []int{8}, 1, 3); err != nil {
					return err
				}
			} else if c.Rank() == 1 {
				got := make([]int, 1)
				if _, err := comm.Recv(c, got, 0, 3); err != nil || got[0] != 8 {
					return fmt.Errorf("recv on original: %v %v", got, err)
				}
				if _, err := comm.Recv(d, got, 0, 3); err != nil || got[0] != 7 {
					return fmt.Errorf("recv on dup: %v %v", got, err)
				}
			}
		}
		if err := d.Free(); err != nil {
			return err
		}
		d.SetErrorHandler(comm.ErrorsReturn)
		if err := comm.Barrier(d); err == nil {
			return fmt.Errorf("barrier on a freed communicator: no error")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestManyCommunicators creates and frees more communicators than there
// are context ids, proving that Free returns them.
func TestManyCommunicators(t *testing.T) {
	err := commtest.Run(3, func(c *comm.Comm) error {
		for i := 0; i < 5000; i++ {
			d, err := c.Split(0, 0)
			if err != nil {
				return fmt.Errorf("split %d: %w", i, err)
			}
			if err := d.Free(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestContextsOfNonMembers: ranks left out of a new communicator do not
// keep its context id, so they can go on creating communicators.
func TestContextsOfNonMembers(t *testing.T) {
	err := commtest.Run(2, func(c *comm.Comm) error {
		for i := 0; i < 5000; i++ {
			color := 0
			if c.Rank() == 1 {
				color = comm.Undefined
			}
			d, err := c.Split(color, 0)
			if err != nil {
				return fmt.Errorf("split %d: %w", i, err)
			}
			if d != nil {
				if err := d.Free(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestContextPoolsCollected: the per-world context pools do not keep
// finished in-process jobs alive.
func TestContextPoolsCollected(t *testing.T) {
	for i := 0; i < 20; i++ {
		if err := commtest.Run(2, func(c *comm.Comm) error {
			d, err := c.Dup()
			if err != nil {
				return err
			}
			return d.Free()
		}); err != nil {
			t.Fatal(err)
		}
	}
	n := comm.LivePoolsForTest()
	for try := 0; try < 100 && n > 10; try++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // cleanups run after the collection
		n = comm.LivePoolsForTest()
	}
	if n > 10 {
		t.Fatalf("%d context pools alive after 20 finished jobs of 2 ranks", n)
	}
}
