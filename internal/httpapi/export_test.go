package httpapi

// Permission is a row of the permission table, for the test that
// enforces it.
type Permission = permission

// Permissions is the permission table.
func Permissions() []Permission { return permissions() }
