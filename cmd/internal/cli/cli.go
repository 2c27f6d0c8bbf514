// Package cli holds what the two command lines (hutch and hutch-runc)
// share: the version, the exit-status error and flag helpers.
package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// Version is the version both commands print.
var Version = "0.1.0-dev"

// ExitCodeError lets a command choose the process exit status (run and
// exec return the container process's status). Err, when set, is printed
// first (a container that could not start).
type ExitCodeError struct {
	Code int
	Err  error
}

func (e *ExitCodeError) Error() string {
	if e.Err != nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("exit status %d", e.Code)
}

func (e *ExitCodeError) Unwrap() error { return e.Err }

// ExactArgs is cobra.ExactArgs with a message that says what is expected.
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return errdefs.InvalidArgument("%s: expects %s, got %d argument(s)", cmd.Name(), what, len(args))
		}
		return nil
	}
}

// stringList is a repeatable string flag (-e A -e B), as pflag's
// StringArray, without its cost: pflag renders every default through an
// encoding/csv writer with a 4 KiB buffer when the flag is defined, and the
// CLI defines some eighty such flags on each start (run, create and their
// `container` twins), a measurable part of every command's start-up.
type stringList []string

func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// Type keeps pflag's name in the help output.
func (l *stringList) Type() string { return "stringArray" }

// String is "" when empty, which pflag's help takes for "no default".
func (l *stringList) String() string {
	if len(*l) == 0 {
		return ""
	}
	return "[" + strings.Join(*l, ",") + "]"
}

// ListVarP defines a repeatable string flag on fs.
func ListVarP(fs *pflag.FlagSet, p *[]string, name, short, usage string) {
	fs.VarP((*stringList)(p), name, short, usage)
}

// MakeRaw puts the terminal fd in raw mode (as cfmakeraw) and returns the
// undo.
func MakeRaw(fd int) (restore func(), err error) {
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	saved := *tio
	raw := *tio
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, &saved) }, nil
}
