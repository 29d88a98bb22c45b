// Package stress is a randomized workload of non-blocking collectives and
// point-to-point operations, several outstanding at once on several
// communicators, completed in a random order by Test, Wait, Waitall and
// Waitany, each result checked against a serial oracle. Every rank derives
// every rank's inputs from the seed, so each computes the expected results
// itself. comm's tests run it in process (over mem and tcp) and, through
// the nbcstress program, in launched jobs (over shm and tcp).
package stress

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"

	"github.com/mpx-hpc/mpx/comm"
)

// Config says what to run; every rank must pass the same one.
type Config struct {
	Seed  uint64
	Iters int
	// MaxOps bounds the operations outstanding at once (2 to 16).
	MaxOps int
	// Reported makes every iteration the sequence of issue 12 (an Ibcast
	// of 0 elements from root 2, an Ibarrier, Iallgathers of 7 and 3),
	// completed by Test in turn, and every fourth by Wait in reverse
	// order; otherwise only the first iteration is.
	Reported bool
}

type kind int

const (
	kBarrier kind = iota
	kBcast
	kAllgather
	kAllreduce
	kReduce
	kAlltoall
	kRing      // Isend to rank+d, Irecv from rank-d
	kAnySource // the same, received from AnySource
	nKinds
)

var kindNames = [...]string{"ibarrier", "ibcast", "iallgather", "iallreduce", "ireduce", "ialltoall", "isend/irecv", "isend/irecv(any source)"}

// Completion modes: how a rank completes one iteration's requests.
const (
	mTest    = iota // Test on each in turn until all are done
	mWait           // Wait on each, in a random order
	mReverse        // Wait on each, last issued first
	mWaitall        // Waitall, in a random order
	mWaitany        // Waitany until none is left
	mMixed          // one Test each, Waitany for some, Waitall for the rest
	nModes
)

var modeNames = [...]string{"test", "wait", "reverse-wait", "waitall", "waitany", "mixed"}

// op is one operation of an iteration, the same on every rank.
type op struct {
	k      kind
	c      int // index in the communicator list
	count  int
	root   int // a communicator rank (bcast, reduce)
	dist   int // p2p: distance to the destination
	red    comm.Op
	redIdx int
}

// counts are element counts: empty, tiny, odd, and one int64 count above
// the eager limit of tcp (64 KiB), so rendezvous runs too.
var counts = []int{0, 1, 3, 7, 64, 1000, 9000}

// val is element j of the input that comm rank r (or the pair r, for
// alltoall) contributes to operation k of iteration it: every rank can
// compute every other's.
func val(seed uint64, it, k, r, j int) int64 {
	x := seed ^ uint64(it)<<44 ^ uint64(k)<<36 ^ uint64(r)<<24 ^ uint64(j)
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	x ^= x >> 31
	return int64(x%2000003) - 1000001
}

var reds = []comm.Op{comm.Sum, comm.Max, comm.Min}

func fold(idx int, a, b int64) int64 {
	switch idx {
	case 0:
		return a + b
	case 1:
		return max(a, b)
	}
	return min(a, b)
}

// plan draws iteration it's operations from the shared stream.
func plan(cfg Config, it int, comms []*comm.Comm, issue bool) []op {
	if issue {
		// The sequence of the report in issue 12: an Ibcast of 0 elements
		// from root 2, an Ibarrier and two Iallgathers of 7 and 3.
		n := comms[0].Size()
		return []op{{k: kBcast, root: 2 % n}, {k: kBarrier}, {k: kAllgather, count: 7}, {k: kAllgather, count: 3}}
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(it)))
	ops := make([]op, 2+rng.IntN(max(cfg.MaxOps-1, 1)))
	for i := range ops {
		o := op{k: kind(rng.IntN(int(nKinds))), c: rng.IntN(len(comms)), count: counts[rng.IntN(len(counts))]}
		o.redIdx = rng.IntN(len(reds))
		o.red = reds[o.redIdx]
		o.root = rng.IntN(64) // reduced modulo the communicator's size by the rank
		o.dist = rng.IntN(64)
		if o.k == kAlltoall {
			o.count = min(o.count, 1000) // per peer
		}
		ops[i] = o
	}
	return ops
}

