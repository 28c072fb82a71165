package cql2_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/httpapi/ogc/cql2"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// columns are the queryables of the test table feat.
var testColumns = map[string]cql2.Column{
	"name":       {SQL: "name", Type: cql2.TypeText},
	"upper_name": {SQL: "upper(name)", Type: cql2.TypeText},
	"n":          {SQL: "n", Type: cql2.TypeNumber},
	"i":          {SQL: "feat.i", Type: cql2.TypeNumber},
	"ok":         {SQL: "ok", Type: cql2.TypeBool},
	"at":         {SQL: "at", Type: cql2.TypeTimestamp},
	"d":          {SQL: "d", Type: cql2.TypeDate},
	"geom":       {SQL: "geom", Type: cql2.TypeGeometry},
}

func TestToSQL(t *testing.T) {
	at := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		filter string
		sql    string
		args   []any
	}{
		{`name = 'x''y'`, `(name = $1::text)`, []any{"x'y"}},
		{`name < 'x'`, `(name < $1::text COLLATE "C")`, []any{"x"}},
		{`upper_name <> 'X'`, `((upper(name)) <> $1::text)`, []any{"X"}},
		{`4 > i AND ok = TRUE`, `((feat.i < $1::double precision) AND (ok = $2::boolean))`, []any{4.0, true}},
		{`NOT (n IS NULL OR n >= -1.5)`, `(NOT ((n IS NULL) OR (n >= $1::double precision)))`, []any{-1.5}},
		{`at >= TIMESTAMP('2024-05-01T08:00:00+08:00')`, `(at >= $1::timestamptz)`, []any{at}},
		{`d NOT BETWEEN DATE('2024-05-01') AND DATE('2024-05-01')`, `(d NOT BETWEEN $1::date AND $2::date)`, []any{at, at}},
		{`name NOT LIKE 'a%'`, `(name NOT LIKE $1::text)`, []any{"a%"}},
		{`n IN (1, 2)`, `(n IN ($1::double precision, $2::double precision))`, []any{1.0, 2.0}},
		{`geom IS NOT NULL AND TRUE`, `((geom IS NOT NULL) AND TRUE)`, nil},
		{`S_INTERSECTS(geom, BBOX(121, 28.5, 121.5, 29))`,
			`ST_Intersects(geom, ST_MakeEnvelope($1::double precision, $2::double precision, $3::double precision, $4::double precision, 4326))`,
			[]any{121.0, 28.5, 121.5, 29.0}},
		{`S_INTERSECTS(geom, POLYGON((0 0, 1 0, 1 1, 0 0)))`, `ST_Intersects(geom, (SELECT ST_MakeValid(ST_GeomFromText($1::text, 4326), 'method=structure')))`,
			[]any{"POLYGON((0 0, 1 0, 1 1, 0 0))"}},
		{`S_INTERSECTS(geom, BBOX(1, 2, 1, 2))`, `ST_Intersects(geom, (SELECT ST_MakeValid(ST_GeomFromText($1::text, 4326), 'method=structure')))`,
			[]any{"POINT(1 2)"}},
		{`S_INTERSECTS(geom, GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1)))`, `ST_Intersects(geom, (SELECT ST_MakeValid(ST_GeomFromText($1::text, 4326), 'method=structure')))`,
			[]any{"GEOMETRYCOLLECTION(POINT(1 2), LINESTRING(0 0, 1 1))"}},
	}
	for _, c := range cases {
		e, err := cql2.Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		sql, args, err := cql2.ToSQL(e, testColumns)
		if err != nil {
			t.Errorf("ToSQL(%q): %v", c.filter, err)
			continue
		}
		if sql != c.sql || !reflect.DeepEqual(args, c.args) {
			t.Errorf("ToSQL(%q) =\n  %s %v\nwant\n  %s %v", c.filter, sql, args, c.sql, c.args)
		}
	}

	// Placeholders continue after the caller's own parameters.
	e, _ := cql2.Parse(`name = 'x'`)
	sql, args, err := cql2.AppendSQL(e, testColumns, []any{"first", "second"})
	if err != nil || sql != `(name = $3::text)` || len(args) != 3 || args[2] != "x" {
		t.Errorf("AppendSQL = %q %v %v", sql, args, err)
	}
}

