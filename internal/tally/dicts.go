package tally

import (
	"errors"

	"github.com/citygrid/citygrid/internal/grid"
)

// dicts number the codes the entries name as they are first seen; the
// numbering only grows. Guarded by Tally.dictMu.
type dicts struct {
	cats, depts, cells, comms, towns dict
	places                           map[string]uint16
	placeCell, placeComm, placeTown  []uint16
}

type dict struct {
	ids   map[string]int
	codes []string
}

func (d *dict) id(s string, limit int) (int, error) {
	if i, ok := d.ids[s]; ok {
		return i, nil
	}
	if len(d.codes) >= limit {
		return 0, errTooMany
	}
	i := len(d.codes)
	d.ids[s] = i
	d.codes = append(d.codes, s)
	return i, nil
}

var errTooMany = errors.New("tally: more categories, departments or places than the read model numbers")

func newDicts() dicts {
	mk := func() dict { return dict{ids: map[string]int{}} }
	d := dicts{cats: mk(), depts: mk(), cells: mk(), comms: mk(), towns: mk(), places: map[string]uint16{}}
	d.cats.codes = []string{""} // category 0: no incident
	return d
}

// dictView is a read-only view of the numbering.
type dictView struct {
	cats, depts, cells, comms, towns []string
	placeCell, placeComm, placeTown  []uint16
}

func (d *dicts) view() dictView {
	return dictView{cats: d.cats.codes, depts: d.depts.codes, cells: d.cells.codes, comms: d.comms.codes, towns: d.towns.codes,
		placeCell: d.placeCell, placeComm: d.placeComm, placeTown: d.placeTown}
}

// encoder turns records into entries through its own caches, taking the
// shared numbering's lock once per code new to it.
type encoder struct {
	t      *Tally
	cats   map[string]uint8
	depts  map[string]uint8
	places map[string]uint16
	buf    []byte
}

func (t *Tally) newEncoder() *encoder {
	return &encoder{t: t, cats: map[string]uint8{}, depts: map[string]uint8{}, places: map[string]uint16{}}
}

func (e *encoder) entry(r *grid.StatsRecord) (entry, error) {
	var out entry
	var err error
	if out.occ, err = secs(r.OccurredAt); err != nil {
		return out, err
	}
	cat, ok := e.cats[string(r.Category)]
	if !ok {
		e.t.dictMu.Lock()
		i, err := e.t.d.cats.id(string(r.Category), 256)
		e.t.dictMu.Unlock()
		if err != nil {
			return out, err
		}
		cat = uint8(i)
		e.cats[string(r.Category)] = cat
	}
	dept, ok := e.depts[string(r.Department)]
	if !ok {
		e.t.dictMu.Lock()
		i, err := e.t.d.depts.id(string(r.Department), 256)
		e.t.dictMu.Unlock()
		if err != nil {
			return out, err
		}
		dept = uint8(i)
		e.depts[string(r.Department)] = dept
	}
	e.buf = append(append(append(append(append(e.buf[:0], r.Cell...), 0), r.Community...), 0), r.Town...)
	place, ok := e.places[string(e.buf)]
	if !ok {
		key := string(e.buf)
		e.t.dictMu.Lock()
		place, err = e.t.d.place(string(r.Cell), string(r.Community), string(r.Town), key)
		e.t.dictMu.Unlock()
		if err != nil {
			return out, err
		}
		e.places[key] = place
	}
	out.cat, out.dept, out.place = cat, dept, place

	// The counters' bits as grid defines them; scans count them for due
	// incidents only, as statistics do.
	var f uint8
	for _, b := range []struct {
		on  bool
		bit uint8
	}{{r.Due(), fDue}, {r.Handled(), fHandled}, {r.HandledOnTime(), fHandledOnTime}, {r.Closed(), fClosed},
		{r.Reworks > 0, fReworked}, {r.Extensions > 0, fExtended}} {
		if b.on {
			f |= b.bit
		}
	}
	if r.Closed() {
		if out.when, err = secs(r.ClosedAt); err != nil {
			return out, err
		}
	}
	if r.Supervised {
		f |= fSupervised
	}
	if grid.Open(r.Status) {
		f |= fOpen
		if out.when, err = secs(r.Deadline); err != nil {
			return out, err
		}
	}
	out.flag = f
	return out, nil
}

// place numbers a (cell, community, town) triple. Called with dictMu held.
func (d *dicts) place(cell, comm, town, key string) (uint16, error) {
	if p, ok := d.places[key]; ok {
		return p, nil
	}
	if len(d.placeCell) >= 1<<16 {
		return 0, errTooMany
	}
	c, err := d.cells.id(cell, 1<<16)
	if err != nil {
		return 0, err
	}
	m, err := d.comms.id(comm, 1<<16)
	if err != nil {
		return 0, err
	}
	w, err := d.towns.id(town, 1<<16)
	if err != nil {
		return 0, err
	}
	p := uint16(len(d.placeCell))
	d.places[key] = p
	d.placeCell, d.placeComm, d.placeTown = append(d.placeCell, uint16(c)), append(d.placeComm, uint16(m)), append(d.placeTown, uint16(w))
	return p, nil
}
