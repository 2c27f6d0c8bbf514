// Package relay links in the monitor's idle stage, written in C (see
// relay.c): a constructor that runs before the Go runtime when the hutch
// binary is exec'd with _HUTCH_RELAY=1. cmd/hutch imports this package for
// its side effect only.
package relay

// #cgo CFLAGS: -O2 -Wall -Wextra
import "C"