func TestToSQLErrors(t *testing.T) {
	cases := []struct{ filter, err, property string }{
		{`city = 'Toronto'`, `cql2: at offset 0: unknown property "city"`, "city"},
		{`name = 'x' OR S_INTERSECTS(footprint, POINT(0 0))`, `cql2: at offset 27: unknown property "footprint"`, "footprint"},
		{`at > 4`, `cql2: at offset 5: property "at" is a timestamp; 4 is a number`, ""},
		{`at > '2024-05-01'`, `cql2: at offset 5: property "at" is a timestamp; '2024-05-01' is a text (write TIMESTAMP('…'))`, ""},
		{`d = TIMESTAMP('2024-05-01T00:00:00Z')`, `cql2: at offset 4: property "d" is a date; TIMESTAMP('2024-05-01T00:00:00Z') is a timestamp (write DATE('…'))`, ""},
		{`S_INTERSECTS(name, POINT(0 0))`, `cql2: at offset 13: S_INTERSECTS needs a geometry property; "name" is a text`, ""},
		{`geom = 'x'`, `cql2: at offset 0: property "geom" is a geometry; compare it with S_INTERSECTS`, ""},
	}
	for _, c := range cases {
		e, err := cql2.Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		_, _, err = cql2.ToSQL(e, testColumns)
		var ce *cql2.Error
		if !errors.As(err, &ce) || err.Error() != c.err || ce.Property != c.property {
			t.Errorf("ToSQL(%q) error = %v, want %q (property %q)", c.filter, err, c.err, c.property)
		}
	}
	e, _ := cql2.Parse(`a = 1`)
	if _, _, err := cql2.ToSQL(e, map[string]cql2.Column{"a": {SQL: "", Type: cql2.TypeNumber}}); err == nil {
		t.Error("a column without SQL was accepted")
	}
}

// row is a feature of the test table: its id and its non-NULL properties.
type row struct {
	id    int
	props map[string]cql2.Value
}

func (r row) get(name string) (cql2.Value, bool) {
	if name == "upper_name" {
		v, ok := r.props["name"]
		if !ok {
			return v, false
		}
		return cql2.Text(strings.ToUpper(v.Str())), true
	}
	v, ok := r.props[name]
	return v, ok
}

// openTable creates feat in a fresh database and loads rows into it.
func openTable(t *testing.T, rows []row) (*pgx.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	conn, err := pgx.Connect(ctx, pgtest.URL(t, pgtest.Empty))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(ctx, `CREATE TEMP TABLE feat (
		id integer PRIMARY KEY, name text, n double precision, i integer, ok boolean,
		at timestamptz, d date, geom geometry(Geometry, 4326))`)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		args := []any{r.id}
		for _, c := range []string{"name", "n", "i", "ok", "at", "d", "geom"} {
			v, ok := r.props[c]
			switch {
			case !ok:
				args = append(args, nil)
			case v.Type() == cql2.TypeText:
				args = append(args, v.Str())
			case v.Type() == cql2.TypeNumber:
				args = append(args, v.Num())
			case v.Type() == cql2.TypeBool:
				args = append(args, v.BoolValue())
			case v.Type() == cql2.TypeGeometry:
				args = append(args, v.String()) // WKT
			default:
				args = append(args, v.Time())
			}
		}
		_, err := conn.Exec(ctx, `INSERT INTO feat VALUES ($1, $2, $3, $4, $5, $6, $7, ST_GeomFromText($8, 4326))`, args...)
		if err != nil {
			t.Fatalf("insert %d: %v", r.id, err)
		}
	}
	return conn, ctx
}

