package coll

// AllreduceRabenseifner is Rabenseifner's allreduce, a reduce-scatter by
// recursive halving followed by an allgather by recursive doubling
// (Rabenseifner, "Optimization of collective reduction operations", ICCS
// 2004; Thakur, Rabenseifner and Gropp 2005, section 4.4). Each rank moves
// about 2n bytes in 2 log2 p rounds: the choice for long vectors when p is
// large enough that the ring's 2(p-1) latencies hurt. p not a power of two
// is reduced to one by pairing the first 2*rem ranks as in recursive
// doubling.
//
// Halving runs with the partner distance growing (1, 2, 4, ...), so every
// partial result covers an aligned, contiguous range of ranks and the lower
// range is always the left operand: non-commutative operators are honoured.
// Each element is reduced by exactly one rank, so every rank gets the same
// bits.
func AllreduceRabenseifner[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	r, p := c.Rank(), c.Size()
	if p == 1 {
		return nil
	}
	h, err := halvingReduceScatter(c, t.Phase(0), buf, op)
	if err != nil || h.newrank < 0 {
		if err == nil {
			err = c.Recv(r+1, t.Phase(2).At(0), bytesOf(buf))
		}
		return err
	}
	// Allgather by recursive doubling: undo the halving steps in reverse,
	// each time sending what I hold and receiving my partner's half.
	ag := t.Phase(1)
	for i := len(h.steps) - 1; i >= 0; i-- {
		s := h.steps[i]
		mine, theirs := s.kept, s.given
		if err := sendrecv(c, s.peer, ag.At(i), bytesOf(buf[h.off[mine.lo]:h.off[mine.hi]]),
			s.peer, ag.At(i), bytesOf(buf[h.off[theirs.lo]:h.off[theirs.hi]])); err != nil {
			return err
		}
	}
	if r < 2*h.rem && r%2 == 1 {
		return c.Send(r-1, t.Phase(2).At(0), bytesOf(buf))
	}
	return nil
}

// window is the block range [lo, hi) a rank is responsible for.
type window struct{ lo, hi int }

// halvingStep records one step of the reduce-scatter: the partner, the half
// of the window kept (and reduced) and the half given away.
type halvingStep struct {
	peer        int
	kept, given window
}

type halving struct {
	newrank, rem int
	off          []int // pof2 nearly equal blocks of the vector
	steps        []halvingStep
}

// halvingReduceScatter is the first half of Rabenseifner's algorithms. On
// return a surviving rank (newrank >= 0) holds the fully reduced blocks of
// its last kept window; the even ranks among the first 2*rem sent their
// vector away and hold nothing (newrank -1).
func halvingReduceScatter[T any](c Conn, t Tag, buf []T, op Op[T]) (_ halving, err error) {
	r, p := c.Rank(), c.Size()
	pof2 := pof2Below(p)
	h := halving{rem: p - pof2, newrank: r - (p - pof2), off: partition(len(buf), pof2)}
	tmp, put := scratch[T](len(buf))
	defer func() {
		if err == nil {
			put()
		}
	}()
	if r < 2*h.rem {
		if r%2 == 0 {
			h.newrank = -1
			return h, c.Send(r+1, t.At(0), bytesOf(buf))
		}
		if err := c.Recv(r-1, t.At(0), bytesOf(tmp)); err != nil {
			return h, err
		}
		op.fold(buf, tmp, true)
		h.newrank = r / 2
	}
	w := window{0, pof2}
	for mask, round := 1, 1; mask < pof2; mask, round = mask*2, round+1 {
		peer := realRank(h.newrank^mask, h.rem)
		mid := (w.lo + w.hi) / 2
		kept, given := window{w.lo, mid}, window{mid, w.hi}
		if h.newrank&mask != 0 {
			kept, given = given, kept
		}
		in := tmp[h.off[kept.lo]:h.off[kept.hi]]
		if err := sendrecv(c, peer, t.At(round), bytesOf(buf[h.off[given.lo]:h.off[given.hi]]),
			peer, t.At(round), bytesOf(in)); err != nil {
			return h, err
		}
		op.fold(buf[h.off[kept.lo]:h.off[kept.hi]], in, peer < r)
		h.steps = append(h.steps, halvingStep{peer: peer, kept: kept, given: given})
		w = kept
	}
	return h, nil
}
