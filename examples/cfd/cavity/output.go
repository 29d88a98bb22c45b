package main

import (
	"bufio"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// writeOutputs writes cavity.vtk, cavity_velocity.png and, when a Ghia
// comparison exists, cavity_profiles.png into dir.
func writeOutputs(dir string, r *result, c *comparison) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	if err := writeVTK(filepath.Join(dir, "cavity.vtk"), r); err != nil {
		return err
	}
	if err := plotVelocity(filepath.Join(dir, "cavity_velocity.png"), r); err != nil {
		return err
	}
	if c != nil {
		return plotProfiles(filepath.Join(dir, "cavity_profiles.png"), r, c)
	}
	return nil
}

// writeVTK writes a legacy ASCII VTK structured-points file (ParaView,
// VisIt): streamfunction, vorticity and velocity at the nodes.
func writeVTK(path string, r *result) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("vtk: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("vtk: %w", cerr)
		}
	}()
	w := bufio.NewWriter(f)
	h := 1 / float64(r.n-1)
	fmt.Fprintf(w, "# vtk DataFile Version 3.0\nlid-driven cavity Re %g, %d x %d nodes\nASCII\n", r.re, r.n, r.n)
	fmt.Fprintf(w, "DATASET STRUCTURED_POINTS\nDIMENSIONS %d %d 1\nORIGIN 0 0 0\nSPACING %g %g 1\n", r.n, r.n, h, h)
	fmt.Fprintf(w, "POINT_DATA %d\n", r.n*r.n)
	for _, s := range []struct {
		name string
		f    []float64
	}{{"streamfunction", r.psi}, {"vorticity", r.omega}} {
		fmt.Fprintf(w, "SCALARS %s double 1\nLOOKUP_TABLE default\n", s.name)
		for _, x := range s.f {
			fmt.Fprintf(w, "%.10g\n", x)
		}
	}
	fmt.Fprintf(w, "VECTORS velocity double\n")
	for i := range r.u {
		fmt.Fprintf(w, "%.10g %.10g 0\n", r.u[i], r.v[i])
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("vtk: %w", err)
	}
	return nil
}

// nodeGrid presents a global nodal field to gonum/plot.
type nodeGrid struct {
	n int
	z func(i, j int) float64
}

func (g nodeGrid) Dims() (c, r int)   { return g.n, g.n }
func (g nodeGrid) Z(c, r int) float64 { return g.z(c, r) }
func (g nodeGrid) X(c int) float64    { return float64(c) / float64(g.n-1) }
func (g nodeGrid) Y(r int) float64    { return float64(r) / float64(g.n-1) }
func (g nodeGrid) Min() (m float64)   { return g.fold(math.Min, math.Inf(1)) }
func (g nodeGrid) Max() (m float64)   { return g.fold(math.Max, math.Inf(-1)) }
func (g nodeGrid) fold(f func(a, b float64) float64, m float64) float64 {
	for j := range g.n {
		for i := range g.n {
			m = f(m, g.z(i, j))
		}
	}
	return m
}

