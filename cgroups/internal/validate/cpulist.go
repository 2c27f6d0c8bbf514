package validate

import (
	"fmt"
	"strconv"
	"strings"
)

// maxCPU bounds the numbers a cpu or node list may name (the kernel's
// NR_CPUS is at most 8192), so "0-4000000000" fails fast instead of
// allocating.
const maxCPU = 8192

// ParseList parses a kernel cpu or node list ("0-3,8,10-11") into a set.
// An empty list is the empty set.
func ParseList(s string) (map[int]bool, error) {
	set := make(map[int]bool)
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("%q is not a number or range", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("%q is not a number or range", part)
			}
		}
		if b >= maxCPU {
			return nil, fmt.Errorf("%d is beyond the kernel limit of %d", b, maxCPU)
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}
