package coll

import "fmt"

// The entry points below run collective k with algorithm a (usually from
// Choose). Reductions work in place on buf: comm copies the send buffer in
// first. Byte counts and buffers must agree across ranks as MPI requires;
// where a disagreement shows as a message of the wrong length, the Conn
// reports it.

func unknown(k Kind, a Algorithm) error {
	return fmt.Errorf("%s has no algorithm %q (have %v)", k, a, Algorithms[k])
}

// Barrier blocks until every rank has entered it.
func Barrier(c Conn, t Tag) error { return BarrierDissemination(c, t) }

// Bcast copies root's buf to every rank's buf.
func Bcast(c Conn, t Tag, buf []byte, root int, a Algorithm) error {
	switch a {
	case Binomial:
		return BcastBinomial(c, t, buf, root)
	case ScatterAllgather:
		return BcastScatterAllgather(c, t, buf, root)
	}
	return unknown(KindBcast, a)
}

// Reduce leaves the reduction of every rank's buf in root's buf; other
// ranks' buf is scratch.
func Reduce[T any](c Conn, t Tag, buf []T, op Op[T], root int, a Algorithm) error {
	switch a {
	case Binomial:
		return ReduceBinomial(c, t, buf, op, root)
	case Rabenseifner:
		return ReduceRabenseifner(c, t, buf, op, root)
	case Ordered:
		return ReduceOrdered(c, t, buf, op, root)
	}
	return unknown(KindReduce, a)
}

// Allreduce leaves the reduction of every rank's buf in every rank's buf.
func Allreduce[T any](c Conn, t Tag, buf []T, op Op[T], a Algorithm) error {
	switch a {
	case RecursiveDoubling:
		return AllreduceRecursiveDoubling(c, t, buf, op)
	case Ring:
		return AllreduceRing(c, t, buf, op)
	case Rabenseifner:
		return AllreduceRabenseifner(c, t, buf, op)
	case Ordered:
		return AllreduceOrdered(c, t, buf, op)
	}
	return unknown(KindAllreduce, a)
}

// Gather collects every rank's send, in rank order, into root's recv.
func Gather(c Conn, t Tag, send, recv []byte, root int, a Algorithm) error {
	if a == Binomial {
		return GatherBinomial(c, t, send, recv, root)
	}
	return unknown(KindGather, a)
}

// Scatter sends block i of root's send to rank i's recv.
func Scatter(c Conn, t Tag, send, recv []byte, root int, a Algorithm) error {
	if a == Binomial {
		return ScatterBinomial(c, t, send, recv, root)
	}
	return unknown(KindScatter, a)
}

// Allgather collects every rank's send, in rank order, into every recv.
func Allgather(c Conn, t Tag, send, recv []byte, a Algorithm) error {
	switch a {
	case Ring:
		return AllgatherRing(c, t, send, recv)
	case Bruck:
		return AllgatherBruck(c, t, send, recv)
	}
	return unknown(KindAllgather, a)
}

// Alltoall sends block i of send to rank i, where it lands as block r
// (the sender's rank) of recv.
func Alltoall(c Conn, t Tag, send, recv []byte, a Algorithm) error {
	switch a {
	case Bruck:
		return AlltoallBruck(c, t, send, recv)
	case Pairwise:
		return AlltoallPairwise(c, t, send, recv)
	}
	return unknown(KindAlltoall, a)
}

// ReduceScatter reduces buf (counts[i] elements for rank i, in rank order)
// and leaves rank r's reduced block in place within its buf; the rest of
// buf is scratch.
func ReduceScatter[T any](c Conn, t Tag, buf []T, counts []int, op Op[T], a Algorithm) error {
	switch a {
	case Ring:
		return ReduceScatterRing(c, t, buf, counts, op)
	case ReduceScatterv:
		return ReduceScatterReduceScatterv(c, t, buf, counts, op)
	}
	return unknown(KindReduceScatter, a)
}

// Scan leaves x_0 op ... op x_r in rank r's buf.
func Scan[T any](c Conn, t Tag, buf []T, op Op[T], a Algorithm) error {
	switch a {
	case RecursiveDoubling:
		return ScanRecursiveDoubling(c, t, buf, op)
	case Linear:
		return ScanLinear(c, t, buf, op)
	}
	return unknown(KindScan, a)
}

// Exscan leaves x_0 op ... op x_{r-1} in rank r's buf (r > 0).
func Exscan[T any](c Conn, t Tag, buf []T, op Op[T], a Algorithm) error {
	switch a {
	case RecursiveDoubling:
		return ExscanRecursiveDoubling(c, t, buf, op)
	case Linear:
		return ExscanLinear(c, t, buf, op)
	}
	return unknown(KindExscan, a)
}
