// Package archive turns layer tars into directories and directories into
// layer tars.
//
// Apply unpacks one layer (gzip, zstd or plain tar) into a directory that
// becomes one read-only overlay lower layer, translating the OCI whiteouts
// (.wh.NAME, .wh..wh..opq) into overlayfs's own form; WithMerged applies a
// layer onto a full tree instead (the copy snapshotter). Diff writes the layer
// tar of an overlay upper directory, and Tar the tar of a whole tree.
//
// # Never leaving the root
//
// Every path of a layer is resolved inside the target directory by the kernel:
// the parent directory of each entry is opened with openat2(2) and
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS on a descriptor of the root, so ".."
// and absolute symlinks met on the way stop at the root, exactly as they would
// inside the container (CVE-2018-15664, CVE-2019-14271 and the many "symlink
// then write through it" tar bugs). The last component is then created with
// the *at call on that parent descriptor and never followed: O_NOFOLLOW,
// AT_SYMLINK_NOFOLLOW, linkat(2) without AT_SYMLINK_FOLLOW, and xattrs set
// through /proc/self/fd/PARENT/NAME with lsetxattr(2).
//
// What is rejected and what is contained, per case (runc and containerd
// contain what a container would see anyway; moby also rejects names that
// climb out, which no honest tar writer produces):
//
//   - an entry name that climbs above the root after cleaning
//     ("../../etc/passwd", "a/../../x"): rejected, errdefs.InvalidArgument
//     "path escapes the layer root";
//   - an absolute entry name ("/etc/passwd"): contained, taken relative to the
//     root as GNU tar and containerd do;
//   - a symlink entry: its target is data and is written verbatim, whatever
//     it points to ("/", "../../..", a chain); links are only ever resolved
//     inside the root, so a later entry written "through" one lands inside
//     the layer (contained);
//   - a parent directory that is a symlink made earlier in the layer:
//     resolved inside the root (contained);
//   - a hardlink whose target climbs out by name: rejected like any name; an
//     absolute target or one through a symlinked parent is resolved inside the
//     root and fails with "hardlink target not found" when the layer does not
//     hold it: a hardlink can never reach a host file. A target that is itself
//     a symlink is linked as the symlink, never followed.
//
// # Atomicity
//
// Apply (without WithMerged) unpacks into a temporary directory beside dir
// and renames it to dir at the end, so a failed or cancelled Apply leaves
// neither dir nor the temporary directory behind. dir must not exist or be an
// empty directory. With WithMerged the layer is applied in place onto an
// existing tree and a failed Apply leaves it half applied: the caller removes
// the tree (the copy snapshotter prepares a fresh copy for each layer).
package archive
