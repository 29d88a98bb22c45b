package comm_test

import (
	"fmt"

	"github.com/mpx-hpc/mpx/comm"
	"github.com/mpx-hpc/mpx/comm/commtest"
)

// Each example runs its ranks in-process with commtest.Run; a real
// program gets its communicator from comm.Init under `mpx run`. Only rank
// 0 prints, so the output is deterministic.

func ExampleBarrier() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		if err := comm.Barrier(c); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println("all 4 ranks reached the barrier")
		}
		return nil
	})
	// Output: all 4 ranks reached the barrier
}

func ExampleBcast() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		params := make([]float64, 3)
		if c.Rank() == 2 {
			params = []float64{0.1, 0.2, 0.3}
		}
		if err := comm.Bcast(c, params, 2); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(params)
		}
		return nil
	})
	// Output: [0.1 0.2 0.3]
}

func ExampleReduce() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		local := []int{c.Rank(), 1}
		total := make([]int, 2) // only the root's matters
		if err := comm.Reduce(c, local, total, comm.Sum, 0); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println("sum of ranks:", total[0], "ranks:", total[1])
		}
		return nil
	})
	// Output: sum of ranks: 6 ranks: 4
}

func ExampleAllreduce() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		residual := []float64{float64(c.Rank()) * 0.5}
		if err := comm.Allreduce(c, nil, residual, comm.Max); err != nil { // nil send: in place
			return err
		}
		if c.Rank() == 0 {
			fmt.Println("max residual:", residual[0])
		}
		return nil
	})
	// Output: max residual: 1.5
}

func ExampleAllreduce_minLoc() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		mine := []comm.ValueIndex[float64]{{Value: float64((c.Rank() + 1) % 4), Index: c.Rank()}}
		best := make([]comm.ValueIndex[float64], 1)
		if err := comm.Allreduce(c, mine, best, comm.MinLoc); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Printf("smallest value %v on rank %d\n", best[0].Value, best[0].Index)
		}
		return nil
	})
	// Output: smallest value 0 on rank 3
}

func ExampleNewOp() {
	// An associative, non-commutative operator (decimal concatenation):
	// the digits come out in rank order.
	concat := comm.NewOp(func(a, b int64) int64 {
		shift := int64(10)
		for shift <= b {
			shift *= 10
		}
		return a*shift + b
	}, false)
	_ = commtest.Run(4, func(c *comm.Comm) error {
		out := make([]int64, 1)
		if err := comm.Allreduce(c, []int64{int64(c.Rank() + 1)}, out, concat); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(out[0])
		}
		return nil
	})
	// Output: 1234
}

func ExampleGather() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		all := make([]int, 2*c.Size())
		if err := comm.Gather(c, []int{c.Rank(), c.Rank() * 10}, all, 0); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(all)
		}
		return nil
	})
	// Output: [0 0 1 10 2 20]
}

func ExampleGatherv() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		mine := make([]int, c.Rank()+1) // rank r sends r+1 copies of r
		for i := range mine {
			mine[i] = c.Rank()
		}
		counts, displs := []int{1, 2, 3}, []int{0, 1, 3}
		all := make([]int, 6)
		if err := comm.Gatherv(c, mine, all, counts, displs, 0); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(all)
		}
		return nil
	})
	// Output: [0 1 1 2 2 2]
}

func ExampleScatter() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		var work []float64
		if c.Rank() == 0 {
			work = []float64{1, 2, 3, 4, 5, 6}
		}
		mine := make([]float64, 2)
		if err := comm.Scatter(c, work, mine, 0); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(mine)
		}
		return nil
	})
	// Output: [1 2]
}

func ExampleScatterv() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		var work []int
		if c.Rank() == 0 {
			work = []int{9, 8, 7, 6, 5, 4}
		}
		counts, displs := []int{3, 2, 1}, []int{0, 3, 5}
		mine := make([]int, counts[c.Rank()])
		if err := comm.Scatterv(c, work, mine, counts, displs, 0); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(mine)
		}
		return nil
	})
	// Output: [9 8 7]
}

