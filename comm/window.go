package comm

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
	"weak"

	"github.com/mpx-hpc/mpx/comm/internal/p2p"
	"github.com/mpx-hpc/mpx/rdma"
	"github.com/mpx-hpc/mpx/transport"
)

// One-sided communication (MPI-3 RMA) over package rdma.
//
// A Window exposes a slice of each rank of a communicator to the others,
// which Put into it, Get from it and Accumulate into it without the
// target's participation in each transfer. The calls that move data must
// be inside an access epoch to their target, opened in one of two ways:
//
//   - active target: Fence, called by every rank, separates epochs; the
//     operations issued between two Fences are complete, at origin and
//     target, when the second returns on every rank.
//   - passive target: Lock (exclusive or shared) and Unlock around
//     operations on one target, or LockAll and UnlockAll around
//     operations on any; the target takes no part. Flush completes the
//     operations issued so far to a target without ending the epoch.
//
// Memory model (MPI's "unified" model): a window has one copy, the
// caller's memory. A Put or Accumulate is visible at the target once the
// epoch that issued it is closed (the Fence, the Unlock) or the origin's
// Flush returned; the target's own loads see it after a synchronization
// that follows that point (the next Fence, or a Barrier or message after
// the Unlock). Concurrent Puts to one location, or a Put and a local
// store, are erroneous in MPI and leave undefined bytes here too; only
// accumulates (Accumulate, GetAccumulate, FetchAndOp, CompareAndSwap) to
// one location are atomic with one another, element by element,
// whichever ranks issue them (the target's own included).
//
// Buffers: the window's memory belongs to the caller of NewWindow (or to
// the window, from AllocWindow) and must stay alive until Free returns;
// the caller reads and writes it locally only as the memory model above
// allows. Put and Accumulate do not retain their origin slice: it may be
// reused when they return. Get, GetAccumulate, FetchAndOp and
// CompareAndSwap return when their result is in place (sooner than MPI
// requires, which costs a round trip each on the emulated path).
//
// Progress: between processes of one node, Put and Get copy straight
// between the processes' memories (cross-memory attach). Otherwise, and
// for accumulates and locks always, the target's engine serves the
// request, on the goroutine of whatever call the target is waiting in,
// as MPI libraries without a progress thread do: a target that computes
// without calling comm delays its origins, and a passive-target epoch
// completes only once the target next waits (a Barrier, Recv, Fence,
// Free, or any wait). While a window exists, a rank over TCP reads all
// its links when it waits, not only the link of the peer it waits for.
//
// Errors are *RankError values, with Op naming the call ("win put", ...)
// and Peer the target, wrapping ErrRange (outside the target's window),
// ErrEpoch (no epoch to that target, or a synchronization call out of
// turn), ErrFreed (the window was freed) or ErrArg; a refused access
// moves no data.
type Window[T Numeric] struct {
	pc    *Comm // the creating communicator: ranks, names and error handler of errors
	c     *Comm // its private duplicate, for the window's own collectives
	buf   []T
	dom   *rdma.Domain
	reg   *rdma.Region
	rem   []*rdma.Remote // by rank
	sizes []int          // window length in elements, by rank
	esz   int

	mu    sync.Mutex
	freed bool
	fence bool             // a Fence opened an access epoch to every rank
	locks map[int]LockType // passive-target epochs this rank holds, by target
	all   bool             // LockAll is held

	acc sync.Mutex // element-wise atomicity of accumulates at this target
	lk  lockState  // this rank's window lock, as a target
}

// LockType is the kind of a passive-target lock.
type LockType int

// Lock types, as MPI's MPI_LOCK_EXCLUSIVE and MPI_LOCK_SHARED.
const (
	// LockExclusive: no other rank holds the target's lock meanwhile.
	LockExclusive LockType = 1
	// LockShared: other shared holders may access the target meanwhile.
	LockShared LockType = 2
)

func (l LockType) String() string {
	switch l {
	case LockExclusive:
		return "exclusive"
	case LockShared:
		return "shared"
	}
	return fmt.Sprintf("LockType(%d)", int(l))
}

// Operators of the accumulate family only, as MPI_REPLACE and MPI_NO_OP.
var (
	// Replace stores the origin's value: an atomic Put, element by
	// element.
	Replace = Op{id: 12, name: "replace"}
	// NoOp leaves the target unchanged: with GetAccumulate and
	// FetchAndOp, an atomic Get.
	NoOp = Op{id: 13, name: "no_op"}
)

