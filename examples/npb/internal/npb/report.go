package npb

import (
	"fmt"
	"io"
	"math"
)

// Report is what NPB's print_results prints at the end of a run, with the
// verification value and its reference.
type Report struct {
	Name       string  // "CG" or "MG"
	Class      string  // S, W, A, B
	Size       string  // "14000" or "256x256x256"
	Iterations int     // timed iterations
	Seconds    float64 // timed section, the slowest rank
	CPUSeconds float64 // CPU time of the timed section, summed over the rank processes
	Ranks      int
	Mops       float64 // NPB's operation count / Seconds / 1e6
	Label      string  // what the value is: "zeta", "L2 norm"
	Value      float64 // computed verification value
	Reference  float64 // official value
	Epsilon    float64 // tolerance on |Value-Reference|/Reference
}

// RelErr is the relative error NPB compares with Epsilon.
func (r Report) RelErr() float64 { return math.Abs(r.Value-r.Reference) / r.Reference }

// Verified reports whether Value is within Epsilon of Reference.
func (r Report) Verified() bool { return r.RelErr() <= r.Epsilon }

// Write prints the report in NPB's layout.
func (r Report) Write(w io.Writer) {
	fmt.Fprintln(w)
	if r.Verified() {
		fmt.Fprintln(w, " VERIFICATION SUCCESSFUL")
	} else {
		fmt.Fprintln(w, " VERIFICATION FAILED")
	}
	fmt.Fprintf(w, " %-24s%20.13e\n", r.Label+" is", r.Value)
	fmt.Fprintf(w, " %-24s%20.13e\n", "Reference "+r.Label, r.Reference)
	fmt.Fprintf(w, " %-24s%20.13e (tolerance %.0e)\n", "Relative error", r.RelErr(), r.Epsilon)
	fmt.Fprintln(w)
	fmt.Fprintf(w, " %s Benchmark Completed.\n", r.Name)
	line := func(k, v string) { fmt.Fprintf(w, " %-16s= %24s\n", k, v) }
	line("Class", r.Class)
	line("Size", r.Size)
	line("Iterations", fmt.Sprint(r.Iterations))
	line("Time in seconds", fmt.Sprintf("%.2f", r.Seconds))
	line("Total processes", fmt.Sprint(r.Ranks))
	line("Mop/s total", fmt.Sprintf("%.2f", r.Mops))
	line("Mop/s/process", fmt.Sprintf("%.2f", r.Mops/float64(r.Ranks)))
	if r.CPUSeconds > 0 {
		line("CPU seconds", fmt.Sprintf("%.2f", r.CPUSeconds))
		line("Mop/CPU-second", fmt.Sprintf("%.2f", r.Mops*r.Seconds/r.CPUSeconds))
	}
	line("Operation type", "floating point")
	if r.Verified() {
		line("Verification", "SUCCESSFUL")
	} else {
		line("Verification", "FAILED")
	}
}

// PowerOfTwo reports whether n is 1, 2, 4, 8, ...
func PowerOfTwo(n int) bool { return n > 0 && n&(n-1) == 0 }