func ExampleAllgather() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		sizes := make([]int, c.Size())
		if err := comm.Allgather(c, []int{100 + c.Rank()}, sizes); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(sizes)
		}
		return nil
	})
	// Output: [100 101 102 103]
}

func ExampleAllgatherv() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		counts, displs := []int{1, 2, 1}, []int{0, 1, 3}
		mine := make([]int, counts[c.Rank()])
		for i := range mine {
			mine[i] = c.Rank()
		}
		all := make([]int, 4)
		if err := comm.Allgatherv(c, mine, all, counts, displs); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(all)
		}
		return nil
	})
	// Output: [0 1 1 2]
}

func ExampleAlltoall() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		send := make([]int, c.Size())
		for d := range send {
			send[d] = 10*c.Rank() + d // "from r to d"
		}
		recv := make([]int, c.Size())
		if err := comm.Alltoall(c, send, recv); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(recv)
		}
		return nil
	})
	// Output: [0 10 20]
}

func ExampleAlltoallv() {
	_ = commtest.Run(2, func(c *comm.Comm) error {
		// Rank 0 sends one element to itself and two to rank 1; rank 1
		// sends one to each.
		var send, scounts, sdispls, rcounts, rdispls []int
		if c.Rank() == 0 {
			send, scounts, sdispls = []int{1, 2, 3}, []int{1, 2}, []int{0, 1}
			rcounts, rdispls = []int{1, 1}, []int{0, 1}
		} else {
			send, scounts, sdispls = []int{4, 5}, []int{1, 1}, []int{0, 1}
			rcounts, rdispls = []int{2, 1}, []int{0, 2}
		}
		recv := make([]int, rcounts[0]+rcounts[1])
		if err := comm.Alltoallv(c, send, scounts, sdispls, recv, rcounts, rdispls); err != nil {
			return err
		}
		if c.Rank() == 1 {
			fmt.Println(recv)
		}
		return nil
	})
	// Output: [2 3 5]
}

func ExampleReduceScatterBlock() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		votes := []int{1, c.Rank(), 2} // one block per rank
		mine := make([]int, 1)
		if err := comm.ReduceScatterBlock(c, votes, mine, comm.Sum); err != nil {
			return err
		}
		if c.Rank() == 1 {
			fmt.Println(mine[0])
		}
		return nil
	})
	// Output: 3
}

func ExampleReduceScatter() {
	_ = commtest.Run(2, func(c *comm.Comm) error {
		counts := []int{1, 2}
		mine := make([]int, counts[c.Rank()])
		if err := comm.ReduceScatter(c, []int{1, 2, 3}, mine, counts, comm.Prod); err != nil {
			return err
		}
		if c.Rank() == 1 {
			fmt.Println(mine)
		}
		return nil
	})
	// Output: [4 9]
}

func ExampleScan() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		prefix := make([]int, 1)
		if err := comm.Scan(c, []int{c.Rank() + 1}, prefix, comm.Sum); err != nil {
			return err
		}
		if c.Rank() == 3 {
			fmt.Println(prefix[0])
		}
		return nil
	})
	// Output: 10
}

func ExampleExscan() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		// Each rank owns rows: where do mine start?
		rows := []int{10 + c.Rank()}
		start := []int{0} // rank 0's is not written
		if err := comm.Exscan(c, rows, start, comm.Sum); err != nil {
			return err
		}
		if c.Rank() == 3 {
			fmt.Println("rank 3 starts at row", start[0])
		}
		return nil
	})
	// Output: rank 3 starts at row 33
}

func ExampleIallreduce() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		dot := make([]float64, 1)
		req, err := comm.Iallreduce(c, []float64{float64(c.Rank())}, dot, comm.Sum)
		if err != nil {
			return err
		}
		// ... compute something else while the reduction progresses ...
		if _, err := req.Wait(); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(dot[0])
		}
		return nil
	})
	// Output: 6
}

