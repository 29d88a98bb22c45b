package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
)

// rock is the permeability (m²) and porosity of this rank's interior
// cells, in the block's natural order (i fastest).
type rock struct {
	kx, ky, kz, phi []float64
	clamped         int // cells whose porosity was raised to MinPoro
}

// loadRock builds the rock of block b from cfg. Every rank computes or
// reads the same global field and keeps its own part, so the answer does
// not depend on the decomposition.
func loadRock(cfg *config, b *block) (*rock, error) {
	n := b.cells()
	r := &rock{kx: make([]float64, n), ky: make([]float64, n), kz: make([]float64, n), phi: make([]float64, n)}
	for i := range r.phi {
		r.phi[i] = cfg.Poro
	}
	switch cfg.Rock {
	case "homogeneous":
		for i := range n {
			r.kx[i], r.ky[i], r.kz[i] = cfg.PermMean, cfg.PermMean, cfg.KvKh*cfg.PermMean
		}
	case "lognormal":
		g := gaussianField([3]int{cfg.NX, cfg.NY, cfg.NZ}, cfg.CorrLen, cfg.Seed)
		m := 0
		for k := range b.l[2] {
			for j := range b.l[1] {
				for i := range b.l[0] {
					gi := (b.o[0] + i) + cfg.NX*((b.o[1]+j)+cfg.NY*(b.o[2]+k))
					kk := cfg.PermMean * math.Exp(cfg.PermSigma*g[gi])
					r.kx[m], r.ky[m], r.kz[m] = kk, kk, cfg.KvKh*kk
					m++
				}
			}
		}
	case "spe10":
		box0 := [3]int{cfg.Box[0] + b.o[0], cfg.Box[1] + b.o[1], cfg.Box[2] + b.o[2]}
		perm, err := readSPE10File(cfg.PermFile, cfg.SPEDims, 3, box0, b.l)
		if err != nil {
			return nil, err
		}
		for i := range n {
			r.kx[i], r.ky[i], r.kz[i] = perm[0][i]*milliDarcy, perm[1][i]*milliDarcy, perm[2][i]*milliDarcy
		}
		if cfg.PoroFile != "" {
			phi, err := readSPE10File(cfg.PoroFile, cfg.SPEDims, 1, box0, b.l)
			if err != nil {
				return nil, err
			}
			for i, v := range phi[0] {
				if v > 1 {
					return nil, fmt.Errorf("porosity file %s: value %g above 1", cfg.PoroFile, v)
				}
				if v < cfg.MinPoro {
					v = cfg.MinPoro
					r.clamped++
				}
				r.phi[i] = v
			}
		}
	default:
		return nil, fmt.Errorf("-rock %q: want homogeneous, lognormal or spe10", cfg.Rock)
	}
	return r, nil
}

// gaussianField returns a zero-mean, unit-variance Gaussian field on the
// n grid with Gaussian correlation of corr cells (standard deviation of
// the smoothing kernel) per dimension: white noise from a seeded PCG on a
// grid padded by three kernel widths, smoothed by separable convolution,
// then normalised over the domain.
func gaussianField(n [3]int, corr [3]float64, seed uint64) []float64 {
	var pad, m [3]int
	kern := make([][]float64, 3)
	for d := range 3 {
		pad[d] = int(math.Ceil(3 * corr[d]))
		m[d] = n[d] + 2*pad[d]
		k := make([]float64, 2*pad[d]+1)
		s := 0.0
		for i := range k {
			x := float64(i - pad[d])
			if corr[d] > 0 {
				k[i] = math.Exp(-0.5 * x * x / (corr[d] * corr[d]))
			} else {
				k[i] = 1
			}
			s += k[i]
		}
		for i := range k {
			k[i] /= s
		}
		kern[d] = k
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed_5e10))
	a := make([]float64, m[0]*m[1]*m[2])
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	// Convolve dimension by dimension; each pass shrinks that dimension
	// from m[d] to n[d] (valid part only).
	cur := m
	for d := range 3 {
		next := cur
		next[d] = n[d]
		b := make([]float64, next[0]*next[1]*next[2])
		stride := [3]int{1, cur[0], cur[0] * cur[1]}
		for k := range next[2] {
			for j := range next[1] {
				for i := range next[0] {
					src := i*stride[0] + j*stride[1] + k*stride[2]
					s := 0.0
					for q, w := range kern[d] {
						s += w * a[src+q*stride[d]]
					}
					b[i+next[0]*(j+next[1]*k)] = s
				}
			}
		}
		a, cur = b, next
	}
	mean, sq := 0.0, 0.0
	for _, v := range a {
		mean += v
	}
	mean /= float64(len(a))
	for _, v := range a {
		sq += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(sq / float64(len(a)))
	if sd == 0 {
		sd = 1
	}
	for i := range a {
		a[i] = (a[i] - mean) / sd
	}
	return a
}

