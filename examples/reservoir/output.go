package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// output writes the pictures, profiles and VTK files; gathering is
// collective, writing is rank 0's.
type output struct {
	cfg   *config
	s     *sim
	wl    *welge
	n     int // snapshots written
	files []string
	perm  []float64
}

func newOutput(cfg *config, s *sim, wl *welge) *output { return &output{cfg: cfg, s: s, wl: wl} }

// snapshot writes the saturation map (PNG) and, with -vtk, a VTK file at
// t_D. Every rank must call it.
func (o *output) snapshot(tD float64) error {
	if o.cfg.Out == "" {
		return nil
	}
	sat, err := o.s.gather(o.s.s)
	if err != nil {
		return err
	}
	var pres []float64
	if o.cfg.VTK {
		if pres, err = o.s.gather(o.s.p); err != nil {
			return err
		}
	}
	if o.s.t.rank() != 0 {
		return nil
	}
	if err := os.MkdirAll(o.cfg.Out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	name := filepath.Join(o.cfg.Out, fmt.Sprintf("saturation_%03d_pvi%.3f.png", o.n, tD))
	if err := o.satPlot(sat, tD, name); err != nil {
		return err
	}
	o.files = append(o.files, name)
	if o.cfg.VTK {
		perm, err := o.permField()
		if err != nil {
			return err
		}
		name := filepath.Join(o.cfg.Out, fmt.Sprintf("reservoir_%d.vtk", o.n))
		err = writeFile(name, func(w io.Writer) error {
			return writeVTK(w, o.cfg, tD, []vtkField{{"Sw", sat}, {"pressure_bar", scale(pres, 1/bar)}, {"kx_mD", perm}})
		})
		if err != nil {
			return err
		}
		o.files = append(o.files, name)
	}
	o.n++
	return nil
}

// permField is the global kx in mD, rebuilt once from the configuration
// on rank 0 (the rock is a pure function of the configuration).
func (o *output) permField() ([]float64, error) {
	if o.perm != nil {
		return o.perm, nil
	}
	whole := newBlock([3]int{o.cfg.NX, o.cfg.NY, o.cfg.NZ}, [3]int{1, 1, 1}, [3]int{})
	rk, err := loadRock(o.cfg, &whole)
	if err != nil {
		return nil, err
	}
	o.perm = scale(rk.kx, 1/milliDarcy)
	return o.perm, nil
}

func scale(a []float64, f float64) []float64 {
	out := make([]float64, len(a))
	for i, v := range a {
		out[i] = v * f
	}
	return out
}

// final writes the water-cut curve and the profile CSV (rank 0 only).
func (o *output) final(res *result) error {
	if o.cfg.Profile != "" {
		err := writeFile(o.cfg.Profile, func(w io.Writer) error {
			if _, err := fmt.Fprintln(w, "x_D,S"); err != nil {
				return err
			}
			for _, p := range res.Profile {
				if _, err := fmt.Fprintf(w, "%.6f,%.6f\n", p.XD, p.S); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		o.files = append(o.files, o.cfg.Profile)
	}
	if o.cfg.Out == "" {
		return nil
	}
	if err := os.MkdirAll(o.cfg.Out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}
	name := filepath.Join(o.cfg.Out, "watercut.png")
	if err := o.waterCutPlot(res, name); err != nil {
		return err
	}
	o.files = append(o.files, name)
	return nil
}

func writeFile(name string, fn func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := fn(w); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", name, err)
	}
	return f.Close()
}

// plane is a 2-D slice of a global field for the heat map.
type plane struct {
	nc, nr int
	dx, dy float64
	z      func(c, r int) float64
}

func (p plane) Dims() (int, int)   { return p.nc, p.nr }
func (p plane) Z(c, r int) float64 { return p.z(c, r) }
func (p plane) X(c int) float64    { return (float64(c) + 0.5) * p.dx }
func (p plane) Y(r int) float64    { return (float64(r) + 0.5) * p.dy }
func (p plane) Min() float64       { return 0 }
func (p plane) Max() float64       { return 1 }

// satPlot draws the saturation: a line against the analytic profile for a
// 1-D grid, a heat map of layer -layer (or the x-z section when ny = 1).
func (o *output) satPlot(sat []float64, tD float64, name string) error {
	cfg := o.cfg
	p := plot.New()
	if cfg.NY == 1 && cfg.NZ == 1 {
		p.Title.Text = fmt.Sprintf("Water saturation at %.3f PVI", tD)
		p.X.Label.Text = "x_D"
		p.Y.Label.Text = "S_w"
		p.Y.Min, p.Y.Max = 0, 1
		pts := make(plotter.XYs, cfg.NX)
		for i := range pts {
			pts[i].X, pts[i].Y = (float64(i)+0.5)/float64(cfg.NX), sat[i]
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return err
		}
		l.Color = color.RGBA{B: 200, A: 255}
		p.Add(l)
		p.Legend.Add("simulated", l)
		if o.wl != nil {
			ex := make(plotter.XYs, 1001)
			for i := range ex {
				x := float64(i) / 1000
				ex[i].X, ex[i].Y = x, o.wl.sat(x, tD)
			}
			le, err := plotter.NewLine(ex)
			if err != nil {
				return err
			}
			le.Color = color.RGBA{R: 200, A: 255}
			le.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			p.Add(le)
			p.Legend.Add("Buckley-Leverett (Welge)", le)
		}
		p.Legend.Top = true
		return p.Save(16*vg.Centimeter, 10*vg.Centimeter, name)
	}
	var pl plane
	if cfg.NY > 1 {
		k := cfg.Layer
		pl = plane{nc: cfg.NX, nr: cfg.NY, dx: cfg.DX, dy: cfg.DY,
			z: func(c, r int) float64 { return sat[c+cfg.NX*(r+cfg.NY*k)] }}
		p.Title.Text = fmt.Sprintf("Water saturation, layer %d, at %.3f PVI (blue 0, red 1)", k, tD)
		p.Y.Label.Text = "y (m)"
	} else {
		pl = plane{nc: cfg.NX, nr: cfg.NZ, dx: cfg.DX, dy: cfg.DZ,
			z: func(c, r int) float64 { return sat[c+cfg.NX*cfg.NY*r] }}
		p.Title.Text = fmt.Sprintf("Water saturation (x-z section) at %.3f PVI (blue 0, red 1)", tD)
		p.Y.Label.Text = "z (m)"
	}
	p.X.Label.Text = "x (m)"
	cm := moreland.SmoothBlueRed()
	cm.SetMin(0)
	cm.SetMax(1)
	h := plotter.NewHeatMap(pl, cm.Palette(255))
	h.Rasterized = true
	p.Add(h)
	w := 14 * vg.Centimeter
	ht := w * vg.Length(float64(pl.nr)*pl.dy/(float64(pl.nc)*pl.dx))
	ht = max(min(ht, 3*w), w/3) + 2*vg.Centimeter
	return p.Save(w+2*vg.Centimeter, ht, name)
}

// waterCutPlot draws the producers' water cut against PVI, with the
// analytic Buckley–Leverett curve for case bl.
func (o *output) waterCutPlot(res *result, name string) error {
	p := plot.New()
	p.Title.Text = "Water cut at the producers"
	p.X.Label.Text = "pore volumes injected"
	p.Y.Label.Text = "water cut"
	p.Y.Min, p.Y.Max = 0, 1
	pts := make(plotter.XYs, len(res.WaterCut))
	for i, w := range res.WaterCut {
		pts[i].X, pts[i].Y = w.TD, w.WC
	}
	l, err := plotter.NewLine(pts)
	if err != nil {
		return err
	}
	l.Color = color.RGBA{B: 200, A: 255}
	p.Add(l)
	p.Legend.Add("simulated", l)
	if o.wl != nil {
		ex := make(plotter.XYs, 0, 501)
		for i := range 501 {
			t := res.TD * float64(i) / 500
			ex = append(ex, plotter.XY{X: t, Y: o.wl.f.fw(o.wl.sat(1, t))})
		}
		le, err := plotter.NewLine(ex)
		if err != nil {
			return err
		}
		le.Color = color.RGBA{R: 200, A: 255}
		le.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		p.Add(le)
		p.Legend.Add("Buckley-Leverett (Welge)", le)
	}
	if !math.IsNaN(res.Breakthrough) {
		p.Title.Text += fmt.Sprintf(" (breakthrough %.3f PVI)", res.Breakthrough)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, name)
}

type vtkField struct {
	name string
	v    []float64
}

// writeVTK writes a legacy binary VTK file (big-endian, as the format
// requires) of the grid as STRUCTURED_POINTS with cell data; ParaView
// opens numbered series reservoir_0.vtk, reservoir_1.vtk, … as time steps.
func writeVTK(w io.Writer, cfg *config, tD float64, fields []vtkField) error {
	n := cfg.NX * cfg.NY * cfg.NZ
	if _, err := fmt.Fprintf(w, "# vtk DataFile Version 3.0\nmpx reservoir t_D=%.6f\nBINARY\nDATASET STRUCTURED_POINTS\nDIMENSIONS %d %d %d\nORIGIN 0 0 0\nSPACING %g %g %g\nCELL_DATA %d\n",
		tD, cfg.NX+1, cfg.NY+1, cfg.NZ+1, cfg.DX, cfg.DY, cfg.DZ, n); err != nil {
		return err
	}
	buf := make([]byte, 8*n)
	for _, f := range fields {
		if len(f.v) != n {
			return fmt.Errorf("VTK field %s has %d values for %d cells", f.name, len(f.v), n)
		}
		if _, err := fmt.Fprintf(w, "SCALARS %s double 1\nLOOKUP_TABLE default\n", f.name); err != nil {
			return err
		}
		for i, v := range f.v {
			binary.BigEndian.PutUint64(buf[8*i:], math.Float64bits(v))
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
		if _, err := io.WriteString(w, "\n"); err != nil {
			return err
		}
	}
	return nil
}
