package meta

import (
	"io/fs"
	"syscall"
)

type stat struct {
	dev, ino, nlink uint64
	blocks          int64
}

func statOf(fi fs.FileInfo) (stat, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return stat{}, false
	}
	return stat{dev: st.Dev, ino: st.Ino, nlink: uint64(st.Nlink), blocks: st.Blocks}, true
}
