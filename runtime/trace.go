package runtime

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Phase timing for development: HUTCH_TRACE=1 prints each step of
// create/start/delete with the CLOCK_MONOTONIC time in milliseconds, the
// same clock in every process (the nsenter constructor prints on it too),
// so the lines of parent and child line up.
var traceOn = os.Getenv("HUTCH_TRACE") != ""

func tracef(format string, args ...any) {
	if !traceOn {
		return
	}
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	ms := float64(ts.Sec%1000)*1000 + float64(ts.Nsec)/1e6
	fmt.Fprintf(os.Stderr, "[%9.2f %d] %s\n", ms, os.Getpid(), fmt.Sprintf(format, args...))
}

// TraceMain marks the start of main, for HUTCH_TRACE.
func TraceMain() { tracef("main") }

// Tracef prints one HUTCH_TRACE line for the layers above the runtime
// (engine, monitor), on the same clock.
func Tracef(format string, args ...any) { tracef(format, args...) }
