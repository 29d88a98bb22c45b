package coll

// ScanLinear computes the inclusive prefix reduction along the chain
// 0 -> 1 -> ... -> p-1: rank r receives x_0 op ... op x_{r-1} from r-1,
// folds in its own vector and passes the result on. It is the serial left
// fold, so its bits depend on nothing but the inputs and the rank count;
// the reproducible mode builds its reductions on it. Vectors are cut into
// segments of ChainSegment bytes so that the chain pipelines: rank r works
// on segment k+1 while r+1 works on segment k.
func ScanLinear[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	return chain(c, t, buf, op, false)
}

// ExscanLinear is the exclusive prefix reduction along the chain; rank 0's
// buf is left as it was given.
func ExscanLinear[T any](c Conn, t Tag, buf []T, op Op[T]) error {
	return chain(c, t, buf, op, true)
}

// chain runs the segmented chain. If exclusive, each rank passes on the
// prefix including itself but keeps the one excluding itself.
func chain[T any](c Conn, t Tag, buf []T, op Op[T], exclusive bool) (err error) {
	r, p := c.Rank(), c.Size()
	if p == 1 {
		return nil
	}
	seg := max(1, ChainSegment/max(1, elemSize[T]()))
	nseg := (len(buf) + seg - 1) / seg
	if nseg == 0 {
		nseg = 1 // one empty message keeps the schedule uniform
	}
	in, put := scratch[T](min(seg, len(buf)))
	var out []T // exclusive: what I pass on differs from what I keep
	putOut := func() {}
	if exclusive && r < p-1 {
		out, putOut = scratch[T](len(buf))
	}
	defer func() {
		if err == nil {
			put()
			putOut()
		}
	}()
	var sends []Req
	for k := 0; k < nseg; k++ {
		lo, hi := min(k*seg, len(buf)), min((k+1)*seg, len(buf))
		mine := buf[lo:hi]
		pass := mine
		if out != nil {
			pass = out[lo:hi]
			copy(pass, mine)
		}
		if r > 0 {
			got := in[:hi-lo]
			if err := c.Recv(r-1, t.At(k), bytesOf(got)); err != nil {
				return err
			}
			if out != nil {
				op.fold(pass, got, true)
			}
			if exclusive {
				copy(mine, got)
			} else {
				op.fold(mine, got, true)
			}
		}
		if r < p-1 {
			q, err := c.Isend(r+1, t.At(k), bytesOf(pass))
			if err != nil {
				return err
			}
			sends = append(sends, q)
		}
	}
	return waitAll(sends)
}
