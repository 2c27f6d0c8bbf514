package main

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	good := map[string]unix.Signal{
		"KILL": unix.SIGKILL, "SIGKILL": unix.SIGKILL, "9": unix.SIGKILL, "term": unix.SIGTERM,
		"SIGUSR1": unix.SIGUSR1, "RTMIN": 34, "RTMIN+3": 37, "SIGRTMAX-2": 62, "RTMAX": 64,
	}
	for in, want := range good {
		got, err := parseSignal(in)
		if err != nil || got != want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "65", "-1", "SIGBOGUS", "RTMIN+40", "RTMIN3"} {
		if _, err := parseSignal(in); err == nil {
			t.Errorf("parseSignal(%q) accepted", in)
		}
	}
}

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
