package report

import (
	"fmt"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Series is one named set of bars in a Chart, a value per group.
type Series struct {
	Name   string
	Values []float64
}

// Chart is a grouped bar chart: one group per label, one bar per series.
type Chart struct {
	Title  string
	YLabel string
	Groups []string
	Series []Series
}

// WritePNG draws the chart into a PNG file at path.
func (c *Chart) WritePNG(path string) error {
	p := plot.New()
	p.Title.Text = c.Title
	p.Y.Label.Text = c.YLabel
	p.Y.Min = 0
	n := len(c.Series)
	w := vg.Points(60 / float64(max(n, 1)))
	for i, s := range c.Series {
		if len(s.Values) != len(c.Groups) {
			return fmt.Errorf("report: series %q has %d values for %d groups", s.Name, len(s.Values), len(c.Groups))
		}
		bars, err := plotter.NewBarChart(plotter.Values(s.Values), w)
		if err != nil {
			return fmt.Errorf("report: series %q: %w", s.Name, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = w * vg.Length(float64(i)-float64(n-1)/2)
		p.Add(bars)
		p.Legend.Add(s.Name, bars)
	}
	p.Legend.Top = true
	p.NominalX(c.Groups...)
	width := vg.Length(max(6, 1.2*float64(len(c.Groups)))) * vg.Inch
	return p.Save(width, 4*vg.Inch, path)
}
