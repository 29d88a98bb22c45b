package main

import (
	_ "embed"
	"encoding/csv"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Ghia, Ghia & Shin (1982), J. Comput. Phys. 48:387-411, Tables I and II,
// copied from ../shared/verif with their header comments (sources, caveats).
var (
	//go:embed testdata/ghia1982_u_vertical_centreline.csv
	ghiaU string
	//go:embed testdata/ghia1982_v_horizontal_centreline.csv
	ghiaV string
)

// ghiaPoint is one tabulated value: its node on Ghia's 129-point grid, the
// coordinate along the centreline, and the velocity component.
type ghiaPoint struct {
	node  int
	coord float64
	val   float64
}

// misprints are points whose tabulated value is known to be unreliable (see
// the CSV headers and verif/README.md); they are plotted but not compared.
var misprints = []struct {
	comp string
	re   int
	node int
}{
	{"v", 400, 117}, // x=0.9063, -0.23827 breaks the smooth profile
	{"u", 3200, 59}, // y=0.4531, printed -0.86636, file holds a correction
}

func isMisprint(comp string, re, node int) bool {
	for _, m := range misprints {
		if m.comp == comp && m.re == re && m.node == node {
			return true
		}
	}
	return false
}

// ghiaTable parses one embedded table and returns the column for Re, or
// false when Ghia has no such Reynolds number.
func ghiaTable(text, comp string, re float64) ([]ghiaPoint, bool, error) {
	var lines []string
	for _, ln := range strings.Split(text, "\n") {
		if ln = strings.TrimSpace(ln); ln != "" && !strings.HasPrefix(ln, "#") {
			lines = append(lines, ln)
		}
	}
	rows, err := csv.NewReader(strings.NewReader(strings.Join(lines, "\n"))).ReadAll()
	if err != nil {
		return nil, false, fmt.Errorf("ghia %s table: %w", comp, err)
	}
	if len(rows) < 2 {
		return nil, false, fmt.Errorf("ghia %s table: no data rows", comp)
	}
	want := fmt.Sprintf("%s_Re%d", comp, int(re))
	col := -1
	for c, name := range rows[0] {
		if name == want && float64(int(re)) == re {
			col = c
		}
	}
	if col < 2 {
		return nil, false, nil
	}
	pts := make([]ghiaPoint, 0, len(rows)-1)
	for _, row := range rows[1:] {
		node, err1 := strconv.Atoi(row[0])
		coord, err2 := strconv.ParseFloat(row[1], 64)
		val, err3 := strconv.ParseFloat(row[col], 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, false, fmt.Errorf("ghia %s table: bad row %q", comp, row)
		}
		pts = append(pts, ghiaPoint{node, coord, val})
	}
	return pts, true, nil
}

// deviation summarises the comparison of one profile with Ghia's points.
type deviation struct {
	comp      string
	points    int     // points compared (walls and misprints excluded)
	max, rms  float64 // absolute deviation, in units of the lid speed
	worstAt   float64 // coordinate of the largest deviation
	reference []ghiaPoint
}

// comparison is the check of both centreline profiles.
type comparison struct {
	u, v     deviation
	max, rms float64 // over both profiles
}

// compareGhia compares the centreline profiles of r with Ghia's tables at
// the same Reynolds number. Ghia's nodes lie on a 129-point grid; other grids
// are interpolated by cubic Lagrange polynomials through the four nearest
// nodes, which keeps the comparison second-order accurate.
func compareGhia(r *result) (*comparison, bool, error) {
	if (r.n-1)%2 != 0 {
		return nil, false, fmt.Errorf("centrelines need an even number of intervals, have %d", r.n-1)
	}
	mid := (r.n - 1) / 2
	uLine, vLine := make([]float64, r.n), make([]float64, r.n)
	for j := range r.n {
		uLine[j] = r.u[r.at(mid, j)]
		vLine[j] = r.v[r.at(j, mid)]
	}
	var c comparison
	var ss float64
	var cnt int
	for _, side := range []struct {
		comp string
		text string
		line []float64
		dev  *deviation
	}{{"u", ghiaU, uLine, &c.u}, {"v", ghiaV, vLine, &c.v}} {
		pts, ok, err := ghiaTable(side.text, side.comp, r.re)
		if err != nil || !ok {
			return nil, ok, err
		}
		d := side.dev
		d.comp, d.reference = side.comp, pts
		var dss float64
		for _, pt := range pts {
			if pt.node == 1 || pt.node == 129 || isMisprint(side.comp, int(r.re), pt.node) {
				continue
			}
			x := float64(pt.node-1) / 128
			e := math.Abs(interp(side.line, x) - pt.val)
			if e > d.max {
				d.max, d.worstAt = e, x
			}
			dss += e * e
			d.points++
		}
		d.rms = math.Sqrt(dss / float64(d.points))
		ss += dss
		cnt += d.points
	}
	c.max = math.Max(c.u.max, c.v.max)
	c.rms = math.Sqrt(ss / float64(cnt))
	return &c, true, nil
}

// interp evaluates the nodal profile f (nodes at j/(len-1)) at x by cubic
// Lagrange interpolation; at a node it returns the nodal value.
func interp(f []float64, x float64) float64 {
	n := len(f) - 1
	s := x * float64(n)
	j := int(math.Round(s))
	if math.Abs(s-float64(j)) < 1e-9 {
		return f[j]
	}
	j0 := min(max(int(math.Floor(s))-1, 0), n-3)
	var sum float64
	for a := j0; a < j0+4; a++ {
		w := 1.0
		for b := j0; b < j0+4; b++ {
			if b != a {
				w *= (s - float64(b)) / float64(a-b)
			}
		}
		sum += w * f[a]
	}
	return sum
}
