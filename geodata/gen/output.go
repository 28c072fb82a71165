package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
)

const notice = "Synthetic geometry: shapes are generated, not Linhai's real boundaries; names and codes of the 19 towns are real (NBS 2023)."

func citygridMember() map[string]any {
	return map[string]any{"synthetic": true, "notice": notice}
}

type feature struct {
	props map[string]any
	ring  [][2]int64 // polygon exterior, or nil
	pt    [2]int64   // point, when ring is nil
}

func appendCoord(b []byte, p [2]int64) []byte {
	b = append(b, '[')
	b = strconv.AppendFloat(b, float64(p[0])/1e6, 'f', -1, 64)
	b = append(b, ',')
	b = strconv.AppendFloat(b, float64(p[1])/1e6, 'f', -1, 64)
	return append(b, ']')
}

// writeFC writes a GeoJSON FeatureCollection, one feature per line, with
// the "citygrid" foreign member saying the data is synthetic.
func writeFC(dir, name string, fs []feature) (int, error) {
	var b bytes.Buffer
	head, _ := json.Marshal(citygridMember())
	b.WriteString(`{"type":"FeatureCollection","citygrid":`)
	b.Write(head)
	b.WriteString(",\"features\":[\n")
	var buf []byte
	for i, f := range fs {
		props, err := json.Marshal(f.props)
		if err != nil {
			return 0, err
		}
		buf = append(buf[:0], `{"type":"Feature","properties":`...)
		buf = append(buf, props...)
		if f.ring != nil {
			buf = append(buf, `,"geometry":{"type":"Polygon","coordinates":[[`...)
			for k, p := range f.ring {
				if k > 0 {
					buf = append(buf, ',')
				}
				buf = appendCoord(buf, p)
			}
			buf = append(buf, "]]}}"...)
		} else {
			buf = append(buf, `,"geometry":{"type":"Point","coordinates":`...)
			buf = appendCoord(buf, f.pt)
			buf = append(buf, "}}"...)
		}
		if i < len(fs)-1 {
			buf = append(buf, ',')
		}
		buf = append(buf, '\n')
		b.Write(buf)
	}
	b.WriteString("]}\n")
	return b.Len(), os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
}

// writeJSON writes a JSON document with the "citygrid" member and one list,
// one item per line.
func writeJSON[T any](dir, name, key string, items []T) (int, error) {
	var b bytes.Buffer
	head, _ := json.Marshal(citygridMember())
	b.WriteString(`{"citygrid":`)
	b.Write(head)
	b.WriteString(`,"` + key + "\":[\n")
	for i, it := range items {
		x, err := json.Marshal(it)
		if err != nil {
			return 0, err
		}
		b.Write(x)
		if i < len(items)-1 {
			b.WriteByte(',')
		}
		b.WriteByte('\n')
	}
	b.WriteString("]}\n")
	return b.Len(), os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
}

func writeAnchors(dir string, a anchorsFile) (int, error) {
	var b bytes.Buffer
	head, _ := json.Marshal(citygridMember())
	b.WriteString(`{"citygrid":`)
	b.Write(head)
	list := func(key string, n int, item func(i int) any) error {
		b.WriteString(`,"` + key + "\":[\n")
		for i := 0; i < n; i++ {
			x, err := json.Marshal(item(i))
			if err != nil {
				return err
			}
			b.Write(x)
			if i < n-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString("]")
		return nil
	}
	if err := list("commercial_streets", len(a.CommercialStreets), func(i int) any { return a.CommercialStreets[i] }); err != nil {
		return 0, err
	}
	if err := list("low_points", len(a.LowPoints), func(i int) any { return a.LowPoints[i] }); err != nil {
		return 0, err
	}
	if err := list("markets", len(a.Markets), func(i int) any { return a.Markets[i] }); err != nil {
		return 0, err
	}
	b.WriteString("}\n")
	return b.Len(), os.WriteFile(filepath.Join(dir, "anchors.json"), b.Bytes(), 0o644)
}
