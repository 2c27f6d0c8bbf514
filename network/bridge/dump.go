package bridge

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// retryDump runs a netlink dump again while the kernel reports that the
// table changed under it (NLM_F_DUMP_INTR, netlink.ErrDumpInterrupted):
// with containers coming and going in parallel, links, addresses and
// routes change all the time, and a partial list would make a check wrong.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var v T
	var err error
	for range 10 {
		v, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}
