package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

var (
	white   = color.RGBA{255, 255, 255, 255}
	ink     = color.RGBA{30, 30, 30, 255}
	grid    = color.RGBA{225, 225, 225, 255}
	palette = []color.RGBA{
		{90, 90, 90, 255},    // the reference (Kafka) first: grey
		{31, 119, 180, 255},  // blue
		{255, 127, 14, 255},  // orange
		{44, 160, 44, 255},   // green
		{148, 103, 189, 255}, // purple
		{214, 39, 40, 255},   // red
	}
)

// canvas draws bars, lines and basicfont text on an RGBA image.
type canvas struct{ img *image.RGBA }

func (c canvas) rect(x0, y0, x1, y1 int, col color.Color) {
	draw.Draw(c.img, image.Rect(x0, y0, x1, y1), image.NewUniform(col), image.Point{}, draw.Src)
}

func (c canvas) hline(x0, x1, y int, col color.Color, dashed bool) {
	for x := x0; x < x1; x++ {
		if !dashed || (x/6)%2 == 0 {
			c.img.Set(x, y, col)
		}
	}
}

// text draws s with its baseline at y; align is -1 left, 0 centre, 1 right.
func (c canvas) text(x, y int, s string, col color.Color, align int) {
	w := font.MeasureString(basicfont.Face7x13, s).Ceil()
	switch align {
	case 0:
		x -= w / 2
	case 1:
		x -= w
	}
	d := font.Drawer{Dst: c.img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// group is one cluster of bars: one value per system (NaN = none).
type group struct {
	label  string
	values []float64
}

// panel is a bar chart in the box (x0,y0)-(x1,y1) of the canvas.
type panel struct {
	title          string
	x0, y0, x1, y1 int
	log            bool    // log10 axis (latencies span decades)
	refLine        float64 // dashed horizontal line, 0 for none
	refLabel       string
}

func (p panel) draw(c canvas, groups []group) {
	maxV, minV := 0.0, math.Inf(1)
	for _, g := range groups {
		for _, v := range g.values {
			if !math.IsNaN(v) {
				maxV = max(maxV, v)
				if v > 0 {
					minV = min(minV, v)
				}
			}
		}
	}
	maxV = max(maxV, p.refLine)
	c.text((p.x0+p.x1)/2, p.y0-8, p.title, ink, 0)
	// Axis: linear from 0 to a round maximum, or log10 from 1 to a power of 10.
	lo, hi := 0.0, 4*niceCeil(maxV/4)
	if p.log {
		// Down to 0.01 ms, so sub-millisecond figures still show.
		lo = math.Max(-2, math.Min(0, math.Floor(math.Log10(minV))))
		hi = math.Max(lo+1, math.Ceil(math.Log10(math.Max(maxV, 1.01))))
	}
	y := func(v float64) int {
		if p.log {
			v = math.Log10(math.Max(v, math.Pow(10, lo)))
		}
		return p.y1 - int(float64(p.y1-p.y0)*(v-lo)/(hi-lo))
	}
	var ticks []float64
	if p.log {
		for e := lo; e <= hi; e++ {
			ticks = append(ticks, math.Pow(10, e))
		}
	} else {
		for i := range 5 {
			ticks = append(ticks, hi*float64(i)/4)
		}
	}
	for _, t := range ticks {
		ty := y(t)
		c.hline(p.x0, p.x1, ty, grid, false)
		c.text(p.x0-4, ty+4, fmt.Sprintf("%g", t), ink, 1)
	}
	c.rect(p.x0, p.y0, p.x0+1, p.y1+1, ink)
	c.hline(p.x0, p.x1, p.y1, ink, false)

	gw := (p.x1 - p.x0) / max(1, len(groups))
	for gi, g := range groups {
		gx := p.x0 + gi*gw
		n := len(g.values)
		bw := max(2, (gw-16)/max(1, n))
		for i, v := range g.values {
			if math.IsNaN(v) {
				continue
			}
			bx := gx + 8 + i*bw
			by := y(v)
			c.rect(bx+1, by, bx+bw-1, p.y1, palette[i%len(palette)])
			if bw >= 14 {
				c.text(bx+bw/2, by-3, trimNum(v), ink, 0)
			}
		}
		c.text(gx+gw/2, p.y1+16, g.label, ink, 0)
	}
	if p.refLine > 0 {
		ry := y(p.refLine)
		c.hline(p.x0, p.x1, ry, palette[len(palette)-1], true)
		w := font.MeasureString(basicfont.Face7x13, p.refLabel).Ceil()
		c.rect(p.x1-w-6, ry-16, p.x1, ry-2, white)
		c.text(p.x1-3, ry-5, p.refLabel, palette[len(palette)-1], 1)
	}
}

// drawChart is the report's picture: latency percentiles (log scale) and
// throughput, one colour per system, the raw MinIO PUT bandwidth as a line.
func drawChart(sums []*summary, figs []figure) image.Image {
	const W, H = 1200, 560
	c := canvas{image.NewRGBA(image.Rect(0, 0, W, H))}
	c.rect(0, 0, W, H, white)
	vals := func(id string) []float64 {
		out := make([]float64, len(sums))
		for i, s := range sums {
			v, ok := s.vals[id]
			if !ok || (s.r.Kind == KindKafka && isNoKafka(figs, id)) {
				v = math.NaN()
			}
			out[i] = v
		}
		return out
	}
	rate := float64(sums[0].r.Settings.RateBytesPerSec) / (1 << 20)
	c.text(W/2, 20, fmt.Sprintf("Wisp vs Apache Kafka: median of %d run(s) per figure", sums[0].runs), ink, 0)
	panel{title: fmt.Sprintf("latency at %.0f MiB/s, ms (log scale)", rate), x0: 70, y0: 60, x1: 640, y1: 460, log: true}.draw(c, []group{
		{"e2e p50", vals("e2e50")}, {"e2e p99", vals("e2e99")}, {"e2e p999", vals("e2e999")},
		{"produce p99", vals("w2p99")}, {fmt.Sprintf("p99 %dp", sums[0].r.Settings.ManyPartitions), vals("w4p99")},
	})
	raw := math.NaN()
	for _, s := range sums {
		if v, ok := s.vals["rawbw"]; ok && (math.IsNaN(raw) || v > raw) {
			raw = v
		}
	}
	tp := panel{title: "throughput, MiB/s", x0: 730, y0: 60, x1: 1170, y1: 460}
	if !math.IsNaN(raw) {
		tp.refLine, tp.refLabel = raw, fmt.Sprintf("raw MinIO PUT %.0f", raw)
	}
	tp.draw(c, []group{{"produce (1)", vals("w1")}, {"catch-up (3)", vals("w3")}})

	// Legend: one swatch per system.
	x := 70
	for i, s := range sums {
		col := palette[i%len(palette)]
		c.rect(x, 505, x+14, 519, col)
		c.text(x+20, 517, s.r.Label, ink, -1)
		x += 40 + font.MeasureString(basicfont.Face7x13, s.r.Label).Ceil()
	}
	return c.img
}

func isNoKafka(figs []figure, id string) bool {
	for _, f := range figs {
		if f.id == id {
			return f.noKafka
		}
	}
	return false
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// trimNum labels a bar in at most four characters.
func trimNum(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}
