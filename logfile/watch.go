package logfile

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// watcher wakes a follower when the file it reads changes. It watches that
// one file (not the directory) with inotify: a write is IN_MODIFY; the
// writer's link and rename of a rotation change the file's link count
// (IN_ATTRIB) or move it (IN_MOVE_SELF), and the writer's close, or its
// death, is IN_CLOSE_WRITE. A poll backs it up, and replaces it where inotify
// is missing or out of watches.
//
// Only the events other than IN_MODIFY can mean that the writer rotated or
// finished, so only they (and the poll) make the follower check for that:
// while lines stream in, a wake-up costs one read.
type watcher struct {
	f     *os.File // the inotify descriptor, non-blocking, so Close ends Read
	fd    int      // the same; f.Fd() would make it blocking
	wd    int
	wake  chan struct{}
	check atomic.Bool // an event other than IN_MODIFY came
	poll  time.Duration
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
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&^syscall.IN_MODIFY != 0 {
				w.check.Store(true)
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
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
	w.check.Store(true)
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

// needCheck reports whether the follower must look for a rotation or the end
// of the writer, and clears the request.
func (w *watcher) needCheck() bool {
	return w.wd < 0 || w.check.Swap(false)
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
		w.check.Store(true)
	}
	return true
}

func (w *watcher) close() {
	if w.f != nil {
		w.f.Close()
	}
}