// Window errors.
var (
	// ErrRange: an access outside the target's window.
	ErrRange = rdma.ErrRange
	// ErrEpoch: an access outside an epoch to its target, or a
	// synchronization call that does not fit the current epoch.
	ErrEpoch = errors.New("wrong synchronization epoch")
	// ErrFreed: the window was freed.
	ErrFreed = errors.New("window is freed")
)

// Codes of the calls a window's target serves (rdma.Handler).
const (
	codeFetch  = 1 << 16 // with an Op id: GetAccumulate
	codeCAS    = 1 << 20
	codeLock   = 1 << 21 // with a LockType
	codeUnlock = 1 << 22 // with a LockType
	codeOpMask = 1<<16 - 1
)

// NewWindow makes buf, on every rank of c, a window the others can reach.
// Collective over c; ranks may expose different lengths (zero included).
// buf stays the caller's and must stay alive until Free.
func NewWindow[T Numeric](c *Comm, buf []T) (*Window[T], error) {
	w, err := newWindow(c, buf)
	return w, c.fail("win create", -1, err)
}

// AllocWindow is NewWindow over n zeroed elements that the window owns;
// Local returns them.
func AllocWindow[T Numeric](c *Comm, n int) (*Window[T], error) {
	if n < 0 {
		return nil, c.fail("win allocate", -1, fmt.Errorf("%w: %d elements", ErrArg, n))
	}
	w, err := newWindow(c, make([]T, n))
	return w, c.fail("win allocate", -1, err)
}

func newWindow[T Numeric](c *Comm, buf []T) (*Window[T], error) {
	dc, err := c.Dup()
	if err != nil {
		return nil, err
	}
	dc.SetName(c.Name() + " window")
	dc.SetErrorHandler(ErrorsReturn)
	dom := domainOf(c.w)
	w := &Window[T]{pc: c, c: dc, buf: buf, dom: dom, esz: sizeOf[T](), locks: map[int]LockType{}}
	w.reg, err = dom.Register(asBytes(buf), w.serve)
	if err != nil {
		dc.Free()
		return nil, err
	}
	if err := w.exchangeKeys(); err != nil {
		w.reg.Deregister()
		dc.Free()
		return nil, err
	}
	c.w.eng.Serve(1)
	return w, nil
}

// exchangeKeys gathers every rank's packed key and attaches to each.
func (w *Window[T]) exchangeKeys() error {
	key, n := w.reg.Key(), w.c.Size()
	lens := make([]int, n)
	if err := Allgather(w.c, []int{len(key)}, lens); err != nil {
		return err
	}
	displs, total := make([]int, n), 0
	for i, l := range lens {
		displs[i], total = total, total+l
	}
	keys := make([]byte, total)
	if err := Allgatherv(w.c, key, keys, lens, displs); err != nil {
		return err
	}
	w.rem, w.sizes = make([]*rdma.Remote, n), make([]int, n)
	for i := range n {
		rm, err := w.dom.Attach(w.c.WorldRank(i), keys[displs[i]:displs[i]+lens[i]])
		if err != nil {
			return fmt.Errorf("window key of rank %d: %w", i, err)
		}
		w.rem[i], w.sizes[i] = rm, rm.Size()/w.esz
	}
	return nil
}

// Local is this rank's window memory.
func (w *Window[T]) Local() []T { return w.buf }

// Size is the length, in elements, of rank's window.
func (w *Window[T]) Size(rank int) int {
	if rank < 0 || rank >= len(w.sizes) {
		return 0
	}
	return w.sizes[rank]
}

// Backend names the path Put and Get take to rank: "ucx" (ucp_put_nbx
// and ucp_get_nbx, to a rank reached over ucx), "cma" (cross-memory
// attach) or "emulated" (requests served by the target's engine).
func (w *Window[T]) Backend(rank int) string {
	if rank < 0 || rank >= len(w.rem) {
		return ""
	}
	return w.rem[rank].Backend()
}

