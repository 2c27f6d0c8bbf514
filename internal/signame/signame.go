// Package signame reads signals as people write them on command lines
// (Docker's --stop-signal, kill -s, runc's kill).
package signame

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// Parse accepts a signal as KILL, SIGKILL, kill, 9 or RTMIN+N.
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.InvalidArgument("signal %q: out of range", s)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if strings.HasPrefix(name, "SIGRTMIN") || strings.HasPrefix(name, "SIGRTMAX") {
		base := 34 // SIGRTMIN as glibc reports it
		if strings.HasPrefix(name, "SIGRTMAX") {
			base = 64
		}
		rest := name[len("SIGRTMIN"):]
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(strings.TrimLeft(rest, "+-"))
			if err != nil || (rest[0] != '+' && rest[0] != '-') {
				return 0, errdefs.InvalidArgument("signal %q: unknown", s)
			}
			off = n
			if rest[0] == '-' {
				off = -n
			}
		}
		v := base + off
		if v < 34 || v > 64 {
			return 0, errdefs.InvalidArgument("signal %q: out of range", s)
		}
		return unix.Signal(v), nil
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.InvalidArgument("signal %q: unknown", s)
}
