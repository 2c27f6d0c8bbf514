package runccli

import "testing"

func TestParseSize(t *testing.T) {
	good := map[string]int64{"1024": 1024, "64k": 64 << 10, "64m": 64 << 20, "1G": 1 << 30, "10mb": 10 << 20, "-1": -1}
	for in, want := range good {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "1x", "m"} {
		if _, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}
