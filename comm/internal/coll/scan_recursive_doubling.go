package coll

// ScanRecursiveDoubling computes the inclusive prefix reduction in place:
// rank r ends with x_0 op ... op x_r. MPICH's recursive doubling (Thakur,
// Rabenseifner and Gropp 2005; after Hillis and Steele's parallel prefix):
// in round k rank r exchanges the reduction of its aligned group of 2^k
// ranks with r XOR 2^k and folds the partner's group into its running
// prefix if the partner is lower. Groups are contiguous and the lower one
// is the left operand, so non-commutative operators are honoured. Any p.
func ScanRecursiveDoubling[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	_, err := prefixDoubling(c, t, buf, op, false)
	return err
}

// ExscanRecursiveDoubling computes the exclusive prefix reduction: rank r
// ends with x_0 op ... op x_{r-1} in buf; rank 0's buf is left as it was
// given (MPI leaves it undefined). Same schedule as ScanRecursiveDoubling.
func ExscanRecursiveDoubling[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	_, err := prefixDoubling(c, t, buf, op, true)
	return err
}

func prefixDoubling[T any](c Conn, t Tag, buf []T, op Op[T], exclusive bool) (_ bool, err error) {
	r, p := c.Rank(), c.Size()
	partial, putPartial := scratch[T](len(buf)) // reduction over my aligned group
	copy(partial, buf)
	tmp, put := scratch[T](len(buf))
	defer func() {
		if err == nil {
			putPartial()
			put()
		}
	}()
	have := false // exclusive: whether buf holds a prefix yet
	for mask, round := 1, 0; mask < p; mask, round = mask*2, round+1 {
		dst := r ^ mask
		if dst >= p {
			continue
		}
		if err := sendrecv(c, dst, t.At(round), bytesOf(partial), dst, t.At(round), bytesOf(tmp)); err != nil {
			return have, err
		}
		if dst < r {
			op.fold(partial, tmp, true)
			switch {
			case !exclusive:
				op.fold(buf, tmp, true)
			case have:
				op.fold(buf, tmp, true)
			default:
				copy(buf, tmp)
				have = true
			}
		} else {
			op.fold(partial, tmp, false)
		}
	}
	return have, nil
}
