// Package store writes Hutch's state on disk: whole files replaced
// atomically (temp file in the same directory + rename) and directory locks
// taken with flock, so concurrent commands never see a half-written record.
package store

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// WriteFileAtomic replaces path with data: readers see the old or the new
// content, never a mix. The temp file lives beside the target so the rename
// stays within one filesystem.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(data); err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteJSON marshals v and writes it atomically to path.
func WriteJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFileAtomic(path, data, 0o600)
}

// ReadJSON reads path into v.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// Lock is an exclusive flock on a file; Unlock releases it.
type Lock struct{ f *os.File }

// LockFile takes an exclusive lock on path (created if missing), blocking
// until it is free. The lock dies with the process, so a crashed command
// never leaves a stale lock behind.
func LockFile(path string) (*Lock, error) {
	l, _, err := Flock(path, unix.LOCK_EX)
	return l, err
}

// Flock takes a lock of kind how on path (created if missing):
// unix.LOCK_SH or unix.LOCK_EX, with unix.LOCK_NB not to wait. ok is false,
// with no error, when a non-blocking lock is held by someone else.
func Flock(path string, how int) (l *Lock, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err == unix.EWOULDBLOCK {
		f.Close()
		return nil, false, nil
	}
	if err != nil {
		f.Close()
		return nil, false, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, true, nil
}

// LockExisting is LockFile for a lock file that must already exist: it
// never creates one. A record's lock lives in the record's directory; a
// command that waited for it while another removed the directory must not
// bring the file back (the directory could then not be removed).
func LockExisting(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
