// Package migrations holds the numbered SQL migrations of the data model,
// embedded so the binary migrates any database it is pointed at.
package migrations

import "embed"

// FS holds the *.sql migrations, applied in numeric order.
//
//go:embed *.sql
var FS embed.FS
