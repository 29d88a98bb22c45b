package main

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
)

// The exact discrete error of the 5-/7-point Laplacian for the manufactured
// solution, copied from ../shared/verif with its header comment.
//
//go:embed testdata/poisson_mms_expected.csv
var mmsCSV string

// expected is one row of the table for the 3-D stencil.
type expected struct {
	n      int
	ratio  float64 // u_h / u at every node
	maxErr float64 // max nodal error (n even)
}

// expectedTable returns the 3-D rows keyed by n.
func expectedTable() (map[int]expected, error) {
	var lines []string
	for _, ln := range strings.Split(mmsCSV, "\n") {
		if ln = strings.TrimSpace(ln); ln != "" && !strings.HasPrefix(ln, "#") {
			lines = append(lines, ln)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(strings.Join(lines, "\n"))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("mms table: %w", err)
	}
	want := []string{"dim", "N", "h", "ratio_uh_over_u", "max_nodal_error_N_even"}
	if len(rows) < 2 || len(rows[0]) < len(want) {
		return nil, fmt.Errorf("mms table: want columns %v, have %v", want, rows[0])
	}
	for i, name := range want {
		if rows[0][i] != name {
			return nil, fmt.Errorf("mms table: column %d is %q, want %q", i, rows[0][i], name)
		}
	}
	out := map[int]expected{}
	for _, row := range rows[1:] {
		if row[0] != "3" {
			continue
		}
		n, err1 := strconv.Atoi(row[1])
		ratio, err2 := strconv.ParseFloat(row[3], 64)
		e, err3 := strconv.ParseFloat(row[4], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("mms table: bad row %q", row)
		}
		out[n] = expected{n, ratio, e}
	}
	return out, nil
}
