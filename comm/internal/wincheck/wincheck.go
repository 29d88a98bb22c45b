// Package wincheck holds the checks of comm.Window's MPI semantics, shared
// by comm's in-process tests and the launched program that runs them
// between processes (comm/testdata/wincheck). Each check is collective
// over the communicator it gets and returns an error naming what broke.
package wincheck

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mpx-hpc/mpx/comm"
)

// Check is one collective check.
type Check struct {
	Name string
	Fn   func(c *comm.Comm) error
}

// Checks are every check, with the large transfer at large bytes.
func Checks(large int) []Check {
	return []Check{
		{"fence", Fence},
		{"exclusive-lock", ExclusiveLock},
		{"shared-lock", SharedLock},
		{"accumulate-atomic", AccumulateAtomic},
		{"fetch-and-op-tickets", Tickets},
		{"cas-spinlock", SpinLock},
		{"accumulate-ops", AccumulateOps},
		{"sizes", func(c *comm.Comm) error { return Sizes(c, large) }},
		{"errors", Errors},
	}
}

// iters is how often each rank repeats a contended step.
const iters = 20

func free[T comm.Numeric](w *comm.Window[T], err error) error {
	if ferr := w.Free(); err == nil {
		err = ferr
	}
	return err
}

// Fence: in fence epochs, every rank puts into every rank's window and
// reads it back; what a rank put before a Fence is in place after it.
func Fence(c *comm.Comm) error {
	me, n := c.Rank(), c.Size()
	w, err := comm.AllocWindow[int64](c, n)
	if err != nil {
		return err
	}
	return free(w, func() error {
		for round := int64(1); round <= 3; round++ {
			if err := w.Fence(); err != nil {
				return err
			}
			for t := range n {
				if err := w.Put([]int64{round*1000 + int64(me)}, t, me); err != nil {
					return err
				}
			}
			if err := w.Fence(); err != nil {
				return err
			}
			for i, v := range w.Local() {
				if want := round*1000 + int64(i); v != want {
					return fmt.Errorf("round %d: element %d is %d after the fence, want %d", round, i, v, want)
				}
			}
			got := make([]int64, n)
			if err := w.Get(got, (me+1)%n, 0); err != nil {
				return err
			}
			for i, v := range got {
				if want := round*1000 + int64(i); v != want {
					return fmt.Errorf("round %d: got element %d = %d from rank %d, want %d", round, i, v, (me+1)%n, want)
				}
			}
		}
		return w.Fence()
	}())
}

// ExclusiveLock: every rank increments a counter at rank 0 by a
// non-atomic Get and Put under an exclusive lock; none is lost.
func ExclusiveLock(c *comm.Comm) error {
	w, err := comm.AllocWindow[int64](c, 1)
	if err != nil {
		return err
	}
	return free(w, func() error {
		for range iters {
			if err := w.Lock(comm.LockExclusive, 0); err != nil {
				return err
			}
			v := []int64{0}
			if err := w.Get(v, 0, 0); err != nil {
				return err
			}
			v[0]++
			if err := w.Put(v, 0, 0); err != nil {
				return err
			}
			if err := w.Unlock(0); err != nil {
				return err
			}
		}
		if err := comm.Barrier(c); err != nil {
			return err
		}
		if c.Rank() == 0 {
			if got, want := w.Local()[0], int64(iters*c.Size()); got != want {
				return fmt.Errorf("counter is %d after %d locked increments", got, want)
			}
		}
		return nil
	}())
}

// SharedLock: every rank holds a shared lock on rank 0 at the same time
// (a Barrier inside the epoch would never end otherwise), and an
// exclusive lock then waits for them all.
func SharedLock(c *comm.Comm) error {
	me, n := c.Rank(), c.Size()
	w, err := comm.AllocWindow[int64](c, n)
	if err != nil {
		return err
	}
	return free(w, func() error {
		if err := w.Lock(comm.LockShared, 0); err != nil {
			return err
		}
		if err := w.Put([]int64{int64(me + 1)}, 0, me); err != nil {
			return err
		}
		if err := comm.Barrier(c); err != nil { // every rank holds the lock now
			return err
		}
		if err := w.Unlock(0); err != nil {
			return err
		}
		if err := w.Lock(comm.LockExclusive, 0); err != nil {
			return err
		}
		got := make([]int64, n)
		if err := w.Get(got, 0, 0); err != nil {
			return err
		}
		if err := w.Unlock(0); err != nil {
			return err
		}
		for i, v := range got {
			if v != int64(i+1) {
				return fmt.Errorf("element %d is %d after every shared holder's put, want %d", i, v, i+1)
			}
		}
		return comm.Barrier(c)
	}())
}

