package logfile

import (
	"context"
	"os"
	"strconv"
	"time"

	"syscall"
)

// watcher wakes a follower when the file it reads changes. It watches that
// one file (not the directory) with inotify: a write is IN_MODIFY, the
// writer's link and rename of a rotation change its link count (IN_ATTRIB)
// or move it (IN_MOVE_SELF), and the writer's close, or its death, is
// IN_CLOSE_WRITE. A poll backs it up, and replaces it where inotify is
// missing or out of watches.
type watcher struct {
	f    *os.File // the inotify descriptor, non-blocking, so Close ends Read
	fd   int      // the same; f.Fd() would make it blocking
	wd   int
	wake chan struct{}
	poll time.Duration
}

func newWatcher() *watcher {
	w := &watcher{wd: -1, wake: make(chan struct{}, 1), poll: 100 * time.Millisecond}
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return w
	}
	w.f, w.fd = os.NewFile(uintptr(fd), "inotify"), fd
	w.poll = time.Second
	go w.loop()
	return w
}

func (w *watcher) loop() {
	buf := make([]byte, 4096)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// watch moves the watch to f. It names f by its descriptor, so it watches
// the file the follower has open even when path already names another.
func (w *watcher) watch(f *os.File) {
	if w.f == nil {
		return
	}
	if w.wd >= 0 {
		syscall.InotifyRmWatch(w.fd, uint32(w.wd))
		w.wd = -1
	}
	wd, err := syscall.InotifyAddWatch(w.fd, "/proc/self/fd/"+strconv.Itoa(int(f.Fd())),
		syscall.IN_MODIFY|syscall.IN_ATTRIB|syscall.IN_CLOSE_WRITE|syscall.IN_MOVE_SELF|syscall.IN_DELETE_SELF)
	if err != nil {
		w.poll = 100 * time.Millisecond
		return
	}
	w.wd = wd
}

// wait returns when the file may have changed, or false when ctx ended.
func (w *watcher) wait(ctx context.Context) bool {
	t := time.NewTimer(w.poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-w.wake:
	case <-t.C:
	}
	return true
}

func (w *watcher) close() {
	if w.f != nil {
		w.f.Close()
	}
}
