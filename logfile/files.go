package logfile

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// logFile is one file of a log, open for reading.
type logFile struct {
	f    *os.File
	fi   os.FileInfo
	live bool // it was at path (not path.N) when the set was opened
}

func (lf *logFile) size() (int64, error) {
	fi, err := lf.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func closeFiles(files []*logFile) {
	for _, lf := range files {
		lf.f.Close()
	}
}

var errRaced = errors.New("log rotated while being opened")

// openSet opens the files of the log at path, oldest first, as one
// consistent set: no file twice, none missing between the oldest and the
// live one. With a non-nil after it stops at that file and returns only the
// newer ones (after included, as the oldest), or all if after is gone.
//
// The writer only ever moves a file one number up per rotation (path ->
// path.1 -> path.2), and path changes inode only when a rotation completes.
// So the set opens path first, then tries path.1, path.2, ... in rising
// order up to one past the highest number the directory held (a file moving
// up during the scan is then met at its old number or at its new one, never
// missed), drops an inode met twice, and at the end checks that path is
// still the file it opened first: if it is, no rotation finished while the
// set was opened and the files are the whole chain; if not, it starts again.
func openSet(path string, after os.FileInfo) ([]*logFile, error) {
	for attempt := 0; ; attempt++ {
		files, err := openSetOnce(path, after)
		switch {
		case err == errRaced && attempt < 1000:
		case err == errNoLive && attempt < 20:
			// Where hard links are missing a rotation renames path away
			// before it renames the new file in: path is gone for a
			// moment. Wait a little for it; a writer gone for good in
			// that moment leaves only the rotated files.
		case err == errNoLive:
			return files, nil
		case err != nil:
			return nil, &os.PathError{Op: "open log", Path: path, Err: err}
		default:
			return files, nil
		}
		if err == errNoLive {
			closeFiles(files)
		}
		time.Sleep(time.Millisecond)
	}
}

var errNoLive = errors.New("log has rotated files but no live one")

func openSetOnce(path string, after os.FileInfo) ([]*logFile, error) {
	var files []*logFile // newest first
	live, err := openLogFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if live != nil {
		live.live = true
		files = append(files, live)
	}
	top, err := highestRotated(path)
	if err != nil {
		closeFiles(files)
		return nil, err
	}
	found := false
next:
	for n := 1; n <= top+1 && !found; n++ {
		lf, err := openLogFile(path + "." + strconv.Itoa(n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			closeFiles(files)
			return nil, err
		}
		for _, o := range files {
			if os.SameFile(o.fi, lf.fi) {
				lf.f.Close()
				continue next
			}
		}
		files = append(files, lf)
		found = after != nil && os.SameFile(lf.fi, after)
	}
	fi, err := os.Stat(path)
	if (live == nil) != (err != nil) || (live != nil && !os.SameFile(fi, live.fi)) {
		closeFiles(files)
		return nil, errRaced
	}
	slices.Reverse(files)
	if live == nil && len(files) > 0 {
		return files, errNoLive
	}
	return files, nil
}

func openLogFile(name string) (*logFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &logFile{f: f, fi: fi}, nil
}

// rotatedNumbers lists the N of the files path.N, in rising order.
func rotatedNumbers(path string) ([]int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var nums []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok || rest == "" || rest[0] == '0' {
			continue
		}
		if n, err := strconv.Atoi(rest); err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

func highestRotated(path string) (int, error) {
	nums, err := rotatedNumbers(path)
	if len(nums) == 0 {
		return 0, err
	}
	return nums[len(nums)-1], err
}

// active reports whether a Writer holds f: it asks for a shared flock
// without waiting. A file system without flock answers "yes", so a follower
// there stops only when told to.
func active(f *os.File) bool {
	fd := int(f.Fd())
	for {
		err := syscall.Flock(fd, syscall.LOCK_SH|syscall.LOCK_NB)
		switch err {
		case syscall.EINTR:
			continue
		case nil:
			syscall.Flock(fd, syscall.LOCK_UN)
			return false
		}
		return true
	}
}

// Active reports whether a Writer has the log at path open: whether the
// container's output may still grow it. The lock it tests is released by the
// kernel when the writer's process dies, so a killed monitor counts as
// finished. A missing log is not active.
func Active(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	return active(f), nil
}

// Remove deletes the log at path and its rotated files.
func Remove(path string) error {
	nums, err := rotatedNumbers(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var first error
	for _, name := range append([]string{path, path + tmpSuffix}, numbered(path, nums)...) {
		if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

func numbered(path string, nums []int) []string {
	names := make([]string, len(nums))
	for i, n := range nums {
		names[i] = path + "." + strconv.Itoa(n)
	}
	return names
}
