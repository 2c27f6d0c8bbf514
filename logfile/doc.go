// Package logfile writes and reads container logs in the format of Docker's
// json-file driver: one JSON object per line,
//
//	{"log":"hello\n","stream":"stdout","time":"2026-11-29T10:00:00.123456789Z"}
//
// with Docker's rotation (max-size, max-file: path, path.1, path.2, ...), so
// that tools made for Docker's logs read Hutch's and the other way round.
//
// The Writer runs inside every container's monitor, which has to stay small,
// so the package imports little: no fmt, no encoding/json, no reflection.
// Entries are encoded by hand exactly as dockerd's encoder does and decoded
// by a small parser that allocates nothing per line. See docs/logs.md.
package logfile
