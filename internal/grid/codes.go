package grid

import "fmt"

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return len(s) > 0
}

// ValidTownCode reports whether s is a 9-digit town/street code.
func ValidTownCode(s string) bool { return len(s) == 9 && allDigits(s) }

// ValidCommunityCode reports whether s is a 12-digit community code.
func ValidCommunityCode(s string) bool { return len(s) == 12 && allDigits(s) }

// ValidCellCode reports whether s is a cell code: 15 digits (DB11/T 2157-2023
// layout) or the older 14-digit layout of CJ/T 213-2005.
func ValidCellCode(s string) bool { return (len(s) == 15 || len(s) == 14) && allDigits(s) }

// ValidZoneCode reports whether s is a zone code: 1–32 ASCII letters,
// digits, '_' or '-'.
func ValidZoneCode(s string) bool {
	if len(s) == 0 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// ValidCategoryCode reports whether s is P|E + 2-digit major + 2-digit minor.
func ValidCategoryCode(s string) bool {
	return len(s) == 5 && (s[0] == 'P' || s[0] == 'E') && allDigits(s[1:]) && s[1:3] != "00" && s[3:] != "00"
}

// ValidPartID reports whether s is a 16-digit part instance id: county code,
// major, minor and a 6-digit serial.
func ValidPartID(s string) bool { return len(s) == 16 && allDigits(s) }

// CheckCellCode validates a cell code against its community (and so town):
// a cell's code must begin with its community's code.
func CheckCellCode(code, community string) error {
	if !ValidCellCode(code) {
		return Errorf(Invalid, "cell code %q: want 15 digits (or 14 in the CJ/T 213-2005 layout)", code)
	}
	if !ValidCommunityCode(community) {
		return Errorf(Invalid, "cell %s: community code %q: want 12 digits", code, community)
	}
	if code[:12] != community {
		return Errorf(Invalid, "cell %s: code does not begin with its community code %s", code, community)
	}
	return nil
}

// MatchPattern reports whether a rule pattern ("E0505", "E05*", "E*", "*")
// matches a category code.
func MatchPattern(pattern, category string) bool {
	if n := len(pattern); n > 0 && pattern[n-1] == '*' {
		p := pattern[:n-1]
		return len(category) >= len(p) && category[:len(p)] == p
	}
	return pattern == category
}

// ValidPattern reports whether p is a usable rule pattern.
func ValidPattern(p string) bool {
	if p == "*" {
		return true
	}
	if ValidCategoryCode(p) {
		return true
	}
	n := len(p)
	if n < 2 || p[n-1] != '*' || (p[0] != 'P' && p[0] != 'E') {
		return false
	}
	return n == 2 || (n == 4 && allDigits(p[1:3]))
}

// PatternSpecificity orders patterns: exact code 3, major class 2, part/event 1, "*" 0.
func PatternSpecificity(p string) int {
	switch {
	case p == "*":
		return 0
	case len(p) == 2:
		return 1
	case len(p) == 4:
		return 2
	default:
		return 3
	}
}

// String renders a category for logs.
func (c Category) String() string { return fmt.Sprintf("%s %s", c.Code, c.Name) }
