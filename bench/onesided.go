package bench

import (
	"fmt"
	"time"

	"github.com/mpx-hpc/mpx/comm"
)

// The one-sided tests, after OSU's osu_put_latency, osu_get_latency,
// osu_put_bw, osu_get_bw, osu_acc_latency, osu_fop_latency and
// osu_cas_latency in their default synchronization (-s flush): rank 0
// locks rank 1's window (shared), issues the operation and flushes, or a
// window of operations then one flush for the bandwidth tests; rank 1
// only waits, serving the requests that need it. Latency is per
// operation and flush, not half a round trip. Windows hold bytes
// (MPI_CHAR), except for fetch-and-op and compare-and-swap, which move one
// 8-byte integer (OSU's MPI_LONG_LONG) whatever the size asked.
var oneSided = []*Test{
	{Name: "put_latency", Title: "MPI_Put Latency Test", Family: FamilyLatency, MinRanks: 2},
	{Name: "get_latency", Title: "MPI_Get Latency Test", Family: FamilyLatency, MinRanks: 2},
	{Name: "put_bw", Title: "MPI_Put Bandwidth Test", Family: FamilyBandwidth, MinRanks: 2},
	{Name: "get_bw", Title: "MPI_Get Bandwidth Test", Family: FamilyBandwidth, MinRanks: 2},
	{Name: "acc_latency", Title: "MPI_Accumulate latency Test", Family: FamilyLatency, MinRanks: 2},
	{Name: "fop_latency", Title: "MPI_Fetch_and_op latency Test", Family: FamilyLatency, MinRanks: 2},
	{Name: "cas_latency", Title: "MPI_Compare_and_swap latency Test", Family: FamilyLatency, MinRanks: 2},
}

func init() {
	tests = append(tests, oneSided...)
	for _, t := range oneSided {
		runners[t.Name] = rma
	}
}

// rmaOp is one timed operation of test name on win, to rank 1, of size
// bytes.
func rmaOp(name string, win *comm.Window[byte], iwin *comm.Window[int64], b *bufs, size int) func() error {
	switch name {
	case "put_latency", "put_bw":
		return func() error { return win.Put(b.send[:size], 1, 0) }
	case "get_latency", "get_bw":
		return func() error { return win.Get(b.recv[:size], 1, 0) }
	case "acc_latency":
		return func() error { return win.Accumulate(b.send[:size], 1, 0, comm.Sum) }
	case "fop_latency":
		return func() error { _, err := iwin.FetchAndOp(1, 1, 0, comm.Sum); return err }
	case "cas_latency":
		return func() error { _, err := iwin.CompareAndSwap(0, 1, 1, 0); return err }
	}
	return nil
}

func rma(c *comm.Comm, t *Test, o Options, b *bufs, size int) (Row, error) {
	if fixedSize(t) && size != 8 {
		return Row{}, fmt.Errorf("%s moves one 8-byte integer: size 8 only (-m 8), not %d", t.Name, size)
	}
	b.touch(size)
	win, err := comm.NewWindow(c, b.recv[:size])
	if err != nil {
		return Row{}, err
	}
	iwin, err := comm.AllocWindow[int64](c, 1)
	if err != nil {
		return Row{}, err
	}
	var d time.Duration
	if c.Rank() == 0 {
		d, err = rmaLoop(t, o, size, rmaOp(t.Name, win, iwin, b, size), win, iwin)
	}
	// The target serves rank 0's requests while it waits here.
	if err := comm.Barrier(c); err != nil {
		return Row{}, err
	}
	if ferr := win.Free(); err == nil {
		err = ferr
	}
	if ferr := iwin.Free(); err == nil {
		err = ferr
	}
	if err != nil || c.Rank() != 0 {
		return Row{}, err
	}
	iters, _ := o.Schedule(size)
	if t.Family == FamilyBandwidth {
		return Row{Size: size, Value: float64(iters*o.Window) * float64(size) / 1e6 / d.Seconds()}, nil
	}
	return Row{Size: size, Value: float64(d.Nanoseconds()) / 1e3 / float64(iters)}, nil
}

// rmaLoop times op on rank 0 inside a shared lock of rank 1: each
// operation flushed (latency), or a window of them per flush (bandwidth).
func rmaLoop(t *Test, o Options, size int, op func() error, win *comm.Window[byte], iwin *comm.Window[int64]) (time.Duration, error) {
	lock, unlock, flush := win.Lock, win.Unlock, win.Flush
	if fixedSize(t) {
		lock, unlock, flush = iwin.Lock, iwin.Unlock, iwin.Flush
	}
	iters, warmup := o.Schedule(size)
	per := 1
	if t.Family == FamilyBandwidth {
		per = o.Window
	}
	if err := lock(comm.LockShared, 1); err != nil {
		return 0, err
	}
	var start time.Time
	for i := 0; i < iters+warmup; i++ {
		if i == warmup {
			start = time.Now()
		}
		for range per {
			if err := op(); err != nil {
				return 0, err
			}
		}
		if err := flush(1); err != nil {
			return 0, err
		}
	}
	d := time.Since(start)
	return d, unlock(1)
}

// fixedSize reports the tests that move one 8-byte integer.
func fixedSize(t *Test) bool { return t.Name == "fop_latency" || t.Name == "cas_latency" }
