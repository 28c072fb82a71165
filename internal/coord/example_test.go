package coord_test

import (
	"fmt"

	"github.com/citygrid/citygrid/internal/coord"
)

// A point picked on Amap (GCJ-02) near Linhai's old town is converted to
// WGS84 for the grid lookup, and the WGS84 answer back to GCJ-02 for display.
func Example() {
	crs, err := coord.ParseCRS("GCJ02")
	if err != nil {
		fmt.Println(err)
		return
	}
	lon, lat := coord.ToWGS84(crs, 121.135, 28.847)
	fmt.Printf("WGS84: %.6f, %.6f\n", lon, lat)

	lon, lat = coord.FromWGS84(crs, lon, lat)
	fmt.Printf("%v: %.6f, %.6f\n", crs, lon, lat)

	_, err = coord.ParseCRS("bd09mc")
	fmt.Println(err)
	// Output:
	// WGS84: 121.130599, 28.849838
	// gcj02: 121.135000, 28.847000
	// unknown coordinate system "bd09mc": valid values are wgs84, gcj02, bd09 (EPSG:4326 and EPSG:4490 mean wgs84)
}

func ExampleWGS84ToGCJ02() {
	lon, lat := coord.WGS84ToGCJ02(116.404, 39.915)
	fmt.Printf("%.6f, %.6f\n", lon, lat)
	lon, lat = coord.WGS84ToGCJ02(-0.1276, 51.5072) // outside China: unchanged
	fmt.Printf("%.4f, %.4f\n", lon, lat)
	// Output:
	// 116.410244, 39.916404
	// -0.1276, 51.5072
}
