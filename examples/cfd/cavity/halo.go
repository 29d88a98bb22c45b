package main

// Message tags name the direction a halo message travels.
const (
	tagEast = 1 + iota
	tagWest
	tagNorth
	tagSouth
	tagNE
	tagNW
	tagSE
	tagSW
)

// halo holds the buffers of one grid's halo exchange. Rows are contiguous
// and travel straight from and into the field; columns are packed.
type halo struct {
	g                          grid
	sendW, sendE, recvW, recvE []float64
	corner                     [4]float64 // received from sw, se, nw, ne
	reqs                       []request
}

func newHalo(g grid) *halo {
	return &halo{
		g:     g,
		sendW: make([]float64, g.ny), sendE: make([]float64, g.ny),
		recvW: make([]float64, g.ny), recvE: make([]float64, g.ny),
		reqs: make([]request, 0, 8),
	}
}

func (h *halo) row(f []float64, k int) []float64 {
	return f[h.g.at(0, k) : h.g.at(0, k)+h.g.nx]
}

// startX posts the east-west exchange of f's owned edge columns.
func (h *halo) startX(p *par, f []float64) error {
	g := h.g
	for k := 0; k < g.ny; k++ {
		h.sendW[k] = f[g.at(1, k)]
		h.sendE[k] = f[g.at(g.mx, k)]
	}
	return h.post(p,
		msg{h.recvW, p.west, tagEast, false}, msg{h.recvE, p.east, tagWest, false},
		msg{h.sendW, p.west, tagWest, true}, msg{h.sendE, p.east, tagEast, true})
}

// startY posts the north-south exchange of f's owned edge rows. Rows are
// sent full width, straight from the field; their end values (corners) may
// be stale and only exchangeCorners makes them right.
func (h *halo) startY(p *par, f []float64) error {
	g := h.g
	return h.post(p,
		msg{h.row(f, 0), p.south, tagNorth, false}, msg{h.row(f, g.my+1), p.north, tagSouth, false},
		msg{h.row(f, 1), p.south, tagSouth, true}, msg{h.row(f, g.my), p.north, tagNorth, true})
}

type msg struct {
	buf  []float64
	peer int
	tag  int
	send bool
}

func (h *halo) post(p *par, ms ...msg) error {
	for _, m := range ms {
		if m.peer == procNull {
			continue
		}
		var r request
		var err error
		if m.send {
			r, err = p.isend(m.buf, m.peer, m.tag)
		} else {
			r, err = p.irecv(m.buf, m.peer, m.tag)
		}
		if err != nil {
			return err
		}
		h.reqs = append(h.reqs, r)
	}
	return nil
}

// finish waits for everything posted and unpacks received columns.
func (h *halo) finish(p *par, f []float64) error {
	err := p.waitall(h.reqs)
	h.reqs = h.reqs[:0]
	if err != nil {
		return err
	}
	g := h.g
	for k := 0; k < g.ny; k++ {
		if p.west != procNull {
			f[g.at(0, k)] = h.recvW[k]
		}
		if p.east != procNull {
			f[g.at(g.mx+1, k)] = h.recvE[k]
		}
	}
	return nil
}

// start posts the whole face exchange at once (corners not needed by the
// five-point stencils); finish completes it.
func (h *halo) start(p *par, f []float64) error {
	if err := h.startX(p, f); err != nil {
		return err
	}
	return h.startY(p, f)
}

// exchangeCorners is a blocking exchange that fills the corner halos too,
// in one round: faces to the four neighbours, single corner values to the
// four diagonal ones.
func (h *halo) exchangeCorners(p *par, f []float64) error {
	g := h.g
	if err := h.start(p, f); err != nil {
		return err
	}
	var ms []msg
	for i, c := range []struct {
		peer, l, k, tagOut, tagIn int
	}{
		{p.sw, 1, 1, tagSW, tagNE}, {p.se, g.mx, 1, tagSE, tagNW},
		{p.nw, 1, g.my, tagNW, tagSE}, {p.ne, g.mx, g.my, tagNE, tagSW},
	} {
		at := g.at(c.l, c.k)
		ms = append(ms, msg{h.corner[i : i+1], c.peer, c.tagIn, false}, msg{f[at : at+1], c.peer, c.tagOut, true})
	}
	if err := h.post(p, ms...); err != nil {
		return err
	}
	if err := h.finish(p, f); err != nil {
		return err
	}
	// After the faces, which carry stale corners.
	for i, c := range []struct{ peer, l, k int }{{p.sw, 0, 0}, {p.se, g.mx + 1, 0}, {p.nw, 0, g.my + 1}, {p.ne, g.mx + 1, g.my + 1}} {
		if c.peer != procNull {
			f[g.at(c.l, c.k)] = h.corner[i]
		}
	}
	return nil
}

// exchange is a blocking face exchange.
func (h *halo) exchange(p *par, f []float64) error {
	if err := h.start(p, f); err != nil {
		return err
	}
	return h.finish(p, f)
}

// overlap runs a stencil kernel over the update range of g with the halo
// exchange of in hidden behind the inner part: post the exchange, compute
// the nodes that read no halo, wait, compute the border strips.
func (h *halo) overlap(p *par, in []float64, kernel func(rect)) error {
	if err := h.start(p, in); err != nil {
		return err
	}
	inner, border := h.g.split()
	if !inner.empty() {
		kernel(inner)
	}
	if err := h.finish(p, in); err != nil {
		return err
	}
	for _, r := range border {
		kernel(r)
	}
	return nil
}
