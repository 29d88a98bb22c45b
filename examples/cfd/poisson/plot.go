package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotConvergence draws the max nodal error against h on log-log axes, with
// the table's exact discrete errors and a slope-2 guide.
func plotConvergence(path string, res result) error {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("3-D Poisson, 7-point Laplacian, %d ranks", res.ranks)
	p.X.Label.Text, p.Y.Label.Text = "h", "max nodal error"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	var got, want, guide plotter.XYs
	for i, lv := range res.levels {
		h := 1 / float64(lv.n)
		got = append(got, plotter.XY{X: h, Y: lv.maxErr})
		if e := res.want[i]; e != nil {
			want = append(want, plotter.XY{X: h, Y: e.maxErr})
		}
	}
	h0, e0 := got[0].X, got[0].Y
	for _, pt := range got {
		guide = append(guide, plotter.XY{X: pt.X, Y: 2 * e0 * (pt.X / h0) * (pt.X / h0)})
	}
	l, s, err := plotter.NewLinePoints(got)
	if err != nil {
		return fmt.Errorf("convergence plot: %w", err)
	}
	l.Color, s.Color = color.RGBA{B: 200, A: 255}, color.RGBA{B: 200, A: 255}
	s.Shape = draw.CircleGlyph{}
	p.Add(plotter.NewGrid(), l, s)
	p.Legend.Add("computed", l, s)
	if len(want) > 0 {
		ws, err := plotter.NewScatter(want)
		if err != nil {
			return fmt.Errorf("convergence plot: %w", err)
		}
		ws.Shape = draw.CrossGlyph{}
		ws.Radius = vg.Points(6)
		ws.Color = color.RGBA{R: 200, A: 255}
		p.Add(ws)
		p.Legend.Add("exact discrete error (table)", ws)
	}
	gl, err := plotter.NewLine(guide)
	if err != nil {
		return fmt.Errorf("convergence plot: %w", err)
	}
	gl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	gl.Color = color.Gray{Y: 100}
	p.Add(gl)
	p.Legend.Add("slope 2", gl)
	p.Legend.Top, p.Legend.Left = true, true
	if err := p.Save(5*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("convergence plot: %w", err)
	}
	return nil
}
