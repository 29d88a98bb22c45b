package comm

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/mpx-hpc/mpx/comm/internal/coll"
	"github.com/mpx-hpc/mpx/comm/internal/p2p"
	"github.com/mpx-hpc/mpx/param"
)

// collConn runs a collective's schedule over c's collective context
// (ctx+1). Every error names the call, the rank and the peer; a message
// of a length other than the schedule expects is ErrMismatch (ranks passed
// different counts), never a silent overrun.
type collConn struct {
	c    *Comm
	op   string
	call coll.Call // for reports (collective_report.go)
}

func (k *collConn) Rank() int { return k.c.rank }
func (k *collConn) Size() int { return len(k.c.group) }

func (k *collConn) wrap(peer int, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrTruncate) {
		err = fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	return &RankError{Rank: k.c.rank, Op: k.op, Peer: peer, Comm: k.c.name, Err: err}
}

func (k *collConn) lengthErr(src, got, want int) error {
	return k.wrap(src, fmt.Errorf("%w: message of %d bytes where this rank expects %d (counts, roots or calls differ)", ErrMismatch, got, want))
}

func (k *collConn) Send(dst, tag int, buf []byte) error {
	return k.wrap(dst, k.c.sendBytes(k.c.ctx+1, dst, tag, buf))
}

func (k *collConn) Recv(src, tag int, buf []byte) error {
	st, err := k.c.recvBytes(k.c.ctx+1, src, tag, buf)
	if err != nil {
		return k.wrap(src, err)
	}
	if st.Bytes != len(buf) {
		return k.lengthErr(src, st.Bytes, len(buf))
	}
	return nil
}

func (k *collConn) Isend(dst, tag int, buf []byte) (coll.Req, error) {
	r, err := k.c.isendBytes(k.c.ctx+1, dst, tag, buf)
	if err != nil {
		return nil, k.wrap(dst, err)
	}
	return &collReq{k: k, r: r.p, peer: dst, want: -1}, nil
}

func (k *collConn) Irecv(src, tag int, buf []byte) (coll.Req, error) {
	r, err := k.c.irecvBytes(k.c.ctx+1, src, tag, buf)
	if err != nil {
		return nil, k.wrap(src, err)
	}
	return &collReq{k: k, r: r.p, peer: src, want: len(buf)}, nil
}

type collReq struct {
	k    *collConn
	r    *p2p.Request
	peer int
	want int // expected bytes of a receive, -1 for a send
}

func (q *collReq) Wait() error {
	q.r.Wait()
	st, err := q.r.Result()
	if err != nil {
		return q.k.wrap(q.peer, err)
	}
	if q.want >= 0 && st.Bytes != q.want {
		return q.k.lengthErr(q.peer, st.Bytes, q.want)
	}
	return nil
}

// checkParam turns on the full argument check of every collective.
var checkParam = param.NewBool("coll_check", false,
	"check before every collective that all ranks called it with the same collective, root, count, operator and type (one extra allreduce)")

// warnOverridden tells the user (rank 0, at Init) which forced reduction
// algorithms coll_reproducible overrides: they are not silently dropped.
func warnOverridden(w io.Writer) {
	if o := coll.ReproducibleOverrides(); len(o) > 0 {
		fmt.Fprintf(w, "mpx: %s=true overrides %s: reductions fold in rank order (see `mpx info`)\n",
			coll.Reproducible.Name(), strings.Join(o, ", "))
	}
}

// sig is what every rank must agree on in a collective call.
type sig struct {
	kind        coll.Kind
	root, count int // -1 where not applicable
	op          uint32
	elem        int

	// For reports only, not checked: the algorithm and what it was
	// chosen from (internal calls, not checked at all, set internal).
	alg         coll.Algorithm
	bytes       int
	commutative bool
	internal    bool
}

var sigFields = [...]string{"collective", "root", "count", "operator", "element size"}

