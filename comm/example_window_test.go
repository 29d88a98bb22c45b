package comm_test

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// Active target: between two Fences every rank writes its rank into its
// right neighbour's window; after the second Fence each window holds
// what was put into it.
func ExampleWindow_Fence() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		me, n := c.Rank(), c.Size()
		halo := make([]int, 1) // the caller's memory, exposed
		win, err := comm.NewWindow(c, halo)
		if err != nil {
			return err
		}
		if err := win.Fence(); err != nil {
			return err
		}
		if err := win.Put([]int{me}, (me+1)%n, 0); err != nil {
			return err
		}
		if err := win.Fence(); err != nil { // every Put is now in place
			return err
		}
		if me == 0 {
			fmt.Println("rank 0 got", halo[0], "from its left neighbour")
		}
		return win.Free()
	})
	// Output: rank 0 got 3 from its left neighbour
}

// Passive target: a shared counter at rank 0 hands out unique tickets
// with FetchAndOp, without rank 0 doing anything but waiting.
func ExampleWindow_FetchAndOp() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		win, err := comm.AllocWindow[int64](c, 1)
		if err != nil {
			return err
		}
		if err := win.Lock(comm.LockShared, 0); err != nil {
			return err
		}
		ticket, err := win.FetchAndOp(1, 0, 0, comm.Sum)
		if err != nil {
			return err
		}
		if err := win.Unlock(0); err != nil {
			return err
		}
		all := make([]int64, c.Size())
		if err := comm.Gather(c, []int64{ticket}, all, 0); err != nil {
			return err
		}
		if c.Rank() == 0 {
			seen := make([]bool, len(all))
			for _, t := range all {
				seen[t] = true
			}
			fmt.Println("tickets handed out:", seen, "counter:", win.Local()[0])
		}
		return win.Free()
	})
	// Output: tickets handed out: [true true true true] counter: 4
}

// An exclusive lock makes a read-modify-write of remote memory safe:
// every rank adds its rank to rank 0's value with a Get and a Put.
func ExampleWindow_Lock() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		win, err := comm.AllocWindow[float64](c, 1)
		if err != nil {
			return err
		}
		if err := win.Lock(comm.LockExclusive, 0); err != nil {
			return err
		}
		v := make([]float64, 1)
		if err := win.Get(v, 0, 0); err != nil {
			return err
		}
		v[0] += float64(c.Rank())
		if err := win.Put(v, 0, 0); err != nil {
			return err
		}
		if err := win.Unlock(0); err != nil { // the Put is complete at rank 0
			return err
		}
		if err := comm.Barrier(c); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println("sum of ranks:", win.Local()[0])
		}
		return win.Free()
	})
	// Output: sum of ranks: 6
}

// Accumulate is atomic element by element: every rank adds into the same
// elements of rank 0's histogram at once, and nothing is lost.
func ExampleWindow_Accumulate() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		hist, err := comm.AllocWindow[int32](c, 3)
		if err != nil {
			return err
		}
		if err := hist.LockAll(); err != nil {
			return err
		}
		if err := hist.Accumulate([]int32{1, int32(c.Rank()), 2}, 0, 0, comm.Sum); err != nil {
			return err
		}
		if err := hist.UnlockAll(); err != nil {
			return err
		}
		if err := comm.Barrier(c); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(hist.Local())
		}
		return hist.Free()
	})
	// Output: [4 6 8]
}

// Misuse is reported, not silently done: an access outside the target's
// window, or outside any epoch.
func ExampleWindow_Put_errors() {
	_ = commtest.Run(2, func(c *comm.Comm) error {
		win, err := comm.AllocWindow[float64](c, 4)
		if err != nil {
			return err
		}
		errEpoch := win.Put([]float64{1}, 1, 0)
		if err := win.Fence(); err != nil {
			return err
		}
		errRange := win.Put([]float64{1, 2}, 1, 3)
		if c.Rank() == 0 {
			fmt.Println(errEpoch)
			fmt.Println(errRange)
		}
		if err := win.Fence(); err != nil {
			return err
		}
		return win.Free()
	})
	// Output:
	// win put rank 0 -> 1 on world: wrong synchronization epoch: no access epoch to rank 1 (Fence, Lock or LockAll first)
	// win put rank 0 -> 1 on world: access outside the remote region: elements [3, 5) of rank 1's 4-element window
}
