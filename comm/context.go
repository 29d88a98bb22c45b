package comm

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync"
	"weak"

	"github.com/mpx-hpc/mpx/comm/internal/coll"
)

// Context allocation. Every communicator has two contexts: ctx (even) for
// point-to-point traffic and ctx+1 for its collectives; the world has 0
// and 1. A new communicator's ctx must be the same on all its members and
// unused by any of them, which is what MPICH does: each process keeps a
// bitmask of free context ids, the parent's ranks AND their masks together
// in an allreduce, and take the lowest id free everywhere. The masks live
// per world, since all communicators of a process share the engine.

const (
	contextIDs = 4096 // ids per process; ctx = 2*id
	maskWords  = contextIDs / 64
)

type ctxPool struct {
	mu   sync.Mutex
	free [maskWords]uint64 // bit set = id free
}

// pools maps a world (weakly, so that a finished in-process job is
// collected) to its context pool.
var pools sync.Map // weak.Pointer[world] -> *ctxPool

func poolOf(w *world) *ctxPool {
	key := weak.Make(w)
	if p, ok := pools.Load(key); ok {
		return p.(*ctxPool)
	}
	p := &ctxPool{}
	for i := range p.free {
		p.free[i] = ^uint64(0)
	}
	p.free[0] &^= 1 // id 0 is the world
	actual, loaded := pools.LoadOrStore(key, p)
	if !loaded {
		runtime.AddCleanup(w, func(k weak.Pointer[world]) { pools.Delete(k) }, key)
	}
	return actual.(*ctxPool)
}

// errNoContext: every context id is in use (too many communicators alive).
var errNoContext = errors.New("no free communicator context (too many communicators; Free unused ones)")

// allocContext agrees with every rank of c on a context free on all of
// them. Collective over c. Two allocations running concurrently on one
// process (different communicators, different goroutines) may both pick
// the same id; the second round detects it everywhere and they retry.
func (c *Comm) allocContext() (uint32, error) {
	pool := poolOf(c.w)
	op, _ := collOp[uint64](BAnd)
	for attempt := 0; ; attempt++ {
		pool.mu.Lock()
		mask := pool.free
		pool.mu.Unlock()
		if err := c.runColl("context allocation", coll.KindAllreduce, coll.RecursiveDoubling, func(cc coll.Conn, t coll.Tag) error {
			return coll.AllreduceRecursiveDoubling(cc, t, mask[:], op)
		}); err != nil {
			return 0, err
		}
		id := -1
		for i, w := range mask {
			if w != 0 {
				id = i*64 + bits.TrailingZeros64(w)
				break
			}
		}
		if id < 0 {
			return 0, errNoContext
		}
		// Reserve locally, then agree that everyone could.
		pool.mu.Lock()
		ok := pool.free[id/64]&(1<<(id%64)) != 0
		if ok {
			pool.free[id/64] &^= 1 << (id % 64)
		}
		pool.mu.Unlock()
		all := []uint64{0}
		if ok {
			all[0] = 1
		}
		if err := c.runColl("context allocation", coll.KindAllreduce, coll.RecursiveDoubling, func(cc coll.Conn, t coll.Tag) error {
			return coll.AllreduceRecursiveDoubling(cc, t, all, op)
		}); err != nil {
			return 0, err
		}
		if all[0] == 1 {
			return uint32(2 * id), nil
		}
		if ok {
			pool.release(uint32(2 * id))
		}
		if attempt > 100 {
			return 0, fmt.Errorf("context allocation: no agreement after %d attempts", attempt)
		}
	}
}

func (p *ctxPool) release(ctx uint32) {
	id := int(ctx / 2)
	if id == 0 || id >= contextIDs {
		return
	}
	p.mu.Lock()
	p.free[id/64] |= 1 << (id % 64)
	p.mu.Unlock()
}
