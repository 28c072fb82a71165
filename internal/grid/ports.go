package grid

import "context"

// Model is the grid model of one version, as the in-memory read models need it.
type Model struct {
	Version Version
	City    *City
}

// GridStore is the system of record for the grid model. Methods return
// *Error of kind NotFound when a code or version does not exist, and
// Unavailable when the database cannot be reached.
type GridStore interface {
	// Versions lists every grid version, newest first.
	Versions(ctx context.Context) ([]Version, error)
	// Cell returns a cell of the given version (0: the active one).
	Cell(ctx context.Context, version int64, code string) (Cell, error)
	// ActiveModel loads the whole active grid model with its reference data.
	ActiveModel(ctx context.Context) (*Model, error)
	// Model loads the grid model of one version (NotFound if none).
	Model(ctx context.Context, version int64) (*Model, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
}
