package cgfs

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"hutch.dev/hutch/errdefs"
)

// Procs lists the pids in dir and every cgroup below it. cgroup.procs of
// a cgroup holds only its own members, so the tree must be walked.
func Procs(dir string) ([]int, error) {
	var pids []int
	err := walkDirs(dir, func(d string) error {
		s, err := Read(d, "cgroup.procs")
		if err != nil {
			// A child removed while we walk is not an error.
			if errors.Is(err, fs.ErrNotExist) && d != dir {
				return nil
			}
			return err
		}
		for f := range strings.FieldsSeq(s) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("cgroup %s: parse cgroup.procs: %w", d, err)
			}
			pids = append(pids, pid)
		}
		return nil
	})
	return pids, err
}

// walkDirs calls fn for dir and each directory below it, parents first.
func walkDirs(dir string, fn func(string) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != dir {
				return nil
			}
			return fmt.Errorf("cgroup %s: %w", p, unwrapPath(err))
		}
		if !d.IsDir() {
			return nil
		}
		return fn(p)
	})
}

// Removal waits at most this long for the kernel to let go of a cgroup.
// A cgroup whose last task has exited can stay busy for a moment while the
// kernel finishes the task's exit (and, on v1, while a thawed task reaches
// its pending SIGKILL): rmdir then fails with EBUSY.
const removeTimeout = 3 * time.Second

// WaitEmpty waits until no process is left in dir and its descendants,
// for at most the removal timeout (processes just killed need a moment to
// exit). It fails with a FailedPrecondition error naming the cgroup and
// its pids when some stay; a missing dir is empty.
func WaitEmpty(dir string) error {
	var pids []int
	err := WaitFor("cgroup "+dir+": wait for processes to exit", removeTimeout, func() (bool, error) {
		var err error
		pids, err = Procs(dir)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return len(pids) == 0, err
	})
	if err != nil && len(pids) > 0 {
		return errdefs.FailedPrecondition("cgroup %s: still holds processes %v", dir, pids)
	}
	return err
}

// RemoveTree removes dir and the cgroups below it, deepest first. A cgroup
// that is already gone is not an error. It never removes a cgroup that
// still holds processes: the kernel refuses with EBUSY and, once the wait is
// over, the error names the cgroup and its pids.
func RemoveTree(dir string) error {
	var dirs []string
	err := walkDirs(dir, func(d string) error { dirs = append(dirs, d); return nil })
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		if err := rmdir(d); err != nil {
			return err
		}
	}
	return nil
}

func rmdir(dir string) error {
	delay := time.Millisecond
	deadline := time.Now().Add(removeTimeout)
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil, errors.Is(err, unix.ENOENT):
			return nil
		case !errors.Is(err, unix.EBUSY) || time.Now().After(deadline):
			if pids, perr := Procs(dir); perr == nil && len(pids) > 0 {
				return errdefs.FailedPrecondition("cgroup %s: still holds processes %v", dir, pids)
			}
			return fmt.Errorf("cgroup %s: rmdir: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// WaitFor polls cond until it reports true, with a growing delay, for at
// most timeout. It returns cond's error or a timeout error naming what.
func WaitFor(what string, timeout time.Duration, cond func() (bool, error)) error {
	delay := time.Millisecond
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: timed out after %s", what, timeout)
		}
		time.Sleep(delay)
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// Mkdir creates dir and its missing parents and returns the directories it
// created, topmost first, so the caller can initialise each new level (v1
// cpuset) and undo them on failure. mkdir(2) in a cgroup filesystem creates
// a cgroup; EEXIST means another process made it first, which is fine.
func Mkdir(root, dir string) ([]string, error) {
	rel, err := filepath.Rel(root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return nil, fmt.Errorf("cgroup %s: not under %s", dir, root)
	}
	var created []string
	cur := root
	if rel == "." {
		return nil, nil
	}
	for part := range strings.SplitSeq(rel, "/") {
		cur = filepath.Join(cur, part)
		err := unix.Mkdir(cur, 0o755)
		if err == nil {
			created = append(created, cur)
			continue
		}
		if !errors.Is(err, unix.EEXIST) {
			return created, fmt.Errorf("cgroup %s: mkdir: %w", cur, err)
		}
	}
	return created, nil
}

// RemoveCreated undoes Mkdir: it removes the given directories deepest
// first, best effort, for the rollback of a failed Apply.
func RemoveCreated(created []string) {
	for _, d := range slices.Backward(created) {
		_ = unix.Rmdir(d)
	}
}

// IsNotExist reports whether err says a file or cgroup is missing.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
