package runflags

import (
	"errors"
	"fmt"

	"hutch.dev/hutch/errdefs"
)

// Error is a refused flag value. It prints as pflag does for Docker:
//
//	invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'
//
// Parsers that serve several flags (ParseSize for --memory, --shm-size,
// --memory-swap ...) leave Flag empty; the caller names it with WithFlag.
type Error struct {
	Flag  string // as Docker's help shows it: "-v, --volume", "--mount"
	Value string // the whole value given on the command line
	Err   error  // what is wrong with it
}

func (e *Error) Error() string {
	if e.Flag == "" {
		return fmt.Sprintf("invalid argument %q: %v", e.Value, e.Err)
	}
	return fmt.Sprintf("invalid argument %q for %q flag: %v", e.Value, e.Flag, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Is classifies every refused value as an invalid argument (exit 125).
func (e *Error) Is(target error) bool { return target == errdefs.ErrInvalidArgument }

// WithFlag names the flag in err when it is an *Error without one (or
// replaces a parser's default name); other errors are returned as they are.
func WithFlag(err error, flag string) error {
	var e *Error
	if errors.As(err, &e) {
		c := *e
		c.Flag = flag
		return &c
	}
	return err
}

func bad(flag, value, format string, args ...any) error {
	return &Error{Flag: flag, Value: value, Err: fmt.Errorf(format, args...)}
}
