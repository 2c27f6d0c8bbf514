package runflags

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseSize parses a size in bytes as Docker's --memory, --shm-size and
// tmpfs-size do (go-units' RAMInBytes): a number, decimals allowed, then an
// optional binary unit b, k, m, g, t or p (1024-based), case-insensitive,
// optionally followed by "b" or "ib" ("512m", "1.5G", "64KiB", "100 MB").
// Negative sizes are refused. The flag is left unnamed: wrap the error with
// WithFlag(err, "-m, --memory").
func ParseSize(s string) (int64, error) {
	n, err := parseSize(s, 1024)
	if err != nil {
		return 0, &Error{Value: s, Err: err}
	}
	return n, nil
}

// ParseMemorySwap is ParseSize that also takes "-1", unlimited swap, as
// Docker's --memory-swap.
func ParseMemorySwap(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	n, err := ParseSize(s)
	return n, WithFlag(err, "--memory-swap")
}

// parseSize is go-units' parseSize: the number is everything up to the
// last digit, dot or space; the suffix the rest.
func parseSize(s string, base float64) (int64, error) {
	sep := strings.LastIndexAny(s, "01234567890. ")
	if sep == -1 {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	var num, sfx string
	if s[sep] != ' ' {
		num, sfx = s[:sep+1], s[sep+1:]
	} else {
		num, sfx = s[:sep], s[sep+1:]
	}
	size, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(size) || math.IsInf(size, 0) {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	if size < 0 {
		return 0, fmt.Errorf("invalid size: '%s'", s)
	}
	if sfx != "" {
		l := strings.ToLower(sfx)
		mul := 1.0
		switch {
		case len(l) > 3:
			return 0, fmt.Errorf("invalid suffix: '%s'", sfx)
		case l == "b":
		case l[0] == 'b':
			return 0, fmt.Errorf("invalid suffix: '%s'", sfx)
		default:
			i := strings.IndexByte("kmgtp", l[0])
			if i < 0 || len(l) == 2 && l[1] != 'b' || len(l) == 3 && l[1:] != "ib" {
				return 0, fmt.Errorf("invalid suffix: '%s'", sfx)
			}
			mul = math.Pow(base, float64(i+1))
		}
		size *= mul
	}
	if size >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size: '%s': too large", s)
	}
	return int64(size), nil
}

// ParseCPUs parses --cpus ("1.5", "0.25", "2") into nano-CPUs, as Docker's
// NanoCPUs: a decimal number with at most nine digits after the point
// (one nano-CPU). Negative values and fractions ("3/2", which Docker's
// big.Rat let through by accident) are refused.
func ParseCPUs(s string) (int64, error) {
	const flag = "--cpus"
	if s == "" {
		return 0, bad(flag, s, "failed to parse %q as a decimal number", s)
	}
	if s[0] == '-' {
		return 0, bad(flag, s, "cpus cannot be negative")
	}
	whole, frac, _ := strings.Cut(strings.TrimPrefix(s, "+"), ".")
	frac = strings.TrimRight(frac, "0")
	if whole == "" && frac == "" && !strings.Contains(s, "0") || !digits(whole) || !digits(frac) {
		return 0, bad(flag, s, "failed to parse %q as a decimal number", s)
	}
	if len(frac) > 9 {
		return 0, bad(flag, s, "value is too precise")
	}
	var n int64
	if whole != "" {
		w, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || w > (math.MaxInt64-999_999_999)/1_000_000_000 {
			return 0, bad(flag, s, "value is too large")
		}
		n = w * 1e9
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		n += f
	}
	return n, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
