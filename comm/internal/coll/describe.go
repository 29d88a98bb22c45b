package coll

import "fmt"

// CheckPhase is the phase of a call's tags that comm's argument check
// (coll_check) runs its allreduce in; the algorithms use the lower ones.
const CheckPhase = 7

// Call is what a report needs to know of a collective call to say which
// round of it a message belongs to: the values the call chose its
// algorithm from.
type Call struct {
	Kind        Kind
	Algorithm   Algorithm
	Ranks       int
	Bytes       int // the vector (reductions, bcast), as passed to Choose
	Elem        int // bytes per element, for the chain's segments
	Commutative bool
	Root        int // -1 where there is none
}

// span is a run of consecutive rounds of one phase of a schedule, in the
// order they happen: rounds lo..lo+n-1 of phase, or the reverse if desc.
type span struct {
	phase, lo, n int
	desc         bool
}

// Round places the message tag within the call's schedule: it is round
// i (from 1) of n, in the order the rounds happen. ok is false if tag is
// no round of this schedule (a mismatched call, or a chain longer than a
// phase's span of tags).
func (c Call) Round(tag int) (i, n int, ok bool) {
	r := RoundOf(tag)
	phase, step := r/phaseSpan, r%phaseSpan
	spans := c.spans(0)
	if phase == CheckPhase {
		spans = Call{Kind: KindAllreduce, Algorithm: RecursiveDoubling, Ranks: c.Ranks}.spans(CheckPhase)
	}
	for _, s := range spans {
		if s.phase == phase && step >= s.lo && step < s.lo+s.n {
			k := step - s.lo
			if s.desc {
				k = s.n - 1 - k
			}
			i = n + k + 1
			ok = true
		}
		n += s.n
	}
	return i, n, ok
}

// Describe names the algorithm and the round of tag, as a report shows
// them: "ring, round 3 of 4" ("coll_check: recursive_doubling, ..." for
// the argument check's allreduce).
func (c Call) Describe(tag int) string {
	alg := string(c.Algorithm)
	if alg == "" { // a schedule of its own (comm's neighbour exchange)
		return fmt.Sprintf("round %d", RoundOf(tag))
	}
	if RoundOf(tag)/phaseSpan == CheckPhase {
		alg = "coll_check: " + string(RecursiveDoubling)
	}
	i, n, ok := c.Round(tag)
	if !ok {
		return fmt.Sprintf("%s, round %d (not in its schedule)", alg, RoundOf(tag))
	}
	return fmt.Sprintf("%s, round %d of %d", alg, i, n)
}

// spans lays out the rounds of the call's schedule, phases numbered from
// base, following the tags each algorithm's file uses.
func (c Call) spans(base int) []span {
	p := c.Ranks
	if p <= 1 {
		return nil
	}
	pof2 := pof2Below(p)
	lg, rem := bit(pof2), p-pof2
	ceil := lg // rounds of a binomial tree or of doubling distances
	if rem > 0 {
		ceil++
	}
	one := func(ph, n int) []span { return []span{{phase: base + ph, n: n}} }
	halving := func() []span { // halvingReduceScatter, in phase base
		var s []span
		if rem > 0 {
			s = append(s, span{phase: base, n: 1})
		}
		return append(s, span{phase: base, lo: 1, n: lg})
	}
	// A binomial tree that spreads data (bcast, scatter) starts with its
	// widest distance, one that collects (reduce, gather) ends with it.
	down := []span{{phase: base, n: ceil, desc: true}}
	switch c.Algorithm {
	case Dissemination, Bruck:
		return one(0, ceil)
	case Binomial:
		switch c.Kind {
		case KindBcast, KindScatter:
			return down
		case KindReduce:
			if !c.Commutative && c.Root != 0 {
				return append(one(0, ceil), span{phase: base + 1, n: 1}) // rank 0 forwards to root
			}
		}
		return one(0, ceil)
	case ScatterAllgather:
		return append(down, span{phase: base + 1, n: p - 1})
	case Pairwise:
		return one(0, p-1)
	case Ring:
		if c.Kind == KindAllreduce {
			return append(one(0, p-1), span{phase: base + 1, n: p - 1})
		}
		return one(0, p-1)
	case Linear:
		if c.Kind == KindScan || c.Kind == KindExscan {
			return one(0, c.segments())
		}
		return one(0, 1)
	case RecursiveDoubling:
		if c.Kind != KindAllreduce {
			return one(0, ceil) // the prefix doubling
		}
		if rem == 0 {
			return []span{{phase: base, lo: 1, n: lg}}
		}
		return []span{{phase: base, n: 1}, {phase: base, lo: 1, n: lg}, {phase: base, lo: lg + 1, n: 1}}
	case Rabenseifner:
		s := append(halving(), span{phase: base + 1, n: lg, desc: true})
		switch {
		case c.Kind == KindAllreduce && rem > 0:
			s = append(s, span{phase: base + 2, n: 1}) // results back to the paired ranks
		case c.Kind == KindReduce && c.Root != realRank(0, rem):
			s = append(s, span{phase: base + 2, n: 1}) // forward to root
		}
		return s
	case Ordered:
		s := one(0, c.segments())
		if c.Kind == KindAllreduce {
			bc := Call{Kind: KindBcast, Algorithm: Choose(KindBcast, c.Bytes, p, true), Ranks: p, Bytes: c.Bytes, Root: p - 1}
			return append(s, bc.spans(base+1)...)
		}
		if c.Root != p-1 {
			s = append(s, span{phase: base + 1, n: 1}) // rank p-1 sends to root
		}
		return s
	case ReduceScatterv:
		red := Call{Kind: KindReduce, Algorithm: Choose(KindReduce, c.Bytes, p, c.Commutative), Ranks: p,
			Bytes: c.Bytes, Elem: c.Elem, Commutative: c.Commutative, Root: 0}
		return append(red.spans(base), span{phase: base + 3, n: 1})
	}
	return nil
}

// segments is the number of rounds of the pipelined chain (see chain).
func (c Call) segments() int {
	elem := max(1, c.Elem)
	seg := max(1, ChainSegment/elem)
	return max(1, (c.Bytes/elem+seg-1)/seg)
}
