package hexbin

import (
	"context"
	"errors"
	"sync"

	"github.com/uber/h3-go/v4"
)

// StudyKey names a study area: the area (for example the grid version and
// a town scope, as the caller spells it), the H3 resolution and k.
type StudyKey struct {
	Area string
	Res  int
	K    int
}

// StudyCache keeps built studies so that a hot spot request pays for the
// neighbour lists (one GridDisk per cell, through cgo) only the first time
// an area is analysed. The zero value is ready to use; it is safe for
// concurrent use. Entries live until Forget or Reset.
type StudyCache struct {
	mu sync.Mutex
	m  map[StudyKey]*studyEntry
}

type studyEntry struct {
	done  chan struct{}
	study *Study
	err   error
}

// Get returns the study of key, building it on first use from the cells
// that cells returns (NewStudy(cells, key.K)). Concurrent callers of a key
// being built wait for the one build; a failed build is not kept, so the
// next call tries again. Errors: those of cells and NewStudy, or ctx's
// error if it ends while waiting for another caller's build.
func (c *StudyCache) Get(ctx context.Context, key StudyKey, cells func(context.Context) ([]h3.Cell, error)) (*Study, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[StudyKey]*studyEntry)
	}
	e, ok := c.m[key]
	if !ok {
		e = &studyEntry{done: make(chan struct{})}
		c.m[key] = e
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-e.done:
			return e.study, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() {
		// Also runs when cells or NewStudy panics: waiters get an error.
		if e.study == nil && e.err == nil {
			e.err = errors.New("hexbin: building the study area did not finish")
		}
		if e.err != nil {
			c.mu.Lock()
			if c.m[key] == e {
				delete(c.m, key)
			}
			c.mu.Unlock()
		}
		close(e.done)
	}()
	cs, err := cells(ctx)
	if err != nil {
		e.err = err
		return nil, err
	}
	e.study, e.err = NewStudy(cs, key.K)
	return e.study, e.err
}

// Forget drops every cached study of area.
func (c *StudyCache) Forget(area string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.m {
		if k.Area == area {
			delete(c.m, k)
		}
	}
}

// Reset drops every cached study.
func (c *StudyCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.m)
}
