package coll

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mpx-hpc/mpx/param"
)

// Kind names a collective operation.
type Kind uint8

// The collectives.
const (
	KindBarrier Kind = iota
	KindBcast
	KindReduce
	KindAllreduce
	KindGather
	KindGatherv
	KindScatter
	KindScatterv
	KindAllgather
	KindAllgatherv
	KindAlltoall
	KindAlltoallv
	KindReduceScatter
	KindScan
	KindExscan
	kindEnd
)

var kindNames = [...]string{"barrier", "bcast", "reduce", "allreduce", "gather", "gatherv", "scatter",
	"scatterv", "allgather", "allgatherv", "alltoall", "alltoallv", "reduce_scatter", "scan", "exscan"}

func (k Kind) String() string {
	if k < kindEnd {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Algorithm names a collective algorithm; each lives in a file
// <collective>_<algorithm>.go.
type Algorithm string

// The algorithms.
const (
	Dissemination     Algorithm = "dissemination"
	Binomial          Algorithm = "binomial"
	ScatterAllgather  Algorithm = "scatter_allgather"
	RecursiveDoubling Algorithm = "recursive_doubling"
	Ring              Algorithm = "ring"
	Rabenseifner      Algorithm = "rabenseifner"
	Bruck             Algorithm = "bruck"
	Pairwise          Algorithm = "pairwise"
	Linear            Algorithm = "linear"
	Ordered           Algorithm = "ordered"
	ReduceScatterv    Algorithm = "reduce_scatterv"
)

// Algorithms lists, per collective, every algorithm it has, and whether
// each needs a commutative operator.
var Algorithms = map[Kind][]Algorithm{
	KindBarrier:       {Dissemination},
	KindBcast:         {Binomial, ScatterAllgather},
	KindReduce:        {Binomial, Rabenseifner, Ordered},
	KindAllreduce:     {RecursiveDoubling, Ring, Rabenseifner, Ordered},
	KindGather:        {Binomial},
	KindGatherv:       {Linear},
	KindScatter:       {Binomial},
	KindScatterv:      {Linear},
	KindAllgather:     {Ring, Bruck},
	KindAllgatherv:    {Ring},
	KindAlltoall:      {Bruck, Pairwise},
	KindAlltoallv:     {Pairwise},
	KindReduceScatter: {Ring, ReduceScatterv},
	KindScan:          {RecursiveDoubling, Linear},
	KindExscan:        {RecursiveDoubling, Linear},
}

// needsCommutative says which algorithms combine operands out of rank order.
var needsCommutative = map[Kind]map[Algorithm]bool{
	KindAllreduce:     {Ring: true},
	KindReduceScatter: {Ring: true},
}

// Named thresholds of the decision table. Message sizes are those every
// rank agrees on: the whole vector for bcast, reduce and allreduce, the
// whole result for allgather, one block for alltoall. The values are
// MPICH's defaults (Thakur, Rabenseifner and Gropp 2005) unless noted.
const (
	BcastShortBytes     = 12 << 10 // binomial below, scatter+allgather above
	BcastMinRanks       = 8        // binomial on fewer ranks whatever the size
	ReduceShortBytes    = 2 << 10  // binomial below, Rabenseifner above
	AllreduceShortBytes = 2 << 10  // recursive doubling below
	AllreduceRingBytes  = 1 << 20  // ring from here on (mpx: fewer, larger messages than Rabenseifner's for p not a power of two)
	AllgatherShortBytes = 80 << 10 // Bruck below, ring above
	AlltoallShortBytes  = 256      // Bruck at or below, per block...
	AlltoallMinRanks    = 8        // ...on at least this many ranks; pairwise otherwise
	ChainSegment        = 64 << 10 // segment size of the reproducible pipelined chain
)

// Rule is one row of the decision table: it picks Algorithm for Kind when
// the message is at most MaxBytes, the communicator has between MinRanks
// and MaxRanks ranks, and, if Commutative, the operator is commutative.
// A zero MaxBytes or MaxRanks means no limit. The first matching row wins;
// each collective's last row is unconditional.
type Rule struct {
	Kind        Kind
	Algorithm   Algorithm
	MaxBytes    int
	MinRanks    int
	MaxRanks    int
	Commutative bool
}

// Table is the decision table.
var Table = []Rule{
	{Kind: KindBarrier, Algorithm: Dissemination},
	{Kind: KindBcast, Algorithm: Binomial, MaxBytes: BcastShortBytes},
	{Kind: KindBcast, Algorithm: Binomial, MaxRanks: BcastMinRanks - 1},
	{Kind: KindBcast, Algorithm: ScatterAllgather},
	{Kind: KindReduce, Algorithm: Binomial, MaxBytes: ReduceShortBytes},
	{Kind: KindReduce, Algorithm: Rabenseifner},
	{Kind: KindAllreduce, Algorithm: RecursiveDoubling, MaxBytes: AllreduceShortBytes},
	{Kind: KindAllreduce, Algorithm: Rabenseifner, MaxBytes: AllreduceRingBytes - 1},
	{Kind: KindAllreduce, Algorithm: Ring, Commutative: true},
	{Kind: KindAllreduce, Algorithm: Rabenseifner},
	{Kind: KindGather, Algorithm: Binomial},
	{Kind: KindGatherv, Algorithm: Linear},
	{Kind: KindScatter, Algorithm: Binomial},
	{Kind: KindScatterv, Algorithm: Linear},
	{Kind: KindAllgather, Algorithm: Bruck, MaxBytes: AllgatherShortBytes},
	{Kind: KindAllgather, Algorithm: Ring},
	{Kind: KindAllgatherv, Algorithm: Ring},
	{Kind: KindAlltoall, Algorithm: Bruck, MaxBytes: AlltoallShortBytes, MinRanks: AlltoallMinRanks},
	{Kind: KindAlltoall, Algorithm: Pairwise},
	{Kind: KindAlltoallv, Algorithm: Pairwise},
	{Kind: KindReduceScatter, Algorithm: Ring, Commutative: true},
	{Kind: KindReduceScatter, Algorithm: ReduceScatterv},
	{Kind: KindScan, Algorithm: RecursiveDoubling},
	{Kind: KindExscan, Algorithm: RecursiveDoubling},
}

// reproducibleChoice is what the reproducible mode uses for the reductions.
var reproducibleChoice = map[Kind]Algorithm{
	KindReduce:        Ordered,
	KindAllreduce:     Ordered,
	KindReduceScatter: ReduceScatterv, // whose reduce is then Ordered
	KindScan:          Linear,
	KindExscan:        Linear,
}

// Decide is the decision table as a pure function of values every rank
// agrees on: the collective, the message size in bytes, the communicator
// size and the operator's commutativity.
func Decide(k Kind, bytes, ranks int, commutative bool) Algorithm {
	for _, r := range Table {
		if r.Kind != k ||
			r.MaxBytes > 0 && bytes > r.MaxBytes ||
			ranks < r.MinRanks ||
			r.MaxRanks > 0 && ranks > r.MaxRanks ||
			r.Commutative && !commutative {
			continue
		}
		return r.Algorithm
	}
	panic("coll: decision table has no row for " + k.String())
}

var (
	// Reproducible is the reproducible-reduction mode. It outranks the
	// coll_<name>_algorithm parameters of the reductions: an algorithm
	// forced there that would combine in another order yields to the
	// reproducible one (as a forced algorithm already yields to the
	// table's when the operator is not commutative), so the promise holds
	// whatever else is set.
	Reproducible = param.NewBool("coll_reproducible", false,
		"reductions (allreduce, reduce, reduce_scatter, scan, exscan) fold operands in rank order along a pipelined chain, "+
			"so floating-point results are the serial rank-order fold, bit for bit, whatever the message size, root or algorithm; "+
			"it outranks a coll_<name>_algorithm that would fold in another order")
	overrides = map[Kind]param.Enum{}
)

func init() {
	for k := KindBarrier; k < kindEnd; k++ {
		algs := Algorithms[k]
		if len(algs) < 2 {
			continue
		}
		choices := []string{"auto"}
		for _, a := range algs {
			choices = append(choices, string(a))
		}
		help := k.String() + " algorithm; auto follows the decision table (see `mpx info`)"
		if a, ok := reproducibleChoice[k]; ok {
			help += "; with " + Reproducible.Name() + "=true only " + string(a) + " is honoured"
		}
		overrides[k] = param.NewEnum(OverrideParam(k), "auto", choices, help)
	}
}

// OverrideParam is the name of the parameter forcing k's algorithm.
func OverrideParam(k Kind) string { return "coll_" + k.String() + "_algorithm" }

// Choose is the algorithm a collective call uses: the one forced by its
// parameter, else the reproducible mode's, else the table's. A forced
// algorithm yields to the table's choice when it cannot serve a
// non-commutative operator, and to the reproducible mode's when that mode
// is on and the algorithm is not its rank-order one. Parameters come from
// the launcher, identical on every rank, so every rank still chooses the
// same.
func Choose(k Kind, bytes, ranks int, commutative bool) Algorithm {
	repro, ok := reproducibleChoice[k]
	if !ok || !Reproducible.Get() {
		repro = ""
	}
	if p, ok := overrides[k]; ok {
		if v := Algorithm(p.Get()); v != "auto" && (repro == "" || v == repro) && (commutative || !needsCommutative[k][v]) {
			return v
		}
	}
	if repro != "" {
		return repro
	}
	return Decide(k, bytes, ranks, commutative)
}

// ReproducibleOverrides lists, as name=value, the forced reduction
// algorithms that the reproducible mode currently overrides, so that a
// job can say once that they are not used.
func ReproducibleOverrides() []string {
	if !Reproducible.Get() {
		return nil
	}
	var out []string
	for k := KindBarrier; k < kindEnd; k++ {
		repro, ok := reproducibleChoice[k]
		p, forced := overrides[k]
		if !ok || !forced {
			continue
		}
		if v := Algorithm(p.Get()); v != "auto" && v != repro {
			out = append(out, p.Name()+"="+string(v))
		}
	}
	return out
}

// Row is one printable row of the decision table.
type Row struct {
	Collective, Algorithm, When string
}

// Rows lists the decision table for `mpx info`, followed by the
// reproducible mode's choices.
func Rows() []Row {
	var rows []Row
	for _, r := range Table {
		var when []string
		if r.MaxBytes > 0 {
			when = append(when, "bytes <= "+param.FormatSize(r.MaxBytes))
		}
		if r.MinRanks > 0 {
			when = append(when, fmt.Sprintf("ranks >= %d", r.MinRanks))
		}
		if r.MaxRanks > 0 {
			when = append(when, fmt.Sprintf("ranks <= %d", r.MaxRanks))
		}
		if r.Commutative {
			when = append(when, "commutative op")
		}
		if len(when) == 0 {
			when = []string{"otherwise"}
		}
		rows = append(rows, Row{r.Kind.String(), string(r.Algorithm), strings.Join(when, ", ")})
	}
	for k := KindBarrier; k < kindEnd; k++ {
		if a, ok := reproducibleChoice[k]; ok {
			rows = append(rows, Row{k.String(), string(a), Reproducible.Name() + "=true, over any forced algorithm"})
		}
	}
	return rows
}
