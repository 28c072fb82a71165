// Package cql2 parses OGC CQL2 text filters (OGC 21-065, filter-lang=cql2-text)
// for the OGC API – Features "filter" parameter into a syntax tree, and
// checks its types against the queryables (Check). The OGC handlers turn
// the tree into the domain's condition (grid.Cond), which grid evaluates in
// memory and the postgres adapter compiles to SQL: the semantics live there.
//
// # Why a parser of our own
//
// No maintained Go library for CQL2 text could be used. planetlabs/go-ogc's
// filter package encodes and decodes CQL2 JSON only (its Filter implements
// json.Marshaler and json.Unmarshaler; there is no text parser), and neither it
// nor the two Go CQL2 text parsers found (cwygoda/gocql2, a young 0.x
// library, and robert-malhotra/go-cql-text, which targets go-ogc's AST) is
// served by the module proxy the project builds from. The subset needed is
// small, so this package is a hand-written recursive-descent parser over the
// grammar of the standard (standard library and orb only).
//
// # What is supported
//
// Conformance classes basic-cql2 and basic-spatial-functions (S_INTERSECTS
// only), plus three predicates of advanced-comparison-operators:
//
//   - comparisons = <> < > <= >= between a property and a literal (either
//     side): 'text' (a quote doubled inside), numbers (-1, 2.5, 1e3), TRUE and
//     FALSE, TIMESTAMP('2024-05-01T08:00:00Z') and DATE('2024-05-01');
//   - prop IS [NOT] NULL; AND, OR, NOT and parentheses; TRUE and FALSE alone;
//   - prop [NOT] LIKE 'pattern' (% any run, _ one character, \ escapes the
//     next character; case-sensitive), prop [NOT] BETWEEN lit AND lit
//     (numbers, timestamps, dates), prop [NOT] IN (lit, ...);
//   - S_INTERSECTS(prop, geometry) with a 2D WKT literal (POINT, LINESTRING,
//     POLYGON, MULTIPOINT, MULTILINESTRING, MULTIPOLYGON, GEOMETRYCOLLECTION)
//     or BBOX(west, south, east, north) (ENVELOPE, the draft's name, is read
//     as BBOX); coordinates are CRS84 longitude, latitude.
//
// Keywords are case-insensitive; property names are identifiers
// (eo:cloud_cover, 名称) or double-quoted ("name"). Not supported, each a
// positioned error: functions (avg(x)), arithmetic (balance-150.0 > 0),
// property-to-property and literal-to-literal comparisons, CASEI/ACCENTI,
// temporal (T_*) and array (A_*) operators, spatial operators other than
// S_INTERSECTS, INTERVAL, 3D coordinates, boxes across the antimeridian.
//
// TIMESTAMP accepts any RFC 3339 offset (the standard asks for Z) and keeps it
// as UTC; at most six fractional digits, the precision PostgreSQL stores.
//
// # Errors and limits
//
// Every error is an *Error carrying the byte offset it refers to
// ("cql2: at offset 17: expected a literal after '='"); it unwraps to a
// *grid.Error of kind grid.Invalid, so the HTTP adapter answers 400. An
// unknown property is an *Error whose Property field names it, so the caller
// can list the queryables. Input is at most 8 KiB, nesting (parentheses, NOT,
// geometry collections) at most 64 levels, geometry literals at most 10,000
// vertices in all: past these Parse returns an error, never panics or
// exhausts the stack.
//
// # Semantics
//
// A missing or NULL property makes a predicate unknown, and AND, OR and NOT
// follow SQL's three-valued logic: grid.Cond carries that meaning, and a
// test holds the SQL compiled from it to the in-memory evaluation. A ring
// whose points lie on one line is a parse error.
package cql2
