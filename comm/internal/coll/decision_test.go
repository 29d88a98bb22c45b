package coll

import (
	"slices"
	"testing"

	"github.com/mpx-hpc/mpx/param"
)

func TestDecide(t *testing.T) {
	cases := []struct {
		k           Kind
		bytes, p    int
		commutative bool
		want        Algorithm
	}{
		{KindBarrier, 0, 5, true, Dissemination},
		{KindBcast, 8, 64, true, Binomial},
		{KindBcast, 1 << 20, 4, true, Binomial},
		{KindBcast, 1 << 20, 8, true, ScatterAllgather},
		{KindReduce, 8, 8, true, Binomial},
		{KindReduce, 1 << 20, 8, false, Rabenseifner},
		{KindAllreduce, 8, 16, true, RecursiveDoubling},
		{KindAllreduce, AllreduceShortBytes + 1, 16, true, Rabenseifner},
		{KindAllreduce, AllreduceRingBytes, 16, true, Ring},
		{KindAllreduce, AllreduceRingBytes, 16, false, Rabenseifner},
		{KindAllgather, 1 << 10, 4, true, Bruck},
		{KindAllgather, 1 << 20, 4, true, Ring},
		{KindAlltoall, 64, 16, true, Bruck},
		{KindAlltoall, 64, 4, true, Pairwise},
		{KindAlltoall, 4096, 16, true, Pairwise},
		{KindReduceScatter, 8, 4, true, Ring},
		{KindReduceScatter, 8, 4, false, ReduceScatterv},
		{KindScan, 8, 4, false, RecursiveDoubling},
	}
	for _, tc := range cases {
		if got := Decide(tc.k, tc.bytes, tc.p, tc.commutative); got != tc.want {
			t.Errorf("Decide(%s, %d bytes, %d ranks, commutative %v) = %s, want %s", tc.k, tc.bytes, tc.p, tc.commutative, got, tc.want)
		}
	}
}

// TestEveryKindDecided: every collective has an unconditional last row,
// and every row names an algorithm the collective has.
func TestEveryKindDecided(t *testing.T) {
	last := map[Kind]Rule{}
	for _, r := range Table {
		found := false
		for _, a := range Algorithms[r.Kind] {
			found = found || a == r.Algorithm
		}
		if !found {
			t.Errorf("table row %+v names an algorithm %s does not have", r, r.Kind)
		}
		last[r.Kind] = r
	}
	for k := KindBarrier; k < kindEnd; k++ {
		r, ok := last[k]
		if !ok || r.MaxBytes != 0 || r.MinRanks != 0 || r.MaxRanks != 0 || r.Commutative {
			t.Errorf("%s: last row %+v is not unconditional", k, r)
		}
	}
}

// TestChooseParams proves each knob has an effect: an override forces the
// algorithm (except one that cannot serve a non-commutative operator), and
// the reproducible mode switches the reductions to the ordered ones.
func TestChooseParams(t *testing.T) {
	defer param.Unset("coll_allreduce_algorithm")
	defer param.Unset("coll_reproducible")
	defer param.Unset("coll_bcast_algorithm")
	if got := Choose(KindAllreduce, 8, 4, true); got != RecursiveDoubling {
		t.Fatalf("default allreduce of 8 bytes: %s", got)
	}
	must := func(name, v string) {
		if err := param.Set(name, v); err != nil {
			t.Fatal(err)
		}
	}
	must("coll_allreduce_algorithm", "ring")
	if got := Choose(KindAllreduce, 8, 4, true); got != Ring {
		t.Errorf("forced ring: got %s", got)
	}
	if got := Choose(KindAllreduce, 8, 4, false); got != RecursiveDoubling {
		t.Errorf("forced ring with a non-commutative op: got %s, want the table's recursive_doubling", got)
	}
	must("coll_bcast_algorithm", "scatter_allgather")
	if got := Choose(KindBcast, 8, 2, true); got != ScatterAllgather {
		t.Errorf("forced bcast: got %s", got)
	}
	param.Unset("coll_allreduce_algorithm")
	must("coll_reproducible", "true")
	for k, want := range map[Kind]Algorithm{KindAllreduce: Ordered, KindReduce: Ordered, KindScan: Linear, KindExscan: Linear, KindReduceScatter: ReduceScatterv} {
		if got := Choose(k, 1<<20, 16, true); got != want {
			t.Errorf("reproducible %s: got %s, want %s", k, got, want)
		}
	}
	if got := Choose(KindBcast, 8, 2, true); got != ScatterAllgather {
		t.Errorf("reproducible mode must not touch a forced bcast: got %s", got)
	}
	if got := ReproducibleOverrides(); len(got) != 0 {
		t.Errorf("nothing forced, yet overrides %v", got)
	}
}

// TestReproducibleOutranksForced: with coll_reproducible=true a forced
// reduction algorithm that folds out of rank order yields to the ordered
// one, and is listed as overridden; the ordered ones stay forceable.
func TestReproducibleOutranksForced(t *testing.T) {
	defer param.Unset("coll_reproducible")
	for _, k := range []Kind{KindAllreduce, KindReduce, KindReduceScatter, KindScan, KindExscan} {
		name := OverrideParam(k)
		for _, a := range Algorithms[k] {
			t.Run(name+"="+string(a), func(t *testing.T) {
				defer param.Unset(name)
				if err := param.Set(name, string(a)); err != nil {
					t.Fatal(err)
				}
				param.Unset("coll_reproducible")
				if got := Choose(k, 1<<20, 7, true); got != a {
					t.Fatalf("without reproducible mode: got %s, want the forced %s", got, a)
				}
				if err := param.Set("coll_reproducible", "true"); err != nil {
					t.Fatal(err)
				}
				want, overridden := reproducibleChoice[k], []string{name + "=" + string(a)}
				if a == want {
					overridden = nil
				}
				for _, comm := range []bool{true, false} {
					if got := Choose(k, 1<<20, 7, comm); got != want {
						t.Errorf("reproducible, commutative %v: got %s, want %s", comm, got, want)
					}
				}
				if got := ReproducibleOverrides(); !slices.Equal(got, overridden) {
					t.Errorf("overrides %q, want %q", got, overridden)
				}
			})
		}
	}
}

func TestRows(t *testing.T) {
	rows := Rows()
	if len(rows) != len(Table)+len(reproducibleChoice) {
		t.Fatalf("%d rows for %d rules and %d reproducible choices", len(rows), len(Table), len(reproducibleChoice))
	}
	want := Row{"bcast", "binomial", "bytes <= 12k"}
	if rows[1] != want {
		t.Errorf("row 1 = %+v, want %+v", rows[1], want)
	}
}

func TestTag(t *testing.T) {
	for _, seq := range []uint32{0, 1, 65535, 65536, 1<<32 - 1} {
		tg := NewTag(seq)
		for _, round := range []int{0, 1, 4095} {
			for ph := 0; ph < 8; ph++ {
				tag := tg.Phase(ph).At(round)
				if tag < 0 || tag > 1<<31-1 {
					t.Fatalf("seq %d phase %d round %d: tag %d outside int32", seq, ph, round, tag)
				}
				if SeqOf(tag) != seq&seqMask || RoundOf(tag) != ph*phaseSpan+round {
					t.Fatalf("seq %d phase %d round %d: tag %d decodes to seq %d round %d", seq, ph, round, tag, SeqOf(tag), RoundOf(tag))
				}
			}
		}
	}
}