// pending is one issued operation and what to check once it is done.
type pending struct {
	o     op
	k     int
	reqs  []*comm.Request // a send and a receive for p2p
	check func(st comm.Status) error
}

// Run runs the workload on w and returns the number of results checked.
// Every rank of w must call it with the same cfg.
func Run(w *comm.Comm, cfg Config) (int, error) {
	if cfg.Iters < 1 || cfg.MaxOps < 2 || cfg.MaxOps > 16 {
		return 0, fmt.Errorf("stress: %d iterations of at most %d operations: want at least 1 iteration and 2 to 16 operations", cfg.Iters, cfg.MaxOps)
	}
	dup, err := w.Dup()
	if err != nil {
		return 0, err
	}
	// Even and odd ranks, in reverse order: other sizes, other rank maps.
	half, err := w.Split(w.Rank()%2, -w.Rank())
	if err != nil {
		return 0, err
	}
	comms := []*comm.Comm{w, dup, half}
	checked := 0
	for it := 0; it < cfg.Iters; it++ {
		reported := it == 0 || cfg.Reported
		ops := plan(cfg, it, comms, reported)
		local := rand.New(rand.NewPCG(cfg.Seed^0x5bd1e995, uint64(it)<<8|uint64(w.Rank())))
		mode := local.IntN(nModes)
		switch {
		case reported && it%4 == 3:
			mode = mReverse
		case reported:
			mode = mTest
		}
		ps := make([]*pending, len(ops))
		for k, o := range ops {
			p, err := start(cfg, it, k, o, comms[o.c])
			if err != nil {
				return checked, fmt.Errorf("seed %d iteration %d: starting op %d (%s on %s): %w", cfg.Seed, it, k, kindNames[o.k], comms[o.c].Name(), err)
			}
			ps[k] = p
		}
		var all []*comm.Request
		for _, p := range ps {
			all = append(all, p.reqs...)
		}
		if err := complete(all, mode, local); err != nil {
			return checked, fmt.Errorf("seed %d iteration %d, %s: %w", cfg.Seed, it, modeNames[mode], err)
		}
		for _, p := range ps {
			// Done already: Wait returns the status again.
			st, err := p.reqs[len(p.reqs)-1].Wait()
			if err == nil {
				err = p.check(st)
			}
			if err != nil {
				return checked, fmt.Errorf("seed %d iteration %d, %s: op %d (%s of %d on %s, size %d): %w",
					cfg.Seed, it, modeNames[mode], p.k, kindNames[p.o.k], p.o.count, comms[p.o.c].Name(), comms[p.o.c].Size(), err)
			}
			checked++
		}
	}
	if err := errors.Join(dup.Free(), half.Free()); err != nil {
		return checked, err
	}
	return checked, nil
}

// complete completes every request of reqs the way mode says.
func complete(reqs []*comm.Request, mode int, rng *rand.Rand) error {
	order := slices.Clone(reqs)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	switch mode {
	case mTest:
		return testAll(order)
	case mWait:
		return waitEach(order)
	case mReverse:
		rev := slices.Clone(reqs)
		slices.Reverse(rev)
		return waitEach(rev)
	case mWaitall:
		return comm.Waitall(order...)
	case mWaitany:
		return waitany(order)
	}
	// mixed
	var errs []error
	for i, r := range order {
		if done, _, err := r.Test(); done {
			errs = append(errs, err)
			order[i] = nil
		}
	}
	cut := len(order) / 2
	errs = append(errs, waitany(order[:cut]), comm.Waitall(order[cut:]...))
	return errors.Join(errs...)
}

// testAll calls Test on each request in turn until all are done, as a
// program that computes between calls would, without ever waiting.
func testAll(reqs []*comm.Request) error {
	done := make([]bool, len(reqs))
	var errs []error
	for left, pass := len(reqs), 0; left > 0; pass++ {
		for i, r := range reqs {
			if done[i] {
				continue
			}
			ok, _, err := r.Test()
			if ok {
				done[i] = true
				left--
				errs = append(errs, err)
			}
		}
		if pass%64 == 63 {
			// "Computing" for a moment: goroutines of the rank run.
			runtime.Gosched()
		}
	}
	return errors.Join(errs...)
}

