// Package runflags turns the strings of Docker's command line (`-v`,
// `--mount`, `-p`, `--memory`, `--ulimit`, `--restart`, `--env-file` ...)
// into typed values, with Docker's syntax and Docker's refusals.
//
// It sits on the hot path of `hutch run`, so it imports only the standard
// library (and errdefs): no cobra, no Docker libraries. Every parser returns
// an *Error on bad input, which reads as pflag's message
// (invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc')
// and is classified errdefs.ErrInvalidArgument, so the command line exits
// 125 as Docker does.
//
// Where Docker's client and daemon disagree or have changed over time the
// choice is written beside the parser; the rule is "what a current docker
// CLI talking to a current dockerd refuses or accepts".
package runflags
