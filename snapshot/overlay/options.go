package overlay

import (
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// kernelOptions are added to every overlay mount, each only when the
// kernel knows it (its module parameter exists):
//
//   - index=off: with the inode index on, overlay records in each upper
//     which lowers it was mounted with and refuses (EBUSY, "failed to
//     verify upper root origin") to mount lowers that another mount uses
//     as its upper, or an upper on another set of lowers. Image layers are
//     shared by many mounts at once, so the index must stay off.
//   - redirect_dir=off and metacopy=off: with redirects, renaming a lower
//     directory leaves only an xattr pointing at the lower path in the
//     upper; with metacopy, a chmod copies up metadata without the data.
//     Either makes an upper that is not a self-contained layer, and
//     archive.Diff reads uppers as layers. Off, a directory rename in a
//     container gives EXDEV and tools (mv, rename in libc users) copy.
var kernelOptions = sync.OnceValue(func() []string {
	params := "/sys/module/overlay/parameters"
	if _, err := os.Stat(params); err != nil {
		// Not loaded yet: fsopen looks the file system type up, which
		// loads the module, so the parameters appear.
		if fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC); err == nil {
			unix.Close(fd)
		}
	}
	var opts []string
	for _, p := range []struct{ param, opt string }{
		{"index", "index=off"},
		{"redirect_dir", "redirect_dir=off"},
		{"metacopy", "metacopy=off"},
	} {
		if _, err := os.Stat(filepath.Join(params, p.param)); err == nil {
			opts = append(opts, p.opt)
		}
	}
	return opts
})

// options returns a fresh copy of kernelOptions for appending.
func options() []string { return append([]string(nil), kernelOptions()...) }