// AccumulateAtomic: every rank adds to one element of every rank, many
// times, under LockAll; no addition is lost.
func AccumulateAtomic(c *comm.Comm) error {
	n := c.Size()
	w, err := comm.AllocWindow[float64](c, 2)
	if err != nil {
		return err
	}
	return free(w, func() error {
		if err := w.LockAll(); err != nil {
			return err
		}
		for i := range iters {
			for t := range n {
				if err := w.Accumulate([]float64{1, 0.5}, t, 0, comm.Sum); err != nil {
					return err
				}
			}
			if i%5 == 0 {
				if err := w.FlushAll(); err != nil {
					return err
				}
			}
		}
		if err := w.UnlockAll(); err != nil {
			return err
		}
		if err := comm.Barrier(c); err != nil {
			return err
		}
		want := []float64{float64(iters * n), float64(iters*n) / 2}
		if got := w.Local(); !slices.Equal(got, want) {
			return fmt.Errorf("after %d accumulates by each of %d ranks: %v, want %v", iters, n, got, want)
		}
		return nil
	}())
}

// Tickets: FetchAndOp(Sum) on one counter hands out every ticket once.
func Tickets(c *comm.Comm) error {
	n := c.Size()
	w, err := comm.AllocWindow[int32](c, 1)
	if err != nil {
		return err
	}
	return free(w, func() error {
		if err := w.LockAll(); err != nil {
			return err
		}
		mine := make([]int32, iters)
		for i := range mine {
			if mine[i], err = w.FetchAndOp(1, n-1, 0, comm.Sum); err != nil {
				return err
			}
		}
		if err := w.UnlockAll(); err != nil {
			return err
		}
		all := make([]int32, iters*n)
		if err := comm.Allgather(c, mine, all); err != nil {
			return err
		}
		slices.Sort(all)
		for i, v := range all {
			if v != int32(i) {
				return fmt.Errorf("tickets %v: ticket %d is %d (lost or duplicated)", all, i, v)
			}
		}
		return nil
	}())
}

// SpinLock: a lock built from CompareAndSwap at rank 0 guards a counter
// updated by Get and Put; none is lost.
func SpinLock(c *comm.Comm) error {
	me := int64(c.Rank())
	w, err := comm.AllocWindow[int64](c, 2)
	if err != nil {
		return err
	}
	return free(w, func() error {
		if err := w.LockAll(); err != nil {
			return err
		}
		for range iters / 2 {
			for {
				old, err := w.CompareAndSwap(0, me+1, 0, 0)
				if err != nil {
					return err
				}
				if old == 0 {
					break
				}
				if old < 1 || old > int64(c.Size()) {
					return fmt.Errorf("lock word holds %d", old)
				}
			}
			v := []int64{0}
			if err := w.Get(v, 0, 1); err != nil {
				return err
			}
			v[0]++
			if err := w.Put(v, 0, 1); err != nil {
				return err
			}
			if err := w.Flush(0); err != nil {
				return err
			}
			if old, err := w.CompareAndSwap(me+1, 0, 0, 0); err != nil || old != me+1 {
				return fmt.Errorf("releasing the spin lock found %d (err %v), want %d", old, err, me+1)
			}
		}
		if err := w.UnlockAll(); err != nil {
			return err
		}
		if err := comm.Barrier(c); err != nil {
			return err
		}
		if c.Rank() == 0 {
			if got, want := w.Local()[1], int64(iters/2*c.Size()); got != want {
				return fmt.Errorf("counter is %d after %d increments under the spin lock", got, want)
			}
		}
		return nil
	}())
}

