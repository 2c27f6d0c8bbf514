package runtime

import (
	"fmt"
	"os"
	"time"
)

// Phase timing for development: HUTCH_TRACE=1 prints how long after the
// process started each step of create/start/delete ended.
var (
	traceOn    = os.Getenv("HUTCH_TRACE") != ""
	traceStart = time.Now()
)

func tracef(format string, args ...any) {
	if traceOn {
		fmt.Fprintf(os.Stderr, "[%6.2fms] %s\n", float64(time.Since(traceStart).Microseconds())/1000, fmt.Sprintf(format, args...))
	}
}
