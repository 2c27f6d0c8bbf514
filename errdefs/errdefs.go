// Package errdefs holds the error classes shared by every layer of Hutch.
//
// Errors are wrapped with the object and operation they concern
// (fmt.Errorf("container %s: start: %w", id, err)) and classified by
// wrapping one of these sentinels, so the command line can map a class to an
// exit code and a message without parsing strings.
package errdefs

import (
	"errors"
	"fmt"
)

var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrConflict           = errors.New("conflict")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrNotImplemented     = errors.New("not implemented")
)

// classified carries a class and a message of its own; Error() prints only
// the message so that the class word does not clutter what the user reads.
type classified struct {
	class error
	msg   string
}

func (c *classified) Error() string        { return c.msg }
func (c *classified) Is(target error) bool { return target == c.class }

func newf(class error, format string, args ...any) error {
	return &classified{class: class, msg: fmt.Sprintf(format, args...)}
}

// NotFound and friends build an error of that class with the given message.
func NotFound(format string, args ...any) error { return newf(ErrNotFound, format, args...) }
func AlreadyExists(format string, args ...any) error {
	return newf(ErrAlreadyExists, format, args...)
}
func InvalidArgument(format string, args ...any) error {
	return newf(ErrInvalidArgument, format, args...)
}
func Conflict(format string, args ...any) error { return newf(ErrConflict, format, args...) }
func FailedPrecondition(format string, args ...any) error {
	return newf(ErrFailedPrecondition, format, args...)
}
func NotImplemented(format string, args ...any) error {
	return newf(ErrNotImplemented, format, args...)
}

func IsNotFound(err error) bool           { return errors.Is(err, ErrNotFound) }
func IsAlreadyExists(err error) bool      { return errors.Is(err, ErrAlreadyExists) }
func IsInvalidArgument(err error) bool    { return errors.Is(err, ErrInvalidArgument) }
func IsConflict(err error) bool           { return errors.Is(err, ErrConflict) }
func IsFailedPrecondition(err error) bool { return errors.Is(err, ErrFailedPrecondition) }
func IsNotImplemented(err error) bool     { return errors.Is(err, ErrNotImplemented) }