// AccumulateOps: each operator against a serial oracle, and the old
// values GetAccumulate returns.
func AccumulateOps(c *comm.Comm) error {
	me, n := c.Rank(), c.Size()
	type tc struct {
		op     comm.Op
		fn     func(a, b int64) int64
		fillTo int64
	}
	cases := []tc{
		{comm.Sum, func(a, b int64) int64 { return a + b }, 0},
		{comm.Prod, func(a, b int64) int64 { return a * b }, 1},
		{comm.Max, func(a, b int64) int64 { return max(a, b) }, -100},
		{comm.Min, func(a, b int64) int64 { return min(a, b) }, 100},
		{comm.BXor, func(a, b int64) int64 { return a ^ b }, 0},
		{comm.BOr, func(a, b int64) int64 { return a | b }, 0},
	}
	const m = 5
	w, err := comm.AllocWindow[int64](c, m)
	if err != nil {
		return err
	}
	operand := func(r, i int) int64 { return int64((r+1)*(i+2)%7 + 1) }
	return free(w, func() error {
		for _, k := range cases {
			for i := range w.Local() {
				w.Local()[i] = k.fillTo
			}
			if err := w.Fence(); err != nil {
				return err
			}
			src := make([]int64, m)
			for i := range src {
				src[i] = operand(me, i)
			}
			if err := w.Accumulate(src, (me+1)%n, 0, k.op); err != nil {
				return err
			}
			if err := w.Fence(); err != nil {
				return err
			}
			from := (me + n - 1) % n
			for i, v := range w.Local() {
				if want := k.fn(k.fillTo, operand(from, i)); v != want {
					return fmt.Errorf("%s: element %d is %d, want %d", k.op, i, v, want)
				}
			}
		}
		// GetAccumulate returns the old values; Replace stores, NoOp reads.
		if err := w.Fence(); err != nil {
			return err
		}
		before := slices.Clone(w.Local()[1:3]) // only this rank targets its own window here
		old := make([]int64, 2)
		if err := w.GetAccumulate([]int64{int64(me), int64(me)}, old, me, 1, comm.Replace); err != nil {
			return err
		}
		if !slices.Equal(old, before) {
			return fmt.Errorf("GetAccumulate fetched %v, want the old values %v", old, before)
		}
		now := make([]int64, 2)
		if err := w.GetAccumulate(nil, now, me, 1, comm.NoOp); err != nil {
			return err
		}
		if !slices.Equal(now, []int64{int64(me), int64(me)}) {
			return fmt.Errorf("after Replace, NoOp fetched %v, want [%d %d]", now, me, me)
		}
		prev, err := w.FetchAndOp(10, me, 1, comm.Sum)
		if err != nil {
			return err
		}
		if prev != int64(me) {
			return fmt.Errorf("FetchAndOp returned %d, want %d", prev, me)
		}
		if got, err := w.CompareAndSwap(12345, 7, me, 1); err != nil || got != int64(me)+10 {
			return fmt.Errorf("failing CompareAndSwap returned %d (err %v), want %d", got, err, me+10)
		}
		if err := w.Fence(); err != nil {
			return err
		}
		if got := w.Local()[1]; got != int64(me)+10 {
			return fmt.Errorf("a failing CompareAndSwap changed the element to %d", got)
		}
		return w.Fence()
	}())
}

// Sizes: zero-length windows and transfers, and a transfer of large
// bytes both ways between rank 0 and the last rank.
func Sizes(c *comm.Comm, large int) error {
	me, n := c.Rank(), c.Size()
	count := large / 8
	mine := 0
	if me == 0 {
		mine = count
	}
	w, err := comm.AllocWindow[float64](c, mine)
	if err != nil {
		return err
	}
	return free(w, func() error {
		if err := w.Fence(); err != nil {
			return err
		}
		if err := w.Put(nil, n-1, 0); err != nil { // zero-length into a zero-length window
			return err
		}
		if err := w.Get([]float64{}, 0, count); err != nil { // zero-length at the end
			return err
		}
		var src []float64
		if me == n-1 {
			src = make([]float64, count)
			for i := range src {
				src[i] = float64(i)*0.5 + 1
			}
			if err := w.Put(src, 0, 0); err != nil {
				return err
			}
		}
		if err := w.Fence(); err != nil {
			return err
		}
		if me == 0 {
			for i, v := range w.Local() {
				if v != float64(i)*0.5+1 {
					return fmt.Errorf("element %d of the %d-byte put is %v", i, large, v)
				}
			}
			for i := range w.Local() {
				w.Local()[i] *= 2
			}
		}
		if err := w.Fence(); err != nil {
			return err
		}
		if me == n-1 {
			got := make([]float64, count)
			if err := w.Get(got, 0, 0); err != nil {
				return err
			}
			for i, v := range got {
				if v != 2*src[i] {
					return fmt.Errorf("element %d of the %d-byte get is %v, want %v", i, large, v, 2*src[i])
				}
			}
		}
		return w.Fence()
	}())
}