// access checks that target may be accessed now and that elements
// [disp, disp+n) lie in its window; it returns the remote, nil for
// ProcNull.
func (w *Window[T]) access(target, disp, n int) (*rdma.Remote, error) {
	w.mu.Lock()
	freed, ok := w.freed, w.fence || w.all || w.locks[target] != 0
	w.mu.Unlock()
	switch {
	case freed:
		return nil, ErrFreed
	case target == ProcNull:
		return nil, nil
	case target < 0 || target >= len(w.rem):
		return nil, fmt.Errorf("%w: target %d of %d ranks", ErrRank, target, len(w.rem))
	case !ok:
		return nil, fmt.Errorf("%w: no access epoch to rank %d (Fence, Lock or LockAll first)", ErrEpoch, target)
	case disp < 0 || n < 0 || disp > w.sizes[target] || n > w.sizes[target]-disp:
		return nil, fmt.Errorf("%w: elements [%d, %d) of rank %d's %d-element window", ErrRange, disp, disp+n, target, w.sizes[target])
	}
	return w.rem[target], nil
}

func (w *Window[T]) fail(op string, peer int, err error) error {
	if err == nil {
		return nil
	}
	return w.pc.fail(op, peer, err)
}

// Put writes origin into target's window at element disp. It returns when
// origin may be reused; the data is in place once the epoch's next Flush,
// Unlock or Fence returns.
func (w *Window[T]) Put(origin []T, target, disp int) error {
	rm, err := w.access(target, disp, len(origin))
	if err == nil && rm != nil {
		err = rm.Put(asBytes(origin), disp*w.esz)
	}
	return w.fail("win put", target, err)
}

// Get reads len(result) elements of target's window at element disp into
// result, and returns when they are there.
func (w *Window[T]) Get(result []T, target, disp int) error {
	rm, err := w.access(target, disp, len(result))
	if err == nil && rm != nil {
		err = rm.Get(asBytes(result), disp*w.esz)
	}
	return w.fail("win get", target, err)
}

// accChunk bounds one accumulate request, so that it fits a frame; each
// element is still applied atomically.
const accChunk = 1 << 20

// Accumulate combines origin into target's window at element disp,
// element by element: w[disp+i] = w[disp+i] op origin[i], atomically for
// each element with respect to every other accumulate (Replace stores
// origin). op is a predefined operator. It returns when origin may be
// reused; the result is in place once the next Flush, Unlock or Fence
// returns.
func (w *Window[T]) Accumulate(origin []T, target, disp int, op Op) error {
	err := w.checkOp(op, false)
	var rm *rdma.Remote
	if err == nil {
		rm, err = w.access(target, disp, len(origin))
	}
	if err == nil && rm != nil {
		b := asBytes(origin)
		step := accChunk / w.esz * w.esz
		for i := 0; i < len(b) && err == nil; i += step {
			err = rm.Post(op.id, disp*w.esz+i, b[i:min(i+step, len(b))])
		}
	}
	return w.fail("win accumulate", target, err)
}

// GetAccumulate is Accumulate that also returns, in result, the values
// the elements held before: len(result) elements are combined with
// origin[:len(result)] (origin is ignored for NoOp, and may be nil). It
// returns when result holds them.
func (w *Window[T]) GetAccumulate(origin, result []T, target, disp int, op Op) error {
	err := w.checkOp(op, true)
	if err == nil && op.id != NoOp.id && len(origin) < len(result) {
		err = fmt.Errorf("%w: %d origin elements for %d results", ErrArg, len(origin), len(result))
	}
	var rm *rdma.Remote
	if err == nil {
		rm, err = w.access(target, disp, len(result))
	}
	if err == nil && rm != nil {
		res := asBytes(result)
		// NoOp sends result itself, only to say how many elements.
		arg := res
		if op.id != NoOp.id {
			arg = asBytes(origin[:len(result)])
		}
		step := accChunk / w.esz * w.esz
		for i := 0; i < len(res) && err == nil; i += step {
			end := min(i+step, len(res))
			var n int
			n, err = rm.Call(codeFetch|op.id, disp*w.esz+i, arg[i:end], res[i:end])
			if err == nil && n != end-i {
				err = fmt.Errorf("%w: %d result bytes for %d", rdma.ErrRemote, n, end-i)
			}
		}
	}
	return w.fail("win get_accumulate", target, err)
}

// FetchAndOp is GetAccumulate of one element: it combines v into
// target's element disp and returns the element's previous value.
func (w *Window[T]) FetchAndOp(v T, target, disp int, op Op) (T, error) {
	origin, result := []T{v}, []T{0}
	if err := w.GetAccumulate(origin, result, target, disp, op); err != nil {
		return 0, err
	}
	return result[0], nil
}