func waitEach(reqs []*comm.Request) error {
	var errs []error
	for _, r := range reqs {
		_, err := r.Wait()
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func waitany(reqs []*comm.Request) error {
	var errs []error
	for {
		i, _, err := comm.Waitany(reqs)
		if i < 0 {
			return errors.Join(errs...)
		}
		if reqs[i] != nil {
			return fmt.Errorf("entry %d still set after Waitany returned it", i)
		}
		errs = append(errs, err)
	}
}

// start issues operation k of iteration it on c.
func start(cfg Config, it, k int, o op, c *comm.Comm) (*pending, error) {
	me, n := c.Rank(), c.Size()
	in := func(r, cnt int) []int64 {
		b := make([]int64, cnt)
		for j := range b {
			b[j] = val(cfg.Seed, it, k, r, j)
		}
		return b
	}
	p := &pending{o: o, k: k, check: func(comm.Status) error { return nil }}
	var r *comm.Request
	var err error
	switch o.k {
	case kBarrier:
		r, err = comm.Ibarrier(c)
	case kBcast:
		root := o.root % n
		buf := make([]int64, o.count)
		if me == root {
			buf = in(root, o.count)
		}
		r, err = comm.Ibcast(c, buf, root)
		p.check = func(comm.Status) error { return equal(buf, in(root, o.count)) }
	case kAllgather:
		recv := make([]int64, o.count*n)
		r, err = comm.Iallgather(c, in(me, o.count), recv)
		p.check = func(comm.Status) error {
			var want []int64
			for q := 0; q < n; q++ {
				want = append(want, in(q, o.count)...)
			}
			return equal(recv, want)
		}
	case kAllreduce, kReduce:
		root := o.root % n
		var recv []int64
		if o.k == kAllreduce || me == root {
			recv = make([]int64, o.count)
		}
		if o.k == kAllreduce {
			r, err = comm.Iallreduce(c, in(me, o.count), recv, o.red)
		} else {
			r, err = comm.Ireduce(c, in(me, o.count), recv, o.red, root)
		}
		p.check = func(comm.Status) error {
			if recv == nil {
				return nil
			}
			want := in(0, o.count)
			for q := 1; q < n; q++ {
				for j, v := range in(q, o.count) {
					want[j] = fold(o.redIdx, want[j], v)
				}
			}
			return equal(recv, want)
		}
	case kAlltoall:
		// Block d of rank q's input is in(q*64+d).
		send := make([]int64, 0, o.count*n)
		for d := 0; d < n; d++ {
			send = append(send, in(me*64+d, o.count)...)
		}
		recv := make([]int64, o.count*n)
		r, err = comm.Ialltoall(c, send, recv)
		p.check = func(comm.Status) error {
			var want []int64
			for q := 0; q < n; q++ {
				want = append(want, in(q*64+me, o.count)...)
			}
			return equal(recv, want)
		}
	case kRing, kAnySource:
		d := o.dist % n
		dst, src := (me+d)%n, (me-d+n)%n
		// Tags unique over the run: a receive from any source must not
		// meet another iteration's message.
		tag := it*16 + k
		sr, serr := comm.Isend(c, in(me, o.count), dst, tag)
		if serr != nil {
			return nil, serr
		}
		recv := make([]int64, o.count)
		from := src
		if o.k == kAnySource {
			from = comm.AnySource
		}
		r, err = comm.Irecv(c, recv, from, tag)
		p.reqs = append(p.reqs, sr)
		p.check = func(st comm.Status) error {
			if st.Source != src || st.Tag != tag || st.Count != o.count {
				return fmt.Errorf("status %+v, want source %d, tag %d, count %d", st, src, tag, o.count)
			}
			return equal(recv, in(src, o.count))
		}
	}
	if err != nil {
		return nil, err
	}
	p.reqs = append(p.reqs, r)
	return p, nil
}

func equal(got, want []int64) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d elements, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			return fmt.Errorf("element %d of %d: %d, want %d", i, len(got), got[i], want[i])
		}
	}
	return nil
}