// selectIDs runs a filter through ToSQL in PostGIS and returns the ids it
// selects.
func selectIDs(ctx context.Context, t *testing.T, conn *pgx.Conn, e cql2.Expr) []int {
	t.Helper()
	sql, args, err := cql2.ToSQL(e, testColumns)
	if err != nil {
		t.Fatalf("ToSQL(%s): %v", e, err)
	}
	var ids []int
	if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM feat WHERE `+sql, args...).Scan(&ids); err != nil {
		t.Fatalf("%s\n  SQL %s %v: %v", e, sql, args, err)
	}
	return ids
}

func evalIDs(t *testing.T, rows []row, e cql2.Expr) []int {
	t.Helper()
	ids := []int{}
	for _, r := range rows {
		ok, err := cql2.Eval(e, r.get)
		if err != nil {
			t.Fatalf("Eval(%s) on row %d: %v", e, r.id, err)
		}
		if ok {
			ids = append(ids, r.id)
		}
	}
	return ids
}

func ts(s string) cql2.Value {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return cql2.Timestamp(t)
}

func date(s string) cql2.Value {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return cql2.Date(t)
}

func TestSQLInPostGIS(t *testing.T) {
	rows := []row{
		{1, map[string]cql2.Value{"name": cql2.Text("Toronto"), "n": cql2.Number(3), "i": cql2.Number(3), "ok": cql2.Bool(true),
			"at": ts("2024-05-01T08:00:00Z"), "d": date("2024-05-01"), "geom": cql2.Geometry(orb.Point{1, 1})}},
		{2, map[string]cql2.Value{"name": cql2.Text("toronto"), "n": cql2.Number(-1.5), "i": cql2.Number(-1), "ok": cql2.Bool(false),
			"at": ts("2024-05-02T00:00:00Z"), "d": date("2024-05-02"), "geom": cql2.Geometry(orb.Point{3, 3})}},
		{3, map[string]cql2.Value{"name": cql2.Text("Ottawa"), "n": cql2.Number(0), "i": cql2.Number(0),
			"geom": cql2.Geometry(orb.LineString{{0, 4}, {4, 4}})}},
		{4, map[string]cql2.Value{"ok": cql2.Bool(true), "at": ts("2023-12-31T23:59:59.999999Z"), "d": date("2023-12-31"),
			"geom": cql2.Geometry(orb.Polygon{{{5, 5}, {7, 5}, {7, 7}, {5, 7}, {5, 5}}})}},
		{5, map[string]cql2.Value{"name": cql2.Text("临海"), "n": cql2.Number(1e10), "i": cql2.Number(7), "ok": cql2.Bool(false),
			"at": ts("2024-05-01T08:00:00.000001Z"), "d": date("2024-05-01")}},
		{6, map[string]cql2.Value{"name": cql2.Text("a%b_c"), "n": cql2.Number(2.5), "i": cql2.Number(2), "ok": cql2.Bool(true),
			"geom": cql2.Geometry(orb.MultiPoint{{10, 10}, {2, 2}})}},
		{7, map[string]cql2.Value{"name": cql2.Text(""), "n": cql2.Number(0.1)}},
	}
	conn, ctx := openTable(t, rows)
	cases := []struct {
		filter string
		want   []int
	}{
		{`name = 'Toronto'`, []int{1}},
		{`'Toronto' = name`, []int{1}},
		{`name > 'Toronto'`, []int{2, 5, 6}}, // code point order: 't', 'a' and CJK sort after 'T'
		{`name <= ''`, []int{7}},
		{`upper_name = 'TORONTO'`, []int{1, 2}},
		{`name LIKE '%o%'`, []int{1, 2}},
		{`name LIKE 'a\%b\_c'`, []int{6}},
		{`name LIKE '__'`, []int{5}},
		{`name NOT LIKE '%o%'`, []int{3, 5, 6, 7}},
		{`n < 0`, []int{2}},
		{`i = 2.5`, []int{}},
		{`i < 2.5`, []int{2, 3, 6}},
		{`n BETWEEN 0 AND 3`, []int{1, 3, 6, 7}},
		{`n NOT BETWEEN 0 AND 3`, []int{2, 5}},
		{`n = 1e10`, []int{5}},
		{`ok = TRUE`, []int{1, 4, 6}},
		{`ok <> TRUE`, []int{2, 5}},
		{`NOT ok = TRUE`, []int{2, 5}},
		{`ok IS NULL`, []int{3, 7}},
		{`at > TIMESTAMP('2024-05-01T08:00:00Z')`, []int{2, 5}},
		{`at >= TIMESTAMP('2024-05-01T16:00:00+08:00')`, []int{1, 2, 5}},
		{`at < TIMESTAMP('2024-01-01T00:00:00Z')`, []int{4}},
		{`d = DATE('2024-05-01')`, []int{1, 5}},
		{`d BETWEEN DATE('2024-01-01') AND DATE('2024-05-01')`, []int{1, 5}},
		{`name IN ('Ottawa', '')`, []int{3, 7}},
		{`name NOT IN ('Ottawa', '')`, []int{1, 2, 5, 6}},
		{`i IN (3, 7)`, []int{1, 5}},
		{`NOT (name = 'Toronto' OR n IS NULL)`, []int{2, 3, 5, 6, 7}},
		{`name = 'Toronto' OR ok = FALSE AND n > 0`, []int{1, 5}},
		{`(name = 'Toronto' OR ok = FALSE) AND n > 0`, []int{1, 5}},
		{`TRUE`, []int{1, 2, 3, 4, 5, 6, 7}},
		{`FALSE`, []int{}},
		{`geom IS NULL`, []int{5, 7}},
		{`S_INTERSECTS(geom, BBOX(0, 0, 2, 2))`, []int{1, 6}},
		{`S_INTERSECTS(geom, POLYGON((3 3, 6 3, 6 6, 3 6, 3 3)))`, []int{2, 3, 4}},
		{`S_INTERSECTS(geom, POLYGON((0 0, 12 0, 12 12, 0 12, 0 0), (0.5 0.5, 2.5 0.5, 2.5 2.5, 0.5 2.5, 0.5 0.5)))`, []int{2, 3, 4, 6}},
		{`S_INTERSECTS(geom, POINT(7 7))`, []int{4}},
		{`S_INTERSECTS(geom, LINESTRING(0 5, 10 5))`, []int{4}},
		{`S_INTERSECTS(geom, MULTIPOLYGON(((9 9, 11 9, 11 11, 9 11, 9 9)), ((0 0, 1 0, 1 1, 0 0))))`, []int{1, 6}},
		{`S_INTERSECTS(geom, GEOMETRYCOLLECTION(POINT(3 3), LINESTRING(2 0, 2 5)))`, []int{2, 3, 6}},
		{`NOT S_INTERSECTS(geom, BBOX(0, 0, 2, 2))`, []int{2, 3, 4}},
		// Boxes without area are their point or line.
		{`S_INTERSECTS(geom, BBOX(1, 1, 1, 1))`, []int{1}},
		{`S_INTERSECTS(geom, BBOX(0, 4, 10, 4))`, []int{3}},
		// Invalid literals are made valid, keeping the union of their parts:
		// overlapping parts (3 3 lies in both) and a bow tie.
		{`S_INTERSECTS(geom, MULTIPOLYGON(((0 0, 4 0, 4 4, 0 4, 0 0)), ((2 2, 6 2, 6 6, 2 6, 2 2))))`, []int{1, 2, 3, 4, 6}},
		{`S_INTERSECTS(geom, POLYGON((0 0, 2 2, 2 0, 0 2, 0 0)))`, []int{1, 6}},
	}
	for _, c := range cases {
		e, err := cql2.Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		if got := selectIDs(ctx, t, conn, e); !slices.Equal(got, c.want) {
			t.Errorf("PostGIS %q selects %v, want %v", c.filter, got, c.want)
		}
		if got := evalIDs(t, rows, e); !slices.Equal(got, c.want) {
			t.Errorf("Eval %q selects %v, want %v", c.filter, got, c.want)
		}
	}
}

// TestEvalAgreesWithPostGIS draws random well-typed filters over random rows
// and checks that Eval selects exactly the rows PostGIS selects with the SQL
// of ToSQL. Coordinates are multiples of 0.5, so that both sides decide
// boundary cases exactly.
func TestEvalAgreesWithPostGIS(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := &gen{rng: rng}
	var rows []row
	for id := 1; id <= 40; id++ {
		rows = append(rows, g.row(id))
	}
	conn, ctx := openTable(t, rows)
	const n = 1000
	nontrivial := 0 // filters that select some rows but not all
	for k := 0; k < n; k++ {
		e := g.expr(3)
		// The generated tree must survive its own text.
		e2, err := cql2.Parse(e.String())
		if err != nil || e2.String() != e.String() {
			t.Fatalf("%s does not round-trip: %v", e, err)
		}
		want := selectIDs(ctx, t, conn, e2)
		if got := evalIDs(t, rows, e2); !slices.Equal(got, want) {
			t.Fatalf("filter %s\n  Eval selects    %v\n  PostGIS selects %v", e2, got, want)
		}
		if len(want) > 0 && len(want) < len(rows) {
			nontrivial++
		}
	}
	if nontrivial < n/2 {
		t.Errorf("only %d of %d filters told rows apart; the generator is too weak", nontrivial, n)
	}
}

type gen struct{ rng *rand.Rand }

var (
	texts    = []string{"", "a", "A", "ab", "b", "Toronto", "toronto", "临海", "a%b", "é", "z_"}
	patterns = []string{"a%", "%a", "_", "%", "a_", `a\%b`, "临%", "%o%", "", `z\_`, "%b"}
	numbers  = []float64{-2, -0.5, 0, 0.1, 1, 2.5, 3, 1e10}
	times    = []string{"2024-05-01T00:00:00Z", "2024-05-01T00:00:00.000001Z", "2024-04-30T16:00:00Z", "2025-01-01T12:30:00Z"}
	dates    = []string{"2024-05-01", "2024-04-30", "2024-12-31"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *gen) coord() orb.Point {
	return orb.Point{float64(g.rng.IntN(13)) / 2, float64(g.rng.IntN(13)) / 2}
}

func (g *gen) rect() orb.Polygon {
	a, b := g.coord(), g.coord()
	if a[0] == b[0] {
		b[0] += 0.5
	}
	if a[1] == b[1] {
		b[1] += 0.5
	}
	minX, maxX := min(a[0], b[0]), max(a[0], b[0])
	minY, maxY := min(a[1], b[1]), max(a[1], b[1])
	if g.rng.IntN(2) == 0 { // a right triangle
		return orb.Polygon{{{minX, minY}, {maxX, minY}, {minX, maxY}, {minX, minY}}}
	}
	return orb.Polygon{{{minX, minY}, {maxX, minY}, {maxX, maxY}, {minX, maxY}, {minX, minY}}}
}

func (g *gen) line() orb.LineString {
	ls := orb.LineString{g.coord()}
	for len(ls) < 2+g.rng.IntN(2) {
		if p := g.coord(); p != ls[len(ls)-1] {
			ls = append(ls, p)
		}
	}
	return ls
}

// geometry draws a geometry; a stored one (valid) has disjoint parts, a
// literal's parts may overlap.
func (g *gen) geometry(valid bool) orb.Geometry {
	switch g.rng.IntN(6) {
	case 0:
		return g.coord()
	case 1:
		return g.line()
	case 2:
		return g.rect()
	case 3:
		return orb.MultiPoint{g.coord(), g.coord()}
	case 4:
		if valid {
			far := g.rect()
			for i := range far[0] {
				far[0][i][0] += 7
			}
			return orb.MultiPolygon{g.rect(), far}
		}
		return orb.MultiPolygon{g.rect(), g.rect()}
	}
	return orb.MultiLineString{g.line(), g.line()}
}

func (g *gen) value(name string) cql2.Value {
	switch name {
	case "name", "upper_name":
		return cql2.Text(pick(g.rng, texts))
	case "n":
		return cql2.Number(pick(g.rng, numbers))
	case "i":
		return cql2.Number(float64(g.rng.IntN(7) - 3))
	case "ok":
		return cql2.Bool(g.rng.IntN(2) == 0)
	case "at":
		return ts(pick(g.rng, times))
	case "d":
		return date(pick(g.rng, dates))
	}
	return cql2.Geometry(g.geometry(true))
}

func (g *gen) row(id int) row {
	r := row{id: id, props: map[string]cql2.Value{}}
	for _, c := range []string{"name", "n", "i", "ok", "at", "d", "geom"} {
		if g.rng.IntN(5) > 0 { // one in five is NULL
			r.props[c] = g.value(c)
		}
	}
	return r
}

func lit(v cql2.Value) cql2.Literal { return cql2.Literal{Value: v} }

func (g *gen) expr(depth int) cql2.Expr {
	if depth > 0 && g.rng.IntN(3) > 0 {
		switch g.rng.IntN(3) {
		case 0:
			return &cql2.Not{X: g.expr(depth - 1)}
		case 1:
			return &cql2.And{Args: []cql2.Expr{g.expr(depth - 1), g.expr(depth - 1)}}
		}
		return &cql2.Or{Args: []cql2.Expr{g.expr(depth - 1), g.expr(depth - 1)}}
	}
	names := []string{"name", "upper_name", "n", "i", "ok", "at", "d", "geom"}
	name := pick(g.rng, names)
	prop := cql2.Property{Name: name}
	typ := testColumns[name].Type
	switch k := g.rng.IntN(10); {
	case k == 0:
		return &cql2.IsNull{Prop: prop, Not: g.rng.IntN(2) == 0}
	case k == 1 && g.rng.IntN(4) == 0:
		return &cql2.BoolLiteral{Value: g.rng.IntN(2) == 0}
	case typ == cql2.TypeGeometry:
		lg := g.geometry(false)
		if g.rng.IntN(3) == 0 {
			lg = g.rect().Bound()
		}
		return &cql2.Intersects{Prop: prop, Geom: lit(cql2.Geometry(lg))}
	case k == 2 && typ == cql2.TypeText:
		return &cql2.Like{Prop: prop, Pattern: lit(cql2.Text(pick(g.rng, patterns))), Not: g.rng.IntN(2) == 0}
	case k == 3 && (typ == cql2.TypeNumber || typ == cql2.TypeTimestamp || typ == cql2.TypeDate):
		return &cql2.Between{Prop: prop, Low: lit(g.value(name)), High: lit(g.value(name)), Not: g.rng.IntN(2) == 0}
	case k == 4:
		in := &cql2.In{Prop: prop, Not: g.rng.IntN(2) == 0}
		for range 1 + g.rng.IntN(3) {
			in.Values = append(in.Values, lit(g.value(name)))
		}
		return in
	}
	ops := []cql2.Op{cql2.Eq, cql2.Ne, cql2.Lt, cql2.Gt, cql2.Le, cql2.Ge}
	if typ == cql2.TypeBool {
		ops = ops[:2]
	}
	return &cql2.Compare{Prop: prop, Op: pick(g.rng, ops), Lit: lit(g.value(name))}
}

func Example() {
	e, err := cql2.Parse(`category = 'E0505' AND S_INTERSECTS(geom, BBOX(121.1, 28.8, 121.2, 28.9))`)
	if err != nil {
		fmt.Println(err)
		return
	}
	sql, args, err := cql2.ToSQL(e, map[string]cql2.Column{
		"category": {SQL: "i.category", Type: cql2.TypeText},
		"geom":     {SQL: "i.geom", Type: cql2.TypeGeometry},
	})
	fmt.Println(sql, args, err)

	_, err = cql2.Parse(`avg(windSpeed) < 4`)
	fmt.Println(err)
	// Output:
	// ((i.category = $1::text) AND ST_Intersects(i.geom, ST_MakeEnvelope($2::double precision, $3::double precision, $4::double precision, $5::double precision, 4326))) [E0505 121.1 28.8 121.2 28.9] <nil>
	// cql2: at offset 0: function avg(…) is not supported (basic CQL2 has no functions)
}
