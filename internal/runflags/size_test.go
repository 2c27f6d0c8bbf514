package runflags

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		// go-units' RAMInBytes examples.
		{in: "32", want: 32},
		{in: "32b", want: 32},
		{in: "32B", want: 32},
		{in: "32k", want: 32 << 10},
		{in: "32K", want: 32 << 10},
		{in: "32kb", want: 32 << 10},
		{in: "32Kb", want: 32 << 10},
		{in: "32KiB", want: 32 << 10},
		{in: "32Mb", want: 32 << 20},
		{in: "32Gb", want: 32 << 30},
		{in: "32Tb", want: 32 << 40},
		{in: "32Pb", want: 32 << 50},
		{in: "32PB", want: 32 << 50},
		{in: "32P", want: 32 << 50},
		{in: "32.3", want: 32},
		{in: "32.3 MiB", want: 33869004},
		{in: "1.5g", want: 3 << 29},
		{in: "512m", want: 512 << 20},
		{in: "0", want: 0},
		{in: "", err: "invalid size: ''"},
		{in: "abc", err: "invalid size: 'abc'"},
		{in: "m", err: "invalid size: 'm'"},
		{in: "-1", err: "invalid size: '-1'"},
		{in: "-1m", err: "invalid size: '-1m'"},
		{in: "32bm", err: "invalid suffix: 'bm'"},
		{in: "32mm", err: "invalid suffix: 'mm'"},
		{in: "32mib2", err: "invalid size"},
		{in: "32KiBx", err: "invalid suffix: 'KiBx'"},
		{in: "32.3.3m", err: "invalid size"},
		{in: "1e400", err: "invalid size"},
		{in: "9000000p", err: "too large"},
		{in: "1x", err: "invalid suffix: 'x'"},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSize(%q) = %d, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	// The CLI names the flag.
	_, err := ParseSize("abc")
	err = WithFlag(err, "-m, --memory")
	if want := `invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestParseMemorySwap(t *testing.T) {
	if n, err := ParseMemorySwap("-1"); n != -1 || err != nil {
		t.Errorf("-1: %d %v", n, err)
	}
	if n, err := ParseMemorySwap("1g"); n != 1<<30 || err != nil {
		t.Errorf("1g: %d %v", n, err)
	}
	if _, err := ParseMemorySwap("-2"); err == nil || !strings.Contains(err.Error(), `"--memory-swap" flag`) {
		t.Errorf("-2: %v", err)
	}
}

func TestParseCPUs(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "1", want: 1e9},
		{in: "1.5", want: 1.5e9},
		{in: "0.25", want: 0.25e9},
		{in: ".5", want: 0.5e9},
		{in: "2.", want: 2e9},
		{in: "0", want: 0},
		{in: "0.000000001", want: 1},
		{in: "1.5000000000", want: 1.5e9}, // trailing zeros are not precision
		{in: "+3", want: 3e9},
		{in: "64", want: 64e9},
		{in: "0.0000000001", err: "value is too precise"},
		{in: "-1", err: "cpus cannot be negative"},
		{in: "-0.5", err: "cpus cannot be negative"},
		{in: "", err: "failed to parse"},
		{in: ".", err: "failed to parse"},
		{in: "abc", err: "failed to parse"},
		{in: "1,5", err: "failed to parse"},
		{in: "3/2", err: "failed to parse"},
		{in: "1e3", err: "failed to parse"},
		{in: "1.5.1", err: "failed to parse"},
		{in: "99999999999", err: "too large"},
	}
	for _, tt := range tests {
		got, err := ParseCPUs(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), `"--cpus" flag`) {
				t.Errorf("ParseCPUs(%q) = %d, %v; want error with %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseCPUs(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}
