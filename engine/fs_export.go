package engine

import (
	"context"
	"io"

	"hutch.dev/hutch/archive"
)

// Export writes a tar of the container ref's whole file system, the image
// and the writable layer merged (Docker's export): of the running root
// when it runs, else of its snapshot mounted for the time of the export.
// Mounts inside the container (volumes, binds, tmpfs, /proc) are not in
// it, as in Docker.
func (e *Engine) Export(ctx context.Context, ref string, w io.Writer) error {
	return e.withRootfs(ctx, ref, func(r *record, root *fsRoot) error {
		if err := archive.Tar(ctx, w, root.dir()); err != nil {
			return wrap(&r.Container, "export", err)
		}
		return nil
	})
}