// plotVelocity draws the speed as a heat map under streamlines, which in two
// dimensions are the contours of the streamfunction. The levels are Ghia's
// (Table III): the primary vortex and the weak corner eddies.
func plotVelocity(path string, r *result) error {
	speed := nodeGrid{r.n, func(i, j int) float64 { return math.Hypot(r.u[r.at(i, j)], r.v[r.at(i, j)]) }}
	psi := nodeGrid{r.n, func(i, j int) float64 { return r.psi[r.at(i, j)] }}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Lid-driven cavity, Re %g, %d×%d: |u| and streamlines", r.re, r.n, r.n)
	p.X.Label.Text, p.Y.Label.Text = "x", "y"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 1, 0, 1
	cm := moreland.ExtendedBlackBody()
	cm.SetMin(0)
	cm.SetMax(1)
	heat := plotter.NewHeatMap(speed, cm.Palette(255))
	heat.Min, heat.Max = 0, 1
	heat.Rasterized = true
	p.Add(heat)
	levels := []float64{-0.1175, -0.115, -0.11, -0.1, -0.09, -0.07, -0.05, -0.03, -0.01, -1e-4, -1e-5, -1e-7, -1e-10,
		1e-8, 1e-7, 1e-6, 1e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1.5e-3, 3e-3}
	cont := plotter.NewContour(psi, levels, nil)
	cont.LineStyles = []draw.LineStyle{{Color: color.RGBA{R: 80, G: 160, B: 255, A: 255}, Width: vg.Points(0.8)}}
	p.Add(cont)
	bar := &plotter.ColorBar{ColorMap: cm}
	pb := plot.New()
	pb.Title.Text = "|u|"
	pb.HideY()
	pb.X.Padding = 0
	pb.Add(bar)

	img := vgimg.New(vg.Points(560), vg.Points(640))
	dc := draw.New(img)
	top := draw.Crop(dc, 0, 0, vg.Points(70), 0)
	bottom := draw.Crop(dc, 0, 0, 0, -vg.Points(585))
	p.Draw(top)
	pb.Draw(bottom)
	return savePNG(path, img)
}

// plotProfiles draws u on the vertical and v on the horizontal centreline
// over Ghia's points.
func plotProfiles(path string, r *result, c *comparison) error {
	mid := (r.n - 1) / 2
	var plots [1][2]*plot.Plot
	for k, d := range []deviation{c.u, c.v} {
		line := make(plotter.XYs, r.n)
		for j := range r.n {
			s := float64(j) / float64(r.n-1)
			if d.comp == "u" {
				line[j] = plotter.XY{X: r.u[r.at(mid, j)], Y: s}
			} else {
				line[j] = plotter.XY{X: s, Y: r.v[r.at(j, mid)]}
			}
		}
		ref := make(plotter.XYs, len(d.reference))
		for i, pt := range d.reference {
			ref[i] = plotter.XY{X: pt.val, Y: pt.coord}
			if d.comp == "v" {
				ref[i] = plotter.XY{X: pt.coord, Y: pt.val}
			}
		}
		p := plot.New()
		if d.comp == "u" {
			p.Title.Text = fmt.Sprintf("u on x = 0.5 (Re %g)", r.re)
			p.X.Label.Text, p.Y.Label.Text = "u", "y"
		} else {
			p.Title.Text = fmt.Sprintf("v on y = 0.5 (Re %g)", r.re)
			p.X.Label.Text, p.Y.Label.Text = "x", "v"
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return fmt.Errorf("profile plot: %w", err)
		}
		l.Color = color.RGBA{B: 200, A: 255}
		s, err := plotter.NewScatter(ref)
		if err != nil {
			return fmt.Errorf("profile plot: %w", err)
		}
		s.Shape = draw.CircleGlyph{}
		s.Color = color.RGBA{R: 200, A: 255}
		p.Add(plotter.NewGrid(), l, s)
		p.Legend.Add(fmt.Sprintf("%d×%d, %d ranks", r.n, r.n, r.ranks), l)
		p.Legend.Add("Ghia et al. 1982", s)
		p.Legend.Top = d.comp == "u" // the empty corners
		p.Legend.Left = true
		plots[0][k] = p
	}
	img := vgimg.New(vg.Points(900), vg.Points(420))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Points(20), PadTop: vg.Points(5), PadBottom: vg.Points(5), PadLeft: vg.Points(5), PadRight: vg.Points(5)}
	canv := plot.Align([][]*plot.Plot{plots[0][:]}, tiles, dc)
	plots[0][0].Draw(canv[0][0])
	plots[0][1].Draw(canv[0][1])
	return savePNG(path, img)
}

func savePNG(path string, img *vgimg.Canvas) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("png: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("png: %w", cerr)
		}
	}()
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		return fmt.Errorf("png %s: %w", path, err)
	}
	return nil
}