// CompareAndSwap replaces target's element disp by swap if it equals
// compare, atomically, and returns its previous value.
func (w *Window[T]) CompareAndSwap(compare, swap T, target, disp int) (T, error) {
	rm, err := w.access(target, disp, 1)
	result := []T{0}
	if err == nil && rm != nil {
		var n int
		n, err = rm.Call(codeCAS, disp*w.esz, asBytes([]T{compare, swap}), asBytes(result))
		if err == nil && n != w.esz {
			err = fmt.Errorf("%w: %d result bytes for %d", rdma.ErrRemote, n, w.esz)
		}
	}
	return result[0], w.fail("win compare_and_swap", target, err)
}

// checkOp accepts the predefined operators defined on T, Replace, and
// NoOp where a result is fetched.
func (w *Window[T]) checkOp(op Op, fetch bool) error {
	switch {
	case op.id == Replace.id:
		return nil
	case op.id == NoOp.id:
		if !fetch {
			return fmt.Errorf("%w: NoOp is for GetAccumulate and FetchAndOp", ErrArg)
		}
		return nil
	case op.user != nil || op.id == 0 || op.id >= MinLoc.id:
		return fmt.Errorf("%w: %s in an accumulate (predefined operators, Replace and NoOp only)", ErrArg, op)
	}
	_, err := opFunc[T](op)
	return err
}

// serve is the window's target side: accumulates, compare-and-swap and
// lock requests from every rank (this one included), in the engine's
// receive context.
func (w *Window[T]) serve(src int, code uint32, off int, arg []byte, reply func([]byte, error)) {
	switch {
	case code&codeLock != 0:
		w.lk.acquire(LockType(code&^codeLock), reply)
		return
	case code&codeUnlock != 0:
		w.lk.release(LockType(code &^ codeUnlock))
		reply(nil, nil)
		return
	}
	if off%w.esz != 0 || len(arg)%w.esz != 0 {
		reply(nil, fmt.Errorf("%w: offset %d and %d bytes are not whole elements", ErrArg, off, len(arg)))
		return
	}
	var args []T
	if len(arg) > 0 {
		// arg is a frame buffer of the engine's: align a copy if needed.
		if uintptr(unsafe.Pointer(&arg[0]))%uintptr(w.esz) != 0 {
			arg = append(make([]byte, 0, len(arg)+w.esz), arg...)
		}
		args = unsafe.Slice((*T)(unsafe.Pointer(&arg[0])), len(arg)/w.esz)
	}
	i := off / w.esz
	if code == codeCAS {
		if len(args) != 2 || i >= len(w.buf) {
			reply(nil, fmt.Errorf("%w: compare-and-swap of element %d in %d", ErrRange, i, len(w.buf)))
			return
		}
		w.acc.Lock()
		old := w.buf[i]
		if old == args[0] {
			w.buf[i] = args[1]
		}
		w.acc.Unlock()
		reply(asBytes([]T{old}), nil)
		return
	}
	fetch := code&codeFetch != 0
	id := code & codeOpMask
	n := len(args) // for NoOp, placeholders that say how many
	if i > len(w.buf) || n > len(w.buf)-i {
		reply(nil, fmt.Errorf("%w: elements [%d, %d) of %d", ErrRange, i, i+n, len(w.buf)))
		return
	}
	w.acc.Lock()
	dst := w.buf[i : i+n]
	var old []byte
	if fetch {
		old = append([]byte(nil), asBytes(dst)...)
	}
	switch id {
	case Replace.id:
		copy(dst, args)
	case NoOp.id:
	default:
		fn, err := opFunc[T](Op{id: id})
		if err != nil {
			w.acc.Unlock()
			reply(nil, err)
			return
		}
		fn(dst, dst, args)
	}
	w.acc.Unlock()
	reply(old, nil)
}

// lockState is a target's window lock: exclusive or shared holders, and
// the requests waiting, granted in arrival order so that a waiting
// exclusive request is not starved by a stream of shared ones.
type lockState struct {
	mu     sync.Mutex
	excl   bool
	shared int
	queue  []lockWait
}

type lockWait struct {
	typ   LockType
	grant func([]byte, error)
}

func (l *lockState) acquire(typ LockType, grant func([]byte, error)) {
	l.mu.Lock()
	l.queue = append(l.queue, lockWait{typ, grant})
	ready := l.admit()
	l.mu.Unlock()
	for _, g := range ready {
		g(nil, nil)
	}
}

