package postgres

func NearestSQLForTest(kind string) string { if kind == "" { return nearestAnyKind }; return nearestOfKind }
