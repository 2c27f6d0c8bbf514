package archive

import "hutch.dev/hutch/errdefs"

// IDMap maps Size IDs from ContainerID on to HostID, as an OCI
// LinuxIDMapping or a line of /proc/PID/uid_map.
type IDMap struct {
	ContainerID uint32
	HostID      uint32
	Size        uint32
}

// ApplyOption changes how Apply unpacks a layer.
type ApplyOption func(*applyOptions)

type applyOptions struct {
	name      string // the layer as errors name it
	merged    bool
	uids      []IDMap
	gids      []IDMap
	opaqueKey string
	parents   []string // WithParentLayers: lower layer directories, nearest first
}

// WithLayerName names the layer in errors ("layer sha256:...: entry ..."),
// usually its digest. Without it errors name the target directory.
func WithLayerName(name string) ApplyOption {
	return func(o *applyOptions) { o.name = name }
}

// WithMerged applies the layer onto a full tree (the copy snapshotter)
// instead of making an overlay lower layer: a whiteout removes its path and an
// opaque marker empties its directory, except for what this same layer put
// there (image-spec: whiteouts apply to lower layers only). The tree is
// changed in place; see the package comment for what a failure leaves.
func WithMerged() ApplyOption {
	return func(o *applyOptions) { o.merged = true }
}

// WithIDMaps shifts every owner of the layer from container IDs to host IDs,
// for a container in a user namespace. An owner outside the maps fails the
// Apply with errdefs.InvalidArgument.
func WithIDMaps(uids, gids []IDMap) ApplyOption {
	return func(o *applyOptions) { o.uids, o.gids = uids, gids }
}

// WithUserXattr marks opaque directories with user.overlay.opaque, the form
// overlayfs reads when it is mounted with "userxattr" (rootless, kernel 5.11
// and later), instead of trusted.overlay.opaque, which needs CAP_SYS_ADMIN in
// the initial user namespace.
func WithUserXattr() ApplyOption {
	return func(o *applyOptions) { o.opaqueKey = "user.overlay.opaque" }
}

// WithParentLayers names the layer directories below the one being unpacked,
// nearest first (an overlay snapshot's lowerdirs; for a copy snapshotter the
// full tree of the parent). A directory the layer needs but does not list
// (a change to d/y without a d/ entry), and the layer root when the layer has
// no "./" entry, are then made with the mode, owner, xattrs (except
// overlay's own) and times that the same path has in the first of these
// layers showing it as a directory, instead of 0755 root:root: in an overlay
// upper the directory would otherwise hide the lower one's metadata. A lower
// that holds a whiteout, a non-directory or an opaque directory on the way
// to the path hides the layers below it; then, or when no lower has the
// path, the default applies. Paths are looked up inside each lower without
// following any symlink. Without WithMerged only; a full tree has its
// parents already.
func WithParentLayers(dirs ...string) ApplyOption {
	return func(o *applyOptions) { o.parents = dirs }
}

func toHost(maps []IDMap, id int, what string) (int, error) {
	if maps == nil {
		return id, nil
	}
	for _, m := range maps {
		if id >= int(m.ContainerID) && id-int(m.ContainerID) < int(m.Size) {
			return int(m.HostID) + id - int(m.ContainerID), nil
		}
	}
	return 0, errdefs.InvalidArgument("%s %d is not mapped into the user namespace", what, id)
}