func (l *lockState) release(typ LockType) {
	l.mu.Lock()
	if typ == LockExclusive {
		l.excl = false
	} else if l.shared > 0 {
		l.shared--
	}
	ready := l.admit()
	l.mu.Unlock()
	for _, g := range ready {
		g(nil, nil)
	}
}

// admit grants the waiting requests at the head of the queue that fit.
// Called with l.mu held.
func (l *lockState) admit() []func([]byte, error) {
	var ready []func([]byte, error)
	for len(l.queue) > 0 {
		h := l.queue[0]
		if l.excl || (h.typ == LockExclusive && l.shared > 0) {
			break
		}
		if h.typ == LockExclusive {
			l.excl = true
		} else {
			l.shared++
		}
		ready = append(ready, h.grant)
		l.queue = l.queue[1:]
	}
	return ready
}

// Fence ends the current active-target epoch and opens the next:
// collective over the window's ranks. When it returns on a rank, every
// operation that rank issued before it is complete at its target, and
// every operation issued to that rank's window before the other ranks'
// Fence is visible in it.
func (w *Window[T]) Fence() error {
	err := w.completeAll()
	if err == nil {
		w.mu.Lock()
		w.fence = true
		w.mu.Unlock()
	}
	return w.fail("win fence", -1, err)
}

// completeAll is the collective step Fence and Free share: this rank's
// operations complete at their targets, then every rank waits for the
// others to have done the same.
func (w *Window[T]) completeAll() error {
	err := w.sync(false)
	if err == nil {
		err = w.flushAll()
	}
	if err == nil {
		err = Barrier(w.c)
	}
	return err
}

// sync checks that the window is alive and, for a call that must not
// overlap a passive-target epoch, that none is open.
func (w *Window[T]) sync(passiveOK bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.freed {
		return ErrFreed
	}
	if !passiveOK && (w.all || len(w.locks) > 0) {
		return fmt.Errorf("%w: a passive-target epoch is open (Unlock or UnlockAll first)", ErrEpoch)
	}
	return nil
}

// Lock opens a passive-target epoch to target, waiting until target's
// lock is granted: exclusive, or shared with other shared holders.
func (w *Window[T]) Lock(typ LockType, target int) error {
	return w.fail("win lock", target, w.lock(typ, target))
}

func (w *Window[T]) lock(typ LockType, target int) error {
	if typ != LockExclusive && typ != LockShared {
		return fmt.Errorf("%w: lock type %v", ErrArg, typ)
	}
	if target == ProcNull {
		return nil
	}
	if target < 0 || target >= len(w.rem) {
		return fmt.Errorf("%w: target %d of %d ranks", ErrRank, target, len(w.rem))
	}
	w.mu.Lock()
	switch {
	case w.freed:
		w.mu.Unlock()
		return ErrFreed
	case w.all || w.locks[target] != 0:
		w.mu.Unlock()
		return fmt.Errorf("%w: rank %d is already locked by this rank", ErrEpoch, target)
	}
	w.locks[target] = typ // reserved: a second Lock of target fails meanwhile
	w.mu.Unlock()
	if _, err := w.rem[target].Call(codeLock|uint32(typ), 0, nil, nil); err != nil {
		w.mu.Lock()
		delete(w.locks, target)
		w.mu.Unlock()
		return err
	}
	return nil
}

// Unlock completes the operations issued to target in the epoch Lock
// opened, then releases target's lock.
func (w *Window[T]) Unlock(target int) error {
	return w.fail("win unlock", target, w.unlock(target))
}

func (w *Window[T]) unlock(target int) error {
	if target == ProcNull {
		return nil
	}
	w.mu.Lock()
	typ, freed := w.locks[target], w.freed
	w.mu.Unlock()
	switch {
	case freed:
		return ErrFreed
	case target < 0 || target >= len(w.rem):
		return fmt.Errorf("%w: target %d of %d ranks", ErrRank, target, len(w.rem))
	case typ == 0:
		return fmt.Errorf("%w: rank %d is not locked by this rank", ErrEpoch, target)
	}
	err := w.rem[target].Flush()
	if _, uerr := w.rem[target].Call(codeUnlock|uint32(typ), 0, nil, nil); err == nil {
		err = uerr
	}
	w.mu.Lock()
	delete(w.locks, target)
	w.mu.Unlock()
	return err
}

