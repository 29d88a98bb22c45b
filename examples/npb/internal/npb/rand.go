// Package npb holds what the NPB CG and MG examples share: the NPB
// pseudo-random generator, the official class parameters and verification
// values, and the report NPB prints at the end of a run.
package npb

import "math/bits"

// The NPB linear congruential generator (RNR-94-007, section 2.3):
// x_{k+1} = a·x_k mod 2^46, returned as x_{k+1}·2^-46 in (0, 1).
const (
	A    = 1220703125 // 5^13, the multiplier of every NPB generator
	Seed = 314159265  // the initial x of CG and MG
)

const mask46 = 1<<46 - 1

// mulmod returns a·x mod 2^46. NPB's Fortran randlc splits both factors
// into 23-bit halves so that every partial product is exact in a double;
// the 128-bit integer product computes the same exact residue.
func mulmod(a, x uint64) uint64 {
	_, lo := bits.Mul64(a, x)
	return lo & mask46
}

// Randlc advances *x to a·x mod 2^46 and returns the new value scaled to
// (0, 1). x and a hold integers below 2^46, as in NPB.
func Randlc(x *float64, a float64) float64 {
	v := mulmod(uint64(a), uint64(*x))
	*x = float64(v)
	return float64(v) * 0x1p-46
}

// Vranlc fills y with the next len(y) numbers of the sequence from *x and
// leaves *x at the last one, as NPB's vranlc.
func Vranlc(y []float64, x *float64, a float64) {
	ai, v := uint64(a), uint64(*x)
	for i := range y {
		v = mulmod(ai, v)
		y[i] = float64(v) * 0x1p-46
	}
	*x = float64(v)
}

// Power returns a^n mod 2^46, the multiplier that jumps the sequence n
// steps ahead (MG's power function).
func Power(a float64, n int) float64 {
	p, b := uint64(1), uint64(a)
	for ; n > 0; n >>= 1 {
		if n&1 == 1 {
			p = mulmod(p, b)
		}
		b = mulmod(b, b)
	}
	return float64(p)
}