func ExampleComm_Split() {
	_ = commtest.Run(6, func(c *comm.Comm) error {
		row, err := c.Split(c.Rank()/3, c.Rank()) // two rows of three
		if err != nil {
			return err
		}
		sum := make([]int, 1)
		if err := comm.Allreduce(row, []int{c.Rank()}, sum, comm.Sum); err != nil {
			return err
		}
		if c.Rank() == 4 {
			fmt.Println("row", c.Rank()/3, "rank", row.Rank(), "sum", sum[0])
		}
		return row.Free()
	})
	// Output: row 1 rank 1 sum 12
}

func ExampleComm_Cart() {
	_ = commtest.Run(6, func(c *comm.Comm) error {
		dims, err := comm.DimsCreate(c.Size(), []int{0, 0})
		if err != nil {
			return err
		}
		grid, err := c.Cart(dims, []bool{true, true}, false)
		if err != nil {
			return err
		}
		coords, _ := grid.Coords(grid.Rank())
		left, right, _ := grid.Shift(1, 1)
		if c.Rank() == 0 {
			fmt.Println("dims", dims, "coords", coords, "left", left, "right", right)
		}
		return nil
	})
	// Output: dims [3 2] coords [0 0] left 1 right 1
}

func ExampleNeighborAlltoall() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		ring, err := c.Cart([]int{4}, []bool{true}, false)
		if err != nil {
			return err
		}
		// Send my edge values: block 0 down, block 1 up.
		me := float64(ring.Rank())
		halo := make([]float64, 2)
		if err := comm.NeighborAlltoall(ring, []float64{me, me + 0.5}, halo); err != nil {
			return err
		}
		if ring.Rank() == 0 {
			fmt.Println("from below:", halo[0], "from above:", halo[1])
		}
		return nil
	})
	// Output: from below: 3.5 from above: 1
}

func ExampleIbarrier() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		req, err := comm.Ibarrier(c)
		if err != nil {
			return err
		}
		// ... work that does not depend on the others ...
		if _, err := req.Wait(); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println("everyone has arrived")
		}
		return nil
	})
	// Output: everyone has arrived
}

func ExampleIbcast() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		cfg := make([]int32, 2)
		if c.Rank() == 0 {
			cfg[0], cfg[1] = 64, 128
		}
		req, err := comm.Ibcast(c, cfg, 0)
		if err != nil {
			return err
		}
		if _, err := req.Wait(); err != nil {
			return err
		}
		if c.Rank() == 2 {
			fmt.Println(cfg)
		}
		return nil
	})
	// Output: [64 128]
}

func ExampleIreduce() {
	_ = commtest.Run(4, func(c *comm.Comm) error {
		count := make([]int64, 1)
		req, err := comm.Ireduce(c, []int64{int64(10 * c.Rank())}, count, comm.Sum, 1)
		if err != nil {
			return err
		}
		if _, err := req.Wait(); err != nil {
			return err
		}
		if c.Rank() == 1 {
			fmt.Println(count[0])
		}
		return nil
	})
	// Output: 60
}

func ExampleIallgather() {
	_ = commtest.Run(3, func(c *comm.Comm) error {
		loads := make([]float64, c.Size())
		req, err := comm.Iallgather(c, []float64{float64(c.Rank()) / 2}, loads)
		if err != nil {
			return err
		}
		if _, err := req.Wait(); err != nil {
			return err
		}
		if c.Rank() == 0 {
			fmt.Println(loads)
		}
		return nil
	})
	// Output: [0 0.5 1]
}

func ExampleIalltoall() {
	_ = commtest.Run(2, func(c *comm.Comm) error {
		send := []int{c.Rank()*2 + 0, c.Rank()*2 + 1}
		recv := make([]int, 2)
		req, err := comm.Ialltoall(c, send, recv)
		if err != nil {
			return err
		}
		if _, err := req.Wait(); err != nil {
			return err
		}
		if c.Rank() == 1 {
			fmt.Println(recv)
		}
		return nil
	})
	// Output: [1 3]
}
