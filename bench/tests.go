// Package bench is mpx's OSU-style measurement suite: point-to-point latency
// and bandwidth, message rate and collective latency, measured through comm
// (matching and protocols) or on bare transport frames, printed in the OSU
// micro-benchmarks' layout, as JSON or CSV, plotted, and compared with an
// installed MPI running the project's own C port of the same tests
// (mpi/osu_mpx.c).
//
// The methodology is OSU's: warm-up iterations before the timed ones,
// iteration counts that fall with message size, sizes in powers of two,
// buffers touched before timing, and for collectives each rank's average
// reduced to min/avg/max over ranks.
package bench

import (
	"fmt"
	"sort"
	"strings"
)

// Family groups tests that share a schedule and an output layout.
type Family int

// Test families.
const (
	FamilyLatency    Family = iota + 1 // ping-pong: latency in us
	FamilyBandwidth                    // windows of sends: MB/s
	FamilyCollective                   // min/avg/max latency over ranks
)

// Test describes one benchmark.
type Test struct {
	Name  string // as typed: "latency", "allreduce"
	Title string // OSU's title: "Latency Test"
	// Family fixes the schedule defaults and the columns.
	Family Family
	// Reduction tests move float32 elements (size/4 of them).
	Reduction bool
	// MinRanks is the fewest ranks the test runs with; EvenRanks asks for
	// an even number (pairs).
	MinRanks  int
	EvenRanks bool
	// MessageRate adds a messages/s column (mbw_mr).
	MessageRate bool
	// Transport tests can also run on bare transport frames.
	Transport bool
}

var tests = []*Test{
	{Name: "latency", Title: "Latency Test", Family: FamilyLatency, MinRanks: 2, Transport: true},
	{Name: "bw", Title: "Bandwidth Test", Family: FamilyBandwidth, MinRanks: 2, Transport: true},
	{Name: "bibw", Title: "Bi-Directional Bandwidth Test", Family: FamilyBandwidth, MinRanks: 2},
	{Name: "mbw_mr", Title: "Multiple Bandwidth / Message Rate Test", Family: FamilyBandwidth, MinRanks: 2, EvenRanks: true, MessageRate: true},
	{Name: "allreduce", Title: "Allreduce Latency Test", Family: FamilyCollective, Reduction: true, MinRanks: 2},
	{Name: "reduce", Title: "Reduce Latency Test", Family: FamilyCollective, Reduction: true, MinRanks: 2},
	{Name: "bcast", Title: "Broadcast Latency Test", Family: FamilyCollective, MinRanks: 2},
	{Name: "allgather", Title: "Allgather Latency Test", Family: FamilyCollective, MinRanks: 2},
	{Name: "alltoall", Title: "All-to-All Personalized Exchange Latency Test", Family: FamilyCollective, MinRanks: 2},
	{Name: "gather", Title: "Gather Latency Test", Family: FamilyCollective, MinRanks: 2},
	{Name: "scatter", Title: "Scatter Latency Test", Family: FamilyCollective, MinRanks: 2},
	{Name: "barrier", Title: "Barrier Latency Test", Family: FamilyCollective, MinRanks: 2},
}

// Tests lists every test, point-to-point first.
func Tests() []*Test { return tests }

// Names lists the test names.
func Names() []string {
	names := make([]string, len(tests))
	for i, t := range tests {
		names[i] = t.Name
	}
	return names
}

// Lookup finds a test by name; "osu_" prefixes are accepted so that OSU
// habits ("osu_latency") work.
func Lookup(name string) (*Test, error) {
	n := strings.TrimPrefix(strings.ToLower(name), "osu_")
	for _, t := range tests {
		if t.Name == n {
			return t, nil
		}
	}
	names := Names()
	sort.Strings(names)
	return nil, fmt.Errorf("unknown benchmark %q (want one of %s)", name, strings.Join(names, ", "))
}

// byTitle finds a test by its OSU title, as printed in the table header.
func byTitle(title string) *Test {
	for _, t := range tests {
		if t.Title == title {
			return t
		}
	}
	return nil
}

// CheckRanks reports whether the test can run on n ranks.
func (t *Test) CheckRanks(n int) error {
	if n < t.MinRanks {
		return fmt.Errorf("%s needs at least %d ranks, have %d", t.Name, t.MinRanks, n)
	}
	if t.EvenRanks && n%2 != 0 {
		return fmt.Errorf("%s pairs ranks and needs an even number of them, have %d", t.Name, n)
	}
	return nil
}

// Unit is the unit of the test's main figure.
func (t *Test) Unit() string {
	if t.Family == FamilyBandwidth {
		return "MB/s"
	}
	return "us"
}

// HigherIsBetter is true for bandwidth tests.
func (t *Test) HigherIsBetter() bool { return t.Family == FamilyBandwidth }
