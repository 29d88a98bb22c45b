package npb

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// randlcFortran is NPB's randlc as written in Fortran: both factors split
// into 23-bit halves so that every product is exact in a double.
func randlcFortran(x *float64, a float64) float64 {
	const (
		r23 = 0x1p-23
		t23 = 0x1p23
		r46 = 0x1p-46
		t46 = 0x1p46
	)
	t1 := r23 * a
	a1 := math.Trunc(t1)
	a2 := a - t23*a1
	t1 = r23 * *x
	x1 := math.Trunc(t1)
	x2 := *x - t23*x1
	t1 = a1*x2 + a2*x1
	t2 := math.Trunc(r23 * t1)
	z := t1 - t23*t2
	t3 := t23*z + a2*x2
	t4 := math.Trunc(r46 * t3)
	*x = t3 - t46*t4
	return r46 * *x
}

func TestRandlcMatchesFortran(t *testing.T) {
	seeds := []float64{Seed, 1, 271828183, 0x1p46 - 1, 123456789012}
	mults := []float64{A, Power(A, 1000), Power(A, 1<<20), 3}
	for _, s := range seeds {
		for _, a := range mults {
			x, y := s, s
			for i := 0; i < 1000; i++ {
				got, want := Randlc(&x, a), randlcFortran(&y, a)
				if got != want || x != y {
					t.Fatalf("seed %.0f a %.0f step %d: Randlc %v (x %.0f), Fortran %v (x %.0f)", s, a, i, got, x, want, y)
				}
				if !(got > 0 && got < 1) && x != 0 {
					t.Fatalf("seed %.0f step %d: %v outside (0, 1)", s, i, got)
				}
			}
		}
	}
}

func TestVranlcAndPower(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 64, 1000} {
		x := float64(Seed)
		y := make([]float64, n)
		Vranlc(y, &x, A)
		z := float64(Seed)
		for i := 0; i < n; i++ {
			if v := Randlc(&z, A); v != y[i] {
				t.Fatalf("n %d: Vranlc[%d] = %v, Randlc %v", n, i, y[i], v)
			}
		}
		if x != z {
			t.Errorf("n %d: Vranlc leaves x %.0f, Randlc %.0f", n, x, z)
		}
		// Power jumps the sequence n steps.
		j := float64(Seed)
		Randlc(&j, Power(A, n))
		if n > 0 && j != z {
			t.Errorf("Power(A, %d) jumps to %.0f, stepping gives %.0f", n, j, z)
		}
	}
}

func TestClasses(t *testing.T) {
	cg := []CGParams{
		{"S", 1400, 7, 15, 10, 0.1, 8.5971775078648},
		{"W", 7000, 8, 15, 12, 0.1, 10.362595087124},
		{"A", 14000, 11, 15, 20, 0.1, 17.130235054029},
		{"B", 75000, 13, 75, 60, 0.1, 22.712745482631},
	}
	for _, want := range cg {
		got, err := CG(want.Class)
		if err != nil || got != want {
			t.Errorf("CG(%s) = %+v, %v; want %+v", want.Class, got, err, want)
		}
	}
	mg := []MGParams{
		{"S", 32, 4, 0.5307707005734e-04},
		{"W", 128, 4, 0.6467329375339e-05},
		{"A", 256, 4, 0.2433365309069e-05},
		{"B", 256, 20, 0.1800564401355e-05},
	}
	for _, want := range mg {
		got, err := MG(want.Class)
		if err != nil || got != want {
			t.Errorf("MG(%s) = %+v, %v; want %+v", want.Class, got, err, want)
		}
	}
	for _, bad := range []string{"C", "a", "", "SW"} {
		if _, err := CG(bad); err == nil || !strings.Contains(err.Error(), "want one of S, W, A, B") {
			t.Errorf("CG(%q) error %v", bad, err)
		}
		if _, err := MG(bad); err == nil || !strings.Contains(err.Error(), "unknown class") {
			t.Errorf("MG(%q) error %v", bad, err)
		}
	}
}

func TestRowsErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{"# c\nbenchmark,class,param,value\nCG,S,x\n", "wrong number of fields"},
		{"benchmark,class,param,value,extra\nCG,S,x,1,2\n", "has 5 fields, want 4"},
	}
	for _, tc := range cases {
		if _, err := rows(tc.text, "CG"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("rows(%q) error %v, want %q", tc.text, err, tc.want)
		}
	}
	if _, err := numbers("1;x", 2); err == nil || !strings.Contains(err.Error(), `"1;x"`) {
		t.Errorf("numbers(1;x) error %v", err)
	}
	if _, err := numbers("1;2", 3); err == nil || !strings.Contains(err.Error(), "has 2 values, want 3") {
		t.Errorf("numbers(1;2, 3) error %v", err)
	}
}

func TestReport(t *testing.T) {
	cases := []struct {
		value    float64
		verified bool
		want     string
	}{
		{17.130235054029, true, "VERIFICATION SUCCESSFUL"},
		{17.130235054029 * (1 + 0.9e-10), true, "Verification    =               SUCCESSFUL"},
		{17.130235054029 * (1 + 1.1e-10), false, "VERIFICATION FAILED"},
		{17.2, false, "Verification    =                   FAILED"},
	}
	for _, tc := range cases {
		r := Report{Name: "CG", Class: "A", Size: "14000", Iterations: 15, Seconds: 2, Ranks: 2, Mops: 1000,
			Label: "zeta", Value: tc.value, Reference: 17.130235054029, Epsilon: CGEpsilon}
		if r.Verified() != tc.verified {
			t.Errorf("value %.15g: verified %v, want %v", tc.value, r.Verified(), tc.verified)
		}
		var b bytes.Buffer
		r.Write(&b)
		out := b.String()
		for _, w := range []string{tc.want, "Mop/s total     =                  1000.00", "Mop/s/process   =                   500.00", "Class           =                        A"} {
			if !strings.Contains(out, w) {
				t.Errorf("value %.15g: report lacks %q:\n%s", tc.value, w, out)
			}
		}
		if tc.verified == strings.Contains(out, "FAILED") {
			t.Errorf("value %.15g: report says FAILED = %v:\n%s", tc.value, !tc.verified, out)
		}
	}
}

func TestPowerOfTwo(t *testing.T) {
	for n, want := range map[int]bool{0: false, 1: true, 2: true, 3: false, 4: true, 6: false, 1024: true, -2: false} {
		if PowerOfTwo(n) != want {
			t.Errorf("PowerOfTwo(%d) = %v", n, !want)
		}
	}
}

func TestReportCPU(t *testing.T) {
	r := Report{Name: "MG", Class: "A", Size: "256x256x256", Iterations: 4, Seconds: 4, Ranks: 2, Mops: 1000,
		Label: "L2 norm", Value: 1, Reference: 1, Epsilon: MGEpsilon}
	var b bytes.Buffer
	r.Write(&b)
	if strings.Contains(b.String(), "CPU") {
		t.Errorf("report without CPU time prints a CPU line:\n%s", b.String())
	}
	// 4000 Mop in 2 CPU seconds.
	r.CPUSeconds = 2
	b.Reset()
	r.Write(&b)
	for _, w := range []string{"CPU seconds     =                     2.00", "Mop/CPU-second  =                  2000.00"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, b.String())
		}
	}
	if c := ProcessCPU(); c <= 0 {
		t.Errorf("ProcessCPU() = %v, want > 0 after running tests", c)
	}
}
