package bench

import (
	"fmt"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one curve: a name for the legend and (size, value) points.
type Series struct {
	Name   string
	Unit   string
	Points plotter.XYs
}

// ResultSeries is r's curve, named name (or "impl test level" when empty).
func ResultSeries(r *Result, name string) Series {
	if name == "" {
		name = r.Impl + " " + r.Test
		if r.Level == LevelTransport {
			name += " (transport)"
		}
		if len(r.Meta.Transports) > 0 {
			name += " [" + strings.Join(r.Meta.Transports, ",") + "]"
		}
	}
	s := Series{Name: name, Unit: r.Unit}
	for _, row := range r.Rows {
		s.Points = append(s.Points, plotter.XY{X: float64(row.Size), Y: row.Value})
	}
	return s
}

// Series are the comparison's two median curves.
func (c *Comparison) Series() []Series {
	tr := ""
	if c.Transport != "" {
		tr = " [" + c.Transport + "]"
	}
	mpx := Series{Name: "mpx " + c.Test + tr, Unit: c.Unit}
	mpi := Series{Name: c.MPIName + " " + c.Test + tr, Unit: c.Unit}
	for _, row := range c.Rows {
		mpx.Points = append(mpx.Points, plotter.XY{X: float64(row.Size), Y: row.MPX})
		mpi.Points = append(mpi.Points, plotter.XY{X: float64(row.Size), Y: row.MPI})
	}
	return []Series{mpx, mpi}
}

// FileSeries are the curves of a result file.
func FileSeries(f File) []Series {
	if f.Comparison != nil {
		return f.Comparison.Series()
	}
	return []Series{ResultSeries(f.Result, "")}
}

// Plot draws the series as log-log curves, message size against the
// figure, into path; its extension (.svg, .png, .pdf) picks the format.
// Points that a log scale cannot show (size or value zero) are left out.
func Plot(path, title string, series []Series) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" && ext != ".pdf" {
		return fmt.Errorf("plot %s: want a .svg, .png or .pdf file", path)
	}
	if len(series) == 0 {
		return fmt.Errorf("plot %s: no results to draw", path)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "Message size (bytes)"
	unit := series[0].Unit
	p.Y.Label.Text = unit
	switch unit {
	case "us":
		p.Y.Label.Text = "Latency (us)"
	case "MB/s":
		p.Y.Label.Text = "Bandwidth (MB/s)"
	}
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = sizeTicks{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, unit == "us"
	p.Add(plotter.NewGrid())
	for i, s := range series {
		if s.Unit != unit {
			return fmt.Errorf("plot %s: cannot draw %s (%s) on one axis with %s (%s)", path, s.Name, s.Unit, series[0].Name, unit)
		}
		var pts plotter.XYs
		for _, pt := range s.Points {
			if pt.X > 0 && pt.Y > 0 {
				pts = append(pts, pt)
			}
		}
		if len(pts) == 0 {
			return fmt.Errorf("plot %s: %s has no point with a positive size and value", path, s.Name)
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("plot %s: %s: %w", path, s.Name, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		points.Color = plotutil.Color(i)
		points.Shape = plotutil.Shape(i)
		p.Add(line, points)
		p.Legend.Add(s.Name, line, points)
	}
	if err := p.Save(8*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("plot %s: %w", path, err)
	}
	return nil
}

// sizeTicks marks message sizes at powers of four, labelled as OSU users
// read them: 1, 4, 16, 64, 256, 1K, 4K, ... 1M.
type sizeTicks struct{}

// Ticks implements plot.Ticker.
func (sizeTicks) Ticks(min, max float64) []plot.Tick {
	var ticks []plot.Tick
	for v := 1.0; v <= max; v *= 4 {
		if v >= min {
			ticks = append(ticks, plot.Tick{Value: v, Label: sizeLabel(int64(v))})
		}
	}
	return ticks
}

func sizeLabel(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dG", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dM", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dK", n>>10)
	}
	return fmt.Sprint(n)
}