// LockAll opens a shared passive-target epoch to every rank.
func (w *Window[T]) LockAll() error {
	err := w.sync(false)
	if err == nil {
		w.mu.Lock()
		w.all = true // reserved meanwhile
		w.mu.Unlock()
		for t := range w.rem {
			if _, err = w.rem[t].Call(codeLock|uint32(LockShared), 0, nil, nil); err != nil {
				for u := range t {
					w.rem[u].Call(codeUnlock|uint32(LockShared), 0, nil, nil)
				}
				w.mu.Lock()
				w.all = false
				w.mu.Unlock()
				break
			}
		}
	}
	return w.fail("win lock_all", -1, err)
}

// UnlockAll completes every operation of the LockAll epoch and releases
// the locks.
func (w *Window[T]) UnlockAll() error {
	w.mu.Lock()
	all, freed := w.all, w.freed
	w.mu.Unlock()
	var err error
	switch {
	case freed:
		err = ErrFreed
	case !all:
		err = fmt.Errorf("%w: no LockAll epoch is open", ErrEpoch)
	default:
		err = w.flushAll()
		for t := range w.rem {
			if _, uerr := w.rem[t].Call(codeUnlock|uint32(LockShared), 0, nil, nil); err == nil {
				err = uerr
			}
		}
		w.mu.Lock()
		w.all = false
		w.mu.Unlock()
	}
	return w.fail("win unlock_all", -1, err)
}

// Flush completes, at target, every operation this rank issued to it so
// far, within a passive-target epoch, which stays open.
func (w *Window[T]) Flush(target int) error {
	rm, err := w.access(target, 0, 0)
	if err == nil && rm != nil {
		err = rm.Flush()
	}
	return w.fail("win flush", target, err)
}

// FlushAll is Flush to every rank.
func (w *Window[T]) FlushAll() error {
	err := w.sync(true)
	if err == nil {
		err = w.flushAll()
	}
	return w.fail("win flush_all", -1, err)
}

func (w *Window[T]) flushAll() error {
	for _, rm := range w.rem {
		if err := rm.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// Free releases the window: collective over its ranks, after every
// passive-target epoch is closed. It completes this rank's operations,
// waits until every rank has, and withdraws the memory; later calls on
// the window fail with ErrFreed. The memory stays the caller's.
func (w *Window[T]) Free() error {
	err := w.completeAll()
	if err == nil {
		w.mu.Lock()
		w.freed = true
		w.mu.Unlock()
		w.reg.Deregister()
		for _, rm := range w.rem {
			rm.Close()
		}
		w.c.w.eng.Serve(-1)
		err = w.c.Free()
	}
	return w.fail("win free", -1, err)
}

// domains holds each world's rdma.Domain, the engine's KindRMA handler,
// made with the world's first window.
var domains sync.Map // weak.Pointer[world] -> *rdma.Domain

var domainMu sync.Mutex

func domainOf(wd *world) *rdma.Domain {
	key := weak.Make(wd)
	if d, ok := domains.Load(key); ok {
		return d.(*rdma.Domain)
	}
	domainMu.Lock()
	defer domainMu.Unlock()
	if d, ok := domains.Load(key); ok {
		return d.(*rdma.Domain)
	}
	backends := rdma.DefaultBackends()
	if rt, ok := wd.life.(interface{ RMABackends() []rdma.Backend }); ok {
		backends = rt.RMABackends() // a launched rank: ucx too, where it runs
	}
	d := rdma.NewDomain(conduit{wd.eng}, backends...)
	wd.eng.SetRMA(d)
	domains.Store(key, d)
	runtime.AddCleanup(wd, func(k weak.Pointer[world]) { domains.Delete(k) }, key)
	return d
}

// conduit is rdma's view of the protocol engine.
type conduit struct{ e *p2p.Engine }

func (c conduit) Rank() int { return c.e.Rank() }

func (c conduit) Send(peer int, h *transport.Header, payload []byte) error {
	return c.e.SendFrame(peer, h, payload)
}

func (c conduit) MaxFrame(peer int) int {
	lim, _ := c.e.PeerLimits(peer)
	return lim.MaxFrame
}

func (c conduit) Later(fn func()) { c.e.Later(fn) }

func (c conduit) Start(peer int, label string) rdma.Completion {
	r := p2p.NewRequest()
	_ = c.e.StartExternal(r, peer, label) // a failed peer completes r at once
	return completion{r}
}

type completion struct{ r *p2p.Request }

func (c completion) Complete(err error) { c.r.Complete(err) }

func (c completion) Wait() error {
	_, err := c.r.Wait()
	p2p.Release(c.r)
	return err
}
