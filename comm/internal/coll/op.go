package coll

import (
	"fmt"
	"sync"
	"unsafe"
)

// Op is a reduction operator over elements of type T.
//
// T must hold no pointers (numbers, arrays and structs of numbers): the
// schedules move elements as their raw bytes.
type Op[T any] struct {
	// Fn sets dst[i] = a[i] op b[i] for every i. The operand a always
	// comes from lower ranks than b, so that a non-commutative operator
	// sees its operands in rank order. dst may be the very slice a or b
	// (same start and length); Fn must then read a[i] and b[i] before
	// writing dst[i], as an element-wise loop does.
	Fn func(dst, a, b []T)
	// Commutative allows algorithms that combine in an order other than
	// rank order. Every algorithm here still combines lower ranks on the
	// left, so that all ranks compute identical bits.
	Commutative bool
}

// fold folds other into mine: mine = other op mine when other comes
// from lower ranks, else mine = mine op other.
func (op Op[T]) fold(mine, other []T, otherIsLower bool) {
	if otherIsLower {
		op.Fn(mine, other, mine)
	} else {
		op.Fn(mine, mine, other)
	}
}

// bytesOf views s as its bytes without copying.
func bytesOf[T any](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

// partition splits n items into p nearly equal consecutive blocks, the
// first n%p one larger. It returns p+1 offsets: block i is [off[i], off[i+1]).
func partition(n, p int) []int {
	off := make([]int, p+1)
	q, r := n/p, n%p
	for i := 0; i < p; i++ {
		sz := q
		if i < r {
			sz++
		}
		off[i+1] = off[i] + sz
	}
	return off
}

// countsOf turns offsets into block lengths scaled by unit.
func countsOf(off []int, unit int) (counts, displs []int) {
	p := len(off) - 1
	counts, displs = make([]int, p), make([]int, p)
	for i := 0; i < p; i++ {
		counts[i] = (off[i+1] - off[i]) * unit
		displs[i] = off[i] * unit
	}
	return counts, displs
}

// sendrecv sends sbuf to dst while receiving rbuf from src, posting the
// receive first so that neither side can block the other.
func sendrecv(c Conn, dst, stag int, sbuf []byte, src, rtag int, rbuf []byte) error {
	rq, err := c.Irecv(src, rtag, rbuf)
	if err != nil {
		return err
	}
	if err := c.Send(dst, stag, sbuf); err != nil {
		return err
	}
	return rq.Wait()
}

// waitAll waits for every request and returns the first error.
func waitAll(reqs []Req) error {
	var first error
	for _, r := range reqs {
		if err := r.Wait(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func checkRoot(root, p int) error {
	if root < 0 || root >= p {
		return fmt.Errorf("root %d out of range [0, %d)", root, p)
	}
	return nil
}

func mod(a, p int) int { return ((a % p) + p) % p }

// pof2Below is the largest power of two not above p (p >= 1).
func pof2Below(p int) int {
	k := 1
	for k*2 <= p {
		k *= 2
	}
	return k
}

// bit returns log2 of a power of two.
func bit(mask int) int {
	n := 0
	for mask > 1 {
		mask >>= 1
		n++
	}
	return n
}

// elemSize is the size in bytes of one T.
func elemSize[T any]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

// scratchPool recycles the temporary buffers of the schedules, so that a
// collective in steady state does not allocate.
var scratchPool sync.Pool // *[]byte

// scratch returns a buffer of n T's (contents undefined) and the function
// that gives it back. Give it back only once no request refers to it:
// schedules do so on success and leave it to the collector after an
// error, when sends may still be in flight.
func scratch[T any](n int) ([]T, func()) {
	size := n * elemSize[T]()
	if size == 0 {
		return nil, func() {}
	}
	bp, _ := scratchPool.Get().(*[]byte)
	if bp == nil || cap(*bp) < size {
		bp = new([]byte)
		*bp = make([]byte, size)
	}
	b := (*bp)[:size]
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), n), func() { scratchPool.Put(bp) }
}

// Scratch is scratch for callers outside the package (comm's copies of
// send buffers): n T's and the function that gives them back once no
// request refers to them.
func Scratch[T any](n int) ([]T, func()) { return scratch[T](n) }
