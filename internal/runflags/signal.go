package runflags

import (
	"strconv"
	"strings"
	"syscall"
)

// signals are Linux's signal names without "SIG", as Docker's SignalMap
// (aliases included: CLD, IOT, POLL).
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "BUS": syscall.SIGBUS,
	"CHLD": syscall.SIGCHLD, "CLD": syscall.SIGCLD, "CONT": syscall.SIGCONT,
	"FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP, "ILL": syscall.SIGILL,
	"INT": syscall.SIGINT, "IO": syscall.SIGIO, "IOT": syscall.SIGIOT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "POLL": syscall.SIGPOLL,
	"PROF": syscall.SIGPROF, "PWR": syscall.SIGPWR, "QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV, "STKFLT": syscall.SIGSTKFLT, "STOP": syscall.SIGSTOP,
	"SYS": syscall.SIGSYS, "TERM": syscall.SIGTERM, "TRAP": syscall.SIGTRAP,
	"TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
	"URG": syscall.SIGURG, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"VTALRM": syscall.SIGVTALRM, "WINCH": syscall.SIGWINCH, "XCPU": syscall.SIGXCPU,
	"XFSZ": syscall.SIGXFSZ,
}

// The real-time signals as the kernel numbers them; glibc keeps 32 and 33
// for itself, so its SIGRTMIN, and Docker's RTMIN, is 34.
const (
	sigRTMin = 34
	sigRTMax = 64
)

// ParseSignal parses a signal as Docker's signal.ParseSignal: a number
// (1-64), or a name, case-insensitive, with or without "SIG": "TERM",
// "SIGTERM", "sigkill", "RTMIN", "RTMIN+3", "SIGRTMAX-2".
func ParseSignal(s string) (syscall.Signal, error) {
	sig, err := parseSignal(s)
	if err != nil {
		return 0, &Error{Value: s, Err: err}
	}
	return sig, nil
}

// ParseStopSignal is ParseSignal for --stop-signal.
func ParseStopSignal(s string) (syscall.Signal, error) {
	sig, err := ParseSignal(s)
	return sig, WithFlag(err, "--stop-signal")
}

type signalError string

func (e signalError) Error() string { return "invalid signal: " + string(e) }

func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > sigRTMax {
			return 0, signalError(s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signals[name]; ok {
		return sig, nil
	}
	for _, rt := range []struct {
		prefix string
		base   int
		sign   int
	}{{"RTMIN", sigRTMin, 1}, {"RTMAX", sigRTMax, -1}} {
		rest, ok := strings.CutPrefix(name, rt.prefix)
		if !ok {
			continue
		}
		off := 0
		if rest != "" {
			var sign string
			if rt.sign > 0 {
				sign = "+"
			} else {
				sign = "-"
			}
			d, ok := strings.CutPrefix(rest, sign)
			n, err := strconv.Atoi(d)
			if !ok || err != nil || !digits(d) || n < 1 {
				return 0, signalError(s)
			}
			off = n * rt.sign
		}
		n := rt.base + off
		if n < sigRTMin || n > sigRTMax {
			return 0, signalError(s)
		}
		return syscall.Signal(n), nil
	}
	return 0, signalError(s)
}
