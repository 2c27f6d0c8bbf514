package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
)

// Init is the Go stage of `hutch init`, the process that becomes the
// container's init (or an exec'd process). The nsenter constructor has
// already put it into the container's namespaces. It never returns.
func Init() {
	// Capabilities, uid changes, personality and no_new_privs are per
	// thread: do all of it on one thread, the one that calls execve.
	goruntime.LockOSThread()
	tracef("init: main")
	fd, err := strconv.Atoi(os.Getenv("_HUTCH_INITPIPE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "hutch init: not started by the runtime")
		os.Exit(255)
	}
	os.Unsetenv("_HUTCH_INITPIPE")
	pipe := newSyncPipe(os.NewFile(uintptr(fd), "sync"))
	var cfg initConfig
	if err := pipe.recv(&cfg); err != nil {
		os.Exit(255)
	}
	switch cfg.Kind {
	case initStandard:
		err = standardInit(pipe, &cfg)
	case initSetns:
		err = setnsInit(pipe, &cfg)
	default:
		err = fmt.Errorf("unknown init kind %q", cfg.Kind)
	}
	// Only reached on failure. Once started, nobody reads the socket: the
	// container's stderr is the only place left to say why.
	if pipe.started {
		fmt.Fprintf(os.Stderr, "hutch init: container %s: %v\n", cfg.ID, err)
	} else {
		pipe.sendError(err)
	}
	os.Exit(255)
}