// verify is the coll_check allreduce: each field's maximum and minimum
// across ranks must agree.
func verify(cc coll.Conn, t coll.Tag, s *sig) error {
	f := []int64{int64(s.kind), int64(s.root), int64(s.count), int64(s.op), int64(s.elem)}
	v := make([]int64, 2*len(f))
	for i, x := range f {
		v[i], v[len(f)+i] = x, -x
	}
	op, _ := collOp[int64](Max)
	if err := coll.AllreduceRecursiveDoubling(cc, t, v, op); err != nil {
		return err
	}
	for i, name := range sigFields {
		if hi, lo := v[i], -v[len(f)+i]; hi != lo {
			return fmt.Errorf("%w (coll_check): %s ranges from %d to %d across ranks; this rank has %d", ErrMismatch, name, lo, hi, f[i])
		}
	}
	return nil
}

// checkPhase is the phase of a call's tags the coll_check allreduce uses;
// the algorithms use the lower ones.
const checkPhase = 7

func (c *Comm) nextTag() (coll.Tag, error) {
	if c.ext.freed.Load() {
		return coll.Tag{}, fmt.Errorf("%w: communicator was freed", ErrClosed)
	}
	return coll.NewTag(c.ext.seq.Add(1)), nil
}

func (c *Comm) exec(name string, s *sig, t coll.Tag, run func(coll.Conn, coll.Tag) error) error {
	cc := &collConn{c: c, op: name, call: coll.Call{Kind: s.kind, Algorithm: s.alg, Ranks: len(c.group),
		Bytes: s.bytes, Elem: s.elem, Commutative: s.commutative, Root: s.root}}
	k := c.register(t, cc)
	defer c.w.calls.remove(k)
	if !s.internal && checkParam.Get() {
		if err := verify(cc, t.Phase(checkPhase), s); err != nil {
			return err
		}
	}
	return run(cc, t)
}

// do runs a blocking collective.
func (c *Comm) do(name string, s *sig, run func(coll.Conn, coll.Tag) error) error {
	t, err := c.nextTag()
	if err != nil {
		return c.fail(name, -1, err)
	}
	return c.fail(name, -1, c.exec(name, s, t, run))
}

// runColl runs an internal collective step (no coll_check) of collective
// k by algorithm a.
func (c *Comm) runColl(name string, k coll.Kind, a coll.Algorithm, run func(coll.Conn, coll.Tag) error) error {
	return c.do(name, &sig{kind: k, root: -1, alg: a, internal: true}, run)
}

// start runs a non-blocking collective in a goroutine. The call's number
// is taken now, so calls keep their order whatever the goroutines do.
func (c *Comm) start(name string, s *sig, run func(coll.Conn, coll.Tag) error) (*Request, error) {
	t, err := c.nextTag()
	if err != nil {
		return nil, c.fail(name, -1, err)
	}
	return c.goRequest(name, func() error { return c.exec(name, s, t, run) }), nil
}

func (c *Comm) argErr(name string, format string, args ...any) error {
	return c.fail(name, -1, fmt.Errorf("%w: %s", ErrArg, fmt.Sprintf(format, args...)))
}

func (c *Comm) checkRootArg(name string, root int) error {
	if root < 0 || root >= len(c.group) {
		return c.fail(name, -1, fmt.Errorf("%w: root %d outside a communicator of %d", ErrRank, root, len(c.group)))
	}
	return nil
}

// eb views s as bytes without copying.
func eb[T Element](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(s[0])))
}

func esize[T Element]() int {
	var z T
	return int(unsafe.Sizeof(z))
}

func clone[T any](s []T) []T { return append(make([]T, 0, len(s)), s...) }

// scale turns element counts into byte counts.
func scale(v []int, unit int) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = x * unit
	}
	return out
}

// checkBlocks checks element counts and displacements against a buffer of
// n elements and p ranks.
func checkBlocks(what string, counts, displs []int, n, p int) error {
	if len(counts) != p || len(displs) != p {
		return fmt.Errorf("%s: %d counts and %d displacements for %d ranks", what, len(counts), len(displs), p)
	}
	for i := range counts {
		if counts[i] < 0 || displs[i] < 0 || displs[i]+counts[i] > n {
			return fmt.Errorf("%s: block %d (%d elements at %d) outside a buffer of %d", what, i, counts[i], displs[i], n)
		}
	}
	return nil
}