// Errors: out-of-range accesses, calls outside an epoch and after Free
// fail with the right error, and move nothing.
func Errors(c *comm.Comm) error {
	me, n := c.Rank(), c.Size()
	c.SetErrorHandler(comm.ErrorsReturn)
	w, err := comm.AllocWindow[int64](c, 4)
	if err != nil {
		return err
	}
	for i := range w.Local() {
		w.Local()[i] = 7
	}
	expect := func(what string, err, want error, op string) error {
		var re *comm.RankError
		if !errors.Is(err, want) || !errors.As(err, &re) || re.Op != op {
			return fmt.Errorf("%s: got %v, want a *RankError of %q wrapping %v", what, err, op, want)
		}
		return nil
	}
	t := (me + 1) % n
	steps := []func() error{
		func() error { return expect("put before any epoch", w.Put([]int64{1}, t, 0), comm.ErrEpoch, "win put") },
		func() error { return expect("unlock without lock", w.Unlock(t), comm.ErrEpoch, "win unlock") },
		func() error {
			return expect("unlock_all without lock_all", w.UnlockAll(), comm.ErrEpoch, "win unlock_all")
		},
		w.Fence,
		func() error { return expect("put past the end", w.Put([]int64{1, 2}, t, 3), comm.ErrRange, "win put") },
		func() error {
			return expect("get at a negative offset", w.Get(make([]int64, 1), t, -1), comm.ErrRange, "win get")
		},
		func() error {
			return expect("accumulate past the end", w.Accumulate([]int64{1, 1, 1, 1, 1}, t, 0, comm.Sum), comm.ErrRange, "win accumulate")
		},
		func() error {
			_, err := w.CompareAndSwap(7, 1, t, 4)
			return expect("compare-and-swap past the end", err, comm.ErrRange, "win compare_and_swap")
		},
		func() error { return expect("put to rank -5", w.Put([]int64{1}, -5, 0), comm.ErrRank, "win put") },
		func() error {
			return expect("accumulate with NoOp", w.Accumulate([]int64{1}, t, 0, comm.NoOp), comm.ErrArg, "win accumulate")
		},
		func() error {
			return expect("accumulate with a user op", w.Accumulate([]int64{1}, t, 0, comm.NewOp(func(a, b int64) int64 { return a }, true)), comm.ErrArg, "win accumulate")
		},
		func() error { return w.Put([]int64{1}, comm.ProcNull, 0) },
		w.Fence,
		func() error {
			if !slices.Equal(w.Local(), []int64{7, 7, 7, 7}) {
				return fmt.Errorf("refused accesses changed the window to %v", w.Local())
			}
			return nil
		},
		func() error { return w.Lock(comm.LockShared, t) },
		func() error { return expect("lock twice", w.Lock(comm.LockShared, t), comm.ErrEpoch, "win lock") },
		func() error { return expect("fence inside a lock epoch", w.Fence(), comm.ErrEpoch, "win fence") },
		func() error { return expect("free inside a lock epoch", w.Free(), comm.ErrEpoch, "win free") },
		func() error { return w.Unlock(t) },
		w.Free,
		func() error { return expect("put after free", w.Put([]int64{1}, t, 0), comm.ErrFreed, "win put") },
		func() error { return expect("fence after free", w.Fence(), comm.ErrFreed, "win fence") },
		func() error {
			return expect("lock after free", w.Lock(comm.LockExclusive, t), comm.ErrFreed, "win lock")
		},
		func() error { return expect("free twice", w.Free(), comm.ErrFreed, "win free") },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			return fmt.Errorf("step %d: %w", i, err)
		}
	}
	return comm.Barrier(c)
}
