package comm

import (
	"fmt"
	"slices"
	"sort"

	"github.com/mpx-hpc/mpx/comm/internal/coll"
)

// Undefined is the color that leaves a rank out of Split, and the rank
// TranslateRanks gives to a process that is not in the target group.
const Undefined = -1

// Group is an ordered set of processes, as MPI_Group: a communicator's
// members, or a set built from them. Groups are values; making one is
// local and needs no communication.
type Group struct {
	world []int // group rank -> world rank
	me    int   // the calling process's world rank
}

// Group returns c's group.
func (c *Comm) Group() Group { return Group{world: slices.Clone(c.group), me: c.w.rank} }

// Size is the number of processes in g.
func (g Group) Size() int { return len(g.world) }

// Rank is the calling process's rank in g, or Undefined if it is not in g.
func (g Group) Rank() int {
	if i := slices.Index(g.world, g.me); i >= 0 {
		return i
	}
	return Undefined
}

// Incl is the group of g's ranks listed in ranks, in that order.
func (g Group) Incl(ranks []int) (Group, error) {
	out := Group{me: g.me}
	seen := map[int]bool{}
	for _, r := range ranks {
		if r < 0 || r >= len(g.world) {
			return Group{}, fmt.Errorf("group incl: %w: rank %d outside a group of %d", ErrRank, r, len(g.world))
		}
		if seen[r] {
			return Group{}, fmt.Errorf("group incl: %w: rank %d listed twice", ErrArg, r)
		}
		seen[r] = true
		out.world = append(out.world, g.world[r])
	}
	return out, nil
}

// Excl is g without the ranks listed, in g's order.
func (g Group) Excl(ranks []int) (Group, error) {
	drop := map[int]bool{}
	for _, r := range ranks {
		if r < 0 || r >= len(g.world) {
			return Group{}, fmt.Errorf("group excl: %w: rank %d outside a group of %d", ErrRank, r, len(g.world))
		}
		if drop[r] {
			return Group{}, fmt.Errorf("group excl: %w: rank %d listed twice", ErrArg, r)
		}
		drop[r] = true
	}
	out := Group{me: g.me}
	for i, w := range g.world {
		if !drop[i] {
			out.world = append(out.world, w)
		}
	}
	return out, nil
}

// Union is g's processes followed by those of h not in g.
func (g Group) Union(h Group) Group {
	out := Group{world: slices.Clone(g.world), me: g.me}
	for _, w := range h.world {
		if !slices.Contains(g.world, w) {
			out.world = append(out.world, w)
		}
	}
	return out
}

// Intersection is g's processes that are also in h, in g's order.
func (g Group) Intersection(h Group) Group {
	out := Group{me: g.me}
	for _, w := range g.world {
		if slices.Contains(h.world, w) {
			out.world = append(out.world, w)
		}
	}
	return out
}

// Difference is g's processes that are not in h, in g's order.
func (g Group) Difference(h Group) Group {
	out := Group{me: g.me}
	for _, w := range g.world {
		if !slices.Contains(h.world, w) {
			out.world = append(out.world, w)
		}
	}
	return out
}

// TranslateRanks maps ranks of g to the ranks of the same processes in h
// (Undefined for those not in h).
func (g Group) TranslateRanks(ranks []int, h Group) ([]int, error) {
	out := make([]int, len(ranks))
	for i, r := range ranks {
		if r < 0 || r >= len(g.world) {
			return nil, fmt.Errorf("translate ranks: %w: rank %d outside a group of %d", ErrRank, r, len(g.world))
		}
		out[i] = slices.Index(h.world, g.world[r])
		if out[i] < 0 {
			out[i] = Undefined
		}
	}
	return out, nil
}

// Dup returns a communicator with c's group and topology and a context of
// its own, so that a library's traffic never meets its caller's.
// Collective over c.
func (c *Comm) Dup() (*Comm, error) {
	ctx, err := c.allocContext()
	if err != nil {
		return nil, c.fail("dup", -1, err)
	}
	n := c.newComm(slices.Clone(c.group), ctx)
	n.ext.cart = c.ext.cart
	return n, nil
}

// Split partitions c: ranks passing the same color form a new
// communicator, ordered by key and then by rank in c. A rank passing
// Undefined gets nil. Collective over c.
func (c *Comm) Split(color, key int) (*Comm, error) {
	if color < 0 && color != Undefined {
		return nil, c.argErr("split", "color %d (want >= 0 or Undefined)", color)
	}
	all := make([]int64, 2*c.Size())
	if err := Allgather(c, []int64{int64(color), int64(key)}, all); err != nil {
		return nil, err
	}
	ctx, err := c.allocContext()
	if err != nil {
		return nil, c.fail("split", -1, err)
	}
	if color == Undefined {
		poolOf(c.w).release(ctx) // not a member: the id stays free here
		return nil, nil
	}
	var members []int // ranks of c
	for r := 0; r < c.Size(); r++ {
		if all[2*r] == int64(color) {
			members = append(members, r)
		}
	}
	sort.SliceStable(members, func(i, j int) bool { return all[2*members[i]+1] < all[2*members[j]+1] })
	group := make([]int, len(members))
	for i, r := range members {
		group[i] = c.group[r]
	}
	return c.newComm(group, ctx), nil
}

// Create makes a communicator of the processes of g, which must be a
// subset of c's and the same on every rank of c (coll_check verifies it).
// Ranks outside g get nil. Collective over c.
func (c *Comm) Create(g Group) (*Comm, error) {
	const name = "create"
	in := map[int]bool{}
	for _, w := range c.group {
		in[w] = true
	}
	for _, w := range g.world {
		if !in[w] {
			return nil, c.argErr(name, "group holds world rank %d, which is not in %s", w, c.name)
		}
	}
	if checkParam.Get() {
		// Every rank must pass the same group: compare a fingerprint.
		var h uint64 = 14695981039346656037
		for _, w := range g.world {
			h = (h ^ uint64(w)) * 1099511628211
		}
		v := []int64{int64(h >> 1), -int64(h >> 1)}
		if err := Allreduce(c, nil, v, Max); err != nil {
			return nil, err
		}
		if v[0] != -v[1] {
			return nil, c.fail(name, -1, fmt.Errorf("%w (coll_check): ranks passed different groups", ErrMismatch))
		}
	}
	ctx, err := c.allocContext()
	if err != nil {
		return nil, c.fail(name, -1, err)
	}
	n := c.newComm(slices.Clone(g.world), ctx)
	if n == nil {
		poolOf(c.w).release(ctx) // not a member: the id stays free here
	}
	return n, nil
}

// Free releases c's context for reuse. Call it on every rank of c once
// every operation on c has completed; c must not be used afterwards
// (collectives on it then fail with ErrClosed).
func (c *Comm) Free() error {
	if c.ctx == 0 {
		return c.argErr("free", "the world communicator cannot be freed")
	}
	if c.ext.freed.Swap(true) {
		return c.fail("free", -1, fmt.Errorf("%w: communicator freed twice", ErrClosed))
	}
	poolOf(c.w).release(c.ctx)
	return nil
}

// AlgorithmRow is one row of the collective decision table: the
// collective, the algorithm and when it is chosen.
type AlgorithmRow = coll.Row

// AlgorithmTable returns the collective decision table, for `mpx info`.
func AlgorithmTable() []AlgorithmRow { return coll.Rows() }
