package npb

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

// The official table, a copy of ../shared/verif/npb_verification.csv with
// its header comments (sources and tolerances) kept.
//
//go:embed testdata/npb_verification.csv
var table string

// Tolerances on the relative error of the verification value, from NPB
// (cg.f: epsilon = 1.d-10; mg.f: epsilon = 1.d-8).
const (
	CGEpsilon = 1e-10
	MGEpsilon = 1e-8
)

// Classes lists the classes the examples run.
var Classes = []string{"S", "W", "A", "B"}

// CGParams are the parameters of one CG class.
type CGParams struct {
	Class  string
	NA     int     // order of the matrix
	Nonzer int     // non-zeros per generated sparse vector
	Niter  int     // outer (power method) iterations
	Shift  float64 // subtracted from the diagonal
	Rcond  float64 // condition-number bound of the generated matrix
	Zeta   float64 // official verification value
}

// MGParams are the parameters of one MG class.
type MGParams struct {
	Class string
	N     int     // grid points per side of the periodic cube
	Nit   int     // V-cycles
	RNM2  float64 // official L2 norm of the final residual
}

// rows returns the table's rows for benchmark, keyed "class/param".
func rows(text, benchmark string) (map[string]string, error) {
	var body []string
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, "#") && strings.TrimSpace(l) != "" {
			body = append(body, l)
		}
	}
	recs, err := csv.NewReader(strings.NewReader(strings.Join(body, "\n"))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("npb verification table: %w", err)
	}
	m := map[string]string{}
	for _, r := range recs[1:] {
		if len(r) != 4 {
			return nil, fmt.Errorf("npb verification table: row %q has %d fields, want 4", strings.Join(r, ","), len(r))
		}
		if r[0] == benchmark {
			m[r[1]+"/"+r[2]] = r[3]
		}
	}
	return m, nil
}

// CheckClass returns an error naming the classes available when class is
// not one of them.
func CheckClass(class string) error {
	for _, c := range Classes {
		if class == c {
			return nil
		}
	}
	return fmt.Errorf("unknown class %q: want one of %s", class, strings.Join(Classes, ", "))
}

func field(m map[string]string, bench, class, param string) (string, error) {
	v, ok := m[class+"/"+param]
	if !ok {
		return "", fmt.Errorf("npb verification table: no %s class %s row %q", bench, class, param)
	}
	return v, nil
}

// numbers parses a ';'-separated list of numbers.
func numbers(s string, want int) ([]float64, error) {
	parts := strings.Split(s, ";")
	if len(parts) != want {
		return nil, fmt.Errorf("npb verification table: %q has %d values, want %d", s, len(parts), want)
	}
	out := make([]float64, want)
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return nil, fmt.Errorf("npb verification table: %q: %w", s, err)
		}
		out[i] = v
	}
	return out, nil
}

// CG returns the parameters of CG class class.
func CG(class string) (CGParams, error) {
	if err := CheckClass(class); err != nil {
		return CGParams{}, err
	}
	m, err := rows(table, "CG")
	if err != nil {
		return CGParams{}, err
	}
	s, err := field(m, "CG", class, "na;nonzer;niter;shift;rcond")
	if err != nil {
		return CGParams{}, err
	}
	v, err := numbers(s, 5)
	if err != nil {
		return CGParams{}, err
	}
	z, err := field(m, "CG", class, "zeta_verify_value")
	if err != nil {
		return CGParams{}, err
	}
	zeta, err := numbers(z, 1)
	if err != nil {
		return CGParams{}, err
	}
	return CGParams{Class: class, NA: int(v[0]), Nonzer: int(v[1]), Niter: int(v[2]), Shift: v[3], Rcond: v[4], Zeta: zeta[0]}, nil
}

// MG returns the parameters of MG class class.
func MG(class string) (MGParams, error) {
	if err := CheckClass(class); err != nil {
		return MGParams{}, err
	}
	m, err := rows(table, "MG")
	if err != nil {
		return MGParams{}, err
	}
	s, err := field(m, "MG", class, "grid;nit")
	if err != nil {
		return MGParams{}, err
	}
	g, nit, ok := strings.Cut(s, ";")
	if !ok {
		return MGParams{}, fmt.Errorf("npb verification table: MG class %s grid;nit %q has no ';'", class, s)
	}
	dims := strings.Split(g, "x")
	n, err := strconv.Atoi(dims[0])
	if err != nil || len(dims) != 3 || dims[1] != dims[0] || dims[2] != dims[0] {
		return MGParams{}, fmt.Errorf("npb verification table: MG class %s grid %q is not a cube NxNxN", class, g)
	}
	it, err := strconv.Atoi(nit)
	if err != nil {
		return MGParams{}, fmt.Errorf("npb verification table: MG class %s nit %q: %w", class, nit, err)
	}
	r, err := field(m, "MG", class, "verify_value(L2 norm of residual)")
	if err != nil {
		return MGParams{}, err
	}
	rv, err := numbers(r, 1)
	if err != nil {
		return MGParams{}, err
	}
	return MGParams{Class: class, N: n, Nit: it, RNM2: rv[0]}, nil
}