func readSPE10File(path string, dims [3]int, fields int, box0, boxN [3]int) ([][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("SPE10 file: %w", err)
	}
	defer f.Close()
	out, err := readSPE10(f, dims, fields, box0, boxN)
	if err != nil {
		return nil, fmt.Errorf("SPE10 file %s: %w", path, err)
	}
	return out, nil
}

// readSPE10 reads a file in the SPE10 model 2 layout: whitespace-separated
// numbers, fields one after the other (kx, ky, kz for spe_perm.dat; one
// field for spe_phi.dat), each over the dims grid with i fastest, then j,
// then k. It keeps the sub-box of boxN cells starting at box0, returned per
// field in the same order. Values must be finite and non-negative, and the
// file must hold exactly fields×cells of them.
func readSPE10(r io.Reader, dims [3]int, fields int, box0, boxN [3]int) ([][]float64, error) {
	for d := range 3 {
		if dims[d] < 1 || boxN[d] < 1 || box0[d] < 0 || box0[d]+boxN[d] > dims[d] {
			return nil, fmt.Errorf("box %v+%v does not fit in grid %v", box0, boxN, dims)
		}
	}
	if fields < 1 {
		return nil, fmt.Errorf("%d fields requested", fields)
	}
	per := dims[0] * dims[1] * dims[2]
	nb := boxN[0] * boxN[1] * boxN[2]
	out := make([][]float64, fields)
	for f := range out {
		out[f] = make([]float64, nb)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	sc.Split(bufio.ScanWords)
	want := fields * per
	m := 0
	for sc.Scan() {
		if m >= want {
			return nil, fmt.Errorf("more than the %d values of %d field(s) on a %dx%dx%d grid", want, fields, dims[0], dims[1], dims[2])
		}
		f, c := m/per, m%per
		i, j, k := c%dims[0], (c/dims[0])%dims[1], c/(dims[0]*dims[1])
		m++
		// Every value is checked, not only the box's, so a damaged file
		// is reported whatever part of it is used.
		tok := sc.Text()
		v, err := strconv.ParseFloat(tok, 64)
		if err != nil {
			return nil, fmt.Errorf("value %d (field %d, cell %d,%d,%d): %q is not a number", m, f+1, i, j, k, truncate(tok))
		}
		if !(v >= 0) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d (field %d, cell %d,%d,%d): %g is not a finite non-negative number", m, f+1, i, j, k, v)
		}
		li, lj, lk := i-box0[0], j-box0[1], k-box0[2]
		if li < 0 || li >= boxN[0] || lj < 0 || lj >= boxN[1] || lk < 0 || lk >= boxN[2] {
			continue
		}
		out[f][li+boxN[0]*(lj+boxN[1]*lk)] = v
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("after %d values: a token longer than 1 MiB", m)
		}
		return nil, fmt.Errorf("after %d values: %w", m, err)
	}
	if m < want {
		return nil, fmt.Errorf("only %d values, want %d (%d field(s) on a %dx%dx%d grid)", m, want, fields, dims[0], dims[1], dims[2])
	}
	return out, nil
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
