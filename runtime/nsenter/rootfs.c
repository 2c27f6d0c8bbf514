// rootfs.c: the container's mount tree, its device nodes and the switch
// to its root (the C port of runtime/rootfs_linux.go, inroot_linux.go,
// copytree_linux.go and the device part of devices_linux.go).
//
// Paths inside the container's root are resolved with
// openat2(RESOLVE_IN_ROOT): the kernel treats the rootfs as "/" for every
// symlink and ".." on the way, so a hostile image (/proc -> /host/proc,
// etc -> ../../..) cannot send a mount or a device node outside it. A
// mount target is then named by the fd opened there (/proc/self/fd/N),
// which the kernel follows to exactly that inode: no window for a path
// component to be swapped in between.
//
// Error convention (init.h): -1 with init_error set. Where the Go code
// returned a bare errno, init_error holds just its text, and the caller
// prefixes its context with failx.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "init.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef RESOLVE_NO_MAGICLINKS
#define RESOLVE_NO_MAGICLINKS 0x02
#endif
#ifndef RESOLVE_IN_ROOT
#define RESOLVE_IN_ROOT 0x10
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

// Our own names for the kernel structs: <linux/openat2.h> and
// <linux/mount.h> are not everywhere, and the latter clashes with
// <sys/mount.h> on some glibc versions.
struct hutch_open_how {
	uint64_t flags, mode, resolve;
};

struct hutch_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

// fail_bare sets init_error to the errno text alone: the Go code returned
// the syscall.Errno as it was, and the caller adds the context.
static int fail_bare(void)
{
	snprintf(init_error, sizeof(init_error), "%s", errstr(errno));
	return -1;
}

static void close_keep_errno(int fd)
{
	int saved = errno;
	if (fd >= 0)
		close(fd);
	errno = saved;
}

static void free_keep_errno(void *p)
{
	int saved = errno;
	free(p);
	errno = saved;
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

// clean_abs is Go's filepath.Clean("/" + p): an absolute path with no
// empty, "." or ".." components ("/" for the root). Malloc'd.
static char *clean_abs(const char *p)
{
	char *out = xmalloc(strlen(p) + 2);
	size_t n = 0;
	out[n++] = '/';
	const char *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		if (!*s)
			break;
		const char *e = s;
		while (*e && *e != '/')
			e++;
		size_t l = (size_t)(e - s);
		if (l == 1 && s[0] == '.') {
			// nothing
		} else if (l == 2 && s[0] == '.' && s[1] == '.') {
			// ".." at the root stays at the root
			while (n > 1 && out[n - 1] != '/')
				n--;
			if (n > 1)
				n--;
		} else {
			if (n > 1)
				out[n++] = '/';
			memcpy(out + n, s, l);
			n += l;
		}
		s = e;
	}
	out[n] = 0;
	return out;
}

// join_clean is filepath.Join(a, b) for an absolute a. Malloc'd.
static char *join_clean(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *tmp = xmalloc(la + lb + 2);
	memcpy(tmp, a, la);
	tmp[la] = '/';
	memcpy(tmp + la + 1, b, lb + 1);
	char *out = clean_abs(tmp);
	free(tmp);
	return out;
}

char *fdpath(char *buf, int fd)
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
	return buf;
}

int open_in_root(int rootfd, const char *rel, int flags)
{
	char *abs = clean_abs(rel);
	const char *r = abs[1] ? abs + 1 : ".";
	struct hutch_open_how how = {
		.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC),
		.mode = 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	long fd;
	// EAGAIN: a rename raced with the lookup; the kernel asks for a retry.
	do
		fd = syscall(SYS_openat2, rootfd, r, &how, sizeof(how));
	while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	free_keep_errno(abs);
	return (int)fd;
}

// mkdir_all_in_root makes sure rel exists inside the root, creating the
// missing directories (and, with file, an empty regular file as the last
// component), and returns an O_PATH fd on it; -1 with init_error set.
static int mkdir_all_in_root(int rootfd, const char *rel, int file)
{
	int fd = open_in_root(rootfd, rel, O_PATH);
	if (fd >= 0)
		return fd;
	if (errno != ENOENT)
		return fail_bare();
	char *abs = clean_abs(rel);
	char *p = abs + 1; // "a/b/c": p up to a NUL is the current prefix
	char *start = p;
	for (;;) {
		char *end = strchr(start, '/');
		int last = end == NULL;
		if (!last)
			*end = 0;
		fd = open_in_root(rootfd, p, O_PATH);
		if (fd >= 0) {
			if (last) {
				free(abs);
				return fd;
			}
			close(fd);
			*end = '/';
			start = end + 1;
			continue;
		}
		if (errno != ENOENT)
			goto bare;
		int parent;
		if (start > p) {
			start[-1] = 0;
			parent = open_in_root(rootfd, p, O_PATH | O_DIRECTORY);
			start[-1] = '/';
		} else {
			parent = open_in_root(rootfd, "", O_PATH | O_DIRECTORY);
		}
		if (parent < 0)
			goto bare;
		int r;
		if (last && file) {
			r = openat(parent, start, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
			if (r >= 0)
				close(r);
		} else {
			r = mkdirat(parent, start, 0755);
		}
		close_keep_errno(parent);
		if (r < 0 && errno != EEXIST)
			goto bare;
		if (r < 0) {
			// The name is there but did not resolve: a dangling symlink.
			errno = 0;
			fail("/%s: dangling symlink", p);
			free(abs);
			return -1;
		}
		if (last)
			break;
		*end = '/';
		start = end + 1;
	}
	free(abs);
	fd = open_in_root(rootfd, rel, O_PATH);
	if (fd < 0)
		return fail_bare();
	return fd;
bare:
	fail_bare();
	free(abs);
	return -1;
}

// --- /proc/self/mountinfo ---

struct mnt {
	char *point, *fstype, *superopts;
};

struct mountinfo {
	char *buf;
	struct mnt *m;
	int n;
};

static void free_mountinfo(struct mountinfo *mi)
{
	free(mi->buf);
	free(mi->m);
	mi->buf = NULL;
	mi->m = NULL;
	mi->n = 0;
}

// read_file reads a whole (proc) file into a NUL-terminated malloc'd
// buffer; -1 with errno set, *op telling which step failed.
static int read_file(const char *path, char **out, const char **op)
{
	*op = "open";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t cap = 16384, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				abort();
			buf = nb;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*op = "read";
			free_keep_errno(buf);
			close_keep_errno(fd);
			return -1;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = 0;
	*out = buf;
	return 0;
}

// unescape undoes mountinfo's octal escapes (\040 for a space) in place.
static void unescape(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') << 6 | (r[2] - '0') << 3 | (r[3] - '0'));
			r += 3;
			continue;
		}
		*w++ = *r;
	}
	*w = 0;
}

// read_mountinfo parses the calling process's mount table: the mount point
// (field 5), and after the " - " separator the filesystem type and the
// super options. The strings point into mi->buf.
static int read_mountinfo(struct mountinfo *mi)
{
	const char *op;
	memset(mi, 0, sizeof(*mi));
	if (read_file("/proc/self/mountinfo", &mi->buf, &op) < 0)
		return fail("%s /proc/self/mountinfo", op);
	int cap = 0;
	char *line = mi->buf;
	while (*line) {
		char *nl = strchr(line, '\n');
		char *next = nl ? nl + 1 : line + strlen(line);
		if (nl)
			*nl = 0;
		if (!*line) {
			line = next;
			continue;
		}
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		char *sep = strstr(line, " - ");
		char *pre[7] = {0}, *post[3] = {0};
		int npre = 0, npost = 0;
		if (sep) {
			*sep = 0;
			char *save, *tok;
			for (tok = strtok_r(line, " \t", &save); tok && npre < 7; tok = strtok_r(NULL, " \t", &save))
				pre[npre++] = tok;
			for (tok = strtok_r(sep + 3, " \t", &save); tok && npost < 3; tok = strtok_r(NULL, " \t", &save))
				post[npost++] = tok;
		}
		if (!sep || npre < 6 || npost < 2) {
			errno = 0;
			fail("mountinfo: bad line \"%s\"", line);
			free_mountinfo(mi);
			return -1;
		}
		if (mi->n == cap) {
			cap = cap ? cap * 2 : 64;
			struct mnt *nm = realloc(mi->m, (size_t)cap * sizeof(*nm));
			if (!nm)
				abort();
			mi->m = nm;
		}
		struct mnt *m = &mi->m[mi->n++];
		unescape(pre[4]);
		m->point = pre[4];
		m->fstype = post[0];
		m->superopts = npost > 2 ? post[2] : "";
		line = next;
	}
	return 0;
}

// --- mounting ---

// locked_flags maps statfs's ST_* flags to the MS_* flags a remount in a
// user namespace must keep. Most have the same values, but ST_RELATIME
// is not MS_RELATIME.
static unsigned long locked_flags(unsigned long st)
{
	static const struct {
		unsigned long st, ms;
	} map[] = {
		{ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV}, {ST_NOEXEC, MS_NOEXEC},
		{ST_RDONLY, MS_RDONLY}, {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME},
		{ST_RELATIME, MS_RELATIME},
	};
	unsigned long ms = 0;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (st & map[i].st)
			ms |= map[i].ms;
	return ms;
}

// remount changes the flags of a mount. In a user namespace the kernel
// locks the nosuid/nodev/noexec/ro/atime flags the mount inherited from a
// more privileged namespace: on EPERM, retry keeping them.
static int remount(const char *path, unsigned long flags)
{
	flags |= MS_REMOUNT;
	int r = mount("", path, NULL, flags, NULL);
	if (r < 0 && errno == EPERM) {
		struct statfs st;
		if (statfs(path, &st) == 0)
			r = mount("", path, NULL, flags | locked_flags((unsigned long)st.f_flags), NULL);
		else
			errno = EPERM;
	}
	if (r < 0)
		return fail("remount %s", path);
	return 0;
}

// remount_at applies flags to the mount now at rel under dirfd, looked up
// afresh so that the walk lands on the new mount. Only a read-only request
// needs the remount: the mount itself had the other flags.
static int remount_at(int dirfd, const char *rel, unsigned long flags)
{
	if (!(flags & MS_RDONLY))
		return 0;
	int fd = open_in_root(dirfd, rel, O_PATH);
	if (fd < 0)
		return fail_bare();
	char p[32];
	int rc = remount(fdpath(p, fd), flags | MS_BIND);
	close(fd);
	return rc;
}

static int apply_propagation(const char *path, const struct mount_entry *m)
{
	for (int i = 0; i < m->npropagation; i++)
		if (mount("", path, NULL, m->propagation[i], NULL) < 0)
			return fail("set propagation %s", path);
	if (m->attr_set || m->attr_clr) {
		struct hutch_mount_attr attr = {.attr_set = m->attr_set, .attr_clr = m->attr_clr};
		if (syscall(SYS_mount_setattr, -1, path, AT_RECURSIVE, &attr, sizeof(attr)) < 0)
			return fail("mount_setattr %s", path);
	}
	return 0;
}

// cgroup_super_opts keeps the controller names (and name=) of a v1
// hierarchy's super options, dropping rw/ro and the like. Malloc'd.
static char *cgroup_super_opts(const char *s)
{
	static const char *const drop[] = {"rw", "ro", "nosuid", "nodev", "noexec", "relatime",
					   "noatime", "clone_children", "xattr", "nsdelegate"};
	char *copy = xstrdup(s), *out = xmalloc(strlen(s) + 1);
	size_t n = 0;
	out[0] = 0;
	// strsep, not strtok: empty items are kept, as strings.Split does.
	for (char *rest = copy, *o; (o = strsep(&rest, ",")) != NULL;) {
		int skip = strncmp(o, "release_agent=", 14) == 0;
		for (size_t i = 0; !skip && i < sizeof(drop) / sizeof(drop[0]); i++)
			skip = strcmp(o, drop[i]) == 0;
		if (skip)
			continue;
		if (n)
			out[n++] = ',';
		size_t l = strlen(o);
		memcpy(out + n, o, l);
		n += l;
		out[n] = 0;
	}
	free(copy);
	return out;
}

// own_cgroup finds the calling process's cgroup in the hierarchy whose
// controller list is key ("memory", "name=systemd", "" for v2) in the
// text of /proc/self/cgroup; "" if none (the hierarchy's root then).
// Malloc'd.
static char *own_cgroup(const char *data, const char *key)
{
	char *found = NULL;
	size_t kl = strlen(key);
	for (const char *line = data; line && *line;) {
		const char *nl = strchr(line, '\n');
		const char *end = nl ? nl : line + strlen(line);
		const char *c1 = memchr(line, ':', (size_t)(end - line));
		const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2 && (size_t)(c2 - c1 - 1) == kl && memcmp(c1 + 1, key, kl) == 0) {
			free(found); // the last one wins, as in a map
			found = strndup(c2 + 1, (size_t)(end - c2 - 1));
			if (!found)
				abort();
		}
		line = nl ? nl + 1 : NULL;
	}
	return found ? found : xstrdup("");
}

static const char *base_name(const char *p)
{
	const char *s = strrchr(p, '/');
	return s && s[1] ? s + 1 : p;
}

static int mount_cgroup2(const char *path, unsigned long flags, const struct mnt *host,
			 const char *own_data, int cgroupns)
{
	int r = -1;
	errno = EPERM;
	if (cgroupns || !host)
		r = mount("cgroup2", path, "cgroup2", flags, NULL);
	if (r < 0 && host) {
		char *own = own_cgroup(own_data, "");
		char *src = join_clean(host->point, own);
		r = mount(src, path, NULL, MS_BIND | MS_REC, NULL);
		free_keep_errno(src);
		free_keep_errno(own);
	}
	if (r < 0)
		return fail("mount cgroup2 %s", path);
	return 0;
}

// mount_cgroup mounts the cgroup filesystem as the container should see
// it. On cgroup v2, one cgroup2 mount. On v1 (and the hybrid layout), a
// tmpfs with one directory per host hierarchy. Each shows the container's
// own cgroup: a fresh cgroup mount with a cgroup namespace of its own (the
// kernel roots it there), otherwise a bind of the container's cgroup. A
// fresh mount without a cgroup namespace would show the host's root
// cgroup, and a writable one would let the container escape its limits.
static int mount_cgroup(struct init_config *c, int rootfd, int target, const struct mount_entry *m,
			unsigned long mflags)
{
	char tpath[32];
	fdpath(tpath, target);
	struct mountinfo mi;
	if (read_mountinfo(&mi) < 0)
		return -1;
	int rc = -1, dir = -1, nv1 = 0;
	char *own_data = NULL;
	const struct mnt *v2 = NULL;
	for (int i = 0; i < mi.n; i++) {
		if (strncmp(mi.m[i].point, "/sys/fs/cgroup", 14) != 0)
			continue;
		if (strcmp(mi.m[i].fstype, "cgroup") == 0)
			nv1++;
		else if (strcmp(mi.m[i].fstype, "cgroup2") == 0)
			v2 = &mi.m[i];
	}
	// Unreadable: no own cgroup is known, the binds show the roots (as Go).
	const char *op;
	if (read_file("/proc/self/cgroup", &own_data, &op) < 0)
		own_data = xstrdup("");
	unsigned long flags = mflags & ~(unsigned long)MS_RDONLY;
	unsigned long ro = mflags & MS_RDONLY;
	if (nv1 == 0) {
		if (mount_cgroup2(tpath, flags, v2, own_data, c->cgroupns) < 0)
			goto out;
		rc = remount_at(rootfd, m->dest, flags | ro);
		goto out;
	}
	if (mount("tmpfs", tpath, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755") < 0) {
		fail("mount tmpfs for cgroups %s", tpath);
		goto out;
	}
	// Walk again from the root: target names the directory under the new
	// tmpfs, not the tmpfs.
	dir = open_in_root(rootfd, m->dest, O_PATH | O_DIRECTORY);
	if (dir < 0) {
		fail_bare();
		goto out;
	}
	for (int i = 0; i < mi.n; i++) {
		const struct mnt *h = &mi.m[i];
		if (strncmp(h->point, "/sys/fs/cgroup", 14) != 0 || strcmp(h->fstype, "cgroup") != 0)
			continue;
		const char *name = base_name(h->point);
		int sub = mkdir_all_in_root(dir, name, 0);
		if (sub < 0)
			goto out;
		char spath[32];
		fdpath(spath, sub);
		char *opts = cgroup_super_opts(h->superopts);
		int r = -1;
		errno = EPERM;
		if (c->cgroupns)
			r = mount("cgroup", spath, "cgroup", flags, opts);
		if (r < 0) {
			// No cgroup namespace of its own (or no right to mount in
			// it): bind the container's cgroup from the host hierarchy.
			char *own = own_cgroup(own_data, opts);
			char *src = join_clean(h->point, own);
			r = mount(src, spath, NULL, MS_BIND | MS_REC, NULL);
			free_keep_errno(src);
			free_keep_errno(own);
			if (r < 0) {
				fail("mount cgroup %s %s", opts, spath);
				free(opts);
				close(sub);
				goto out;
			}
		}
		free(opts);
		close(sub);
		if (remount_at(dir, name, flags | ro) < 0)
			goto out;
		// Co-mounted controllers (cpu,cpuacct) also get a link per name.
		if (strchr(name, ',')) {
			char *parts = xstrdup(name);
			for (char *rest = parts, *part; (part = strsep(&rest, ",")) != NULL;)
				if (symlinkat(name, dir, part) < 0) {
					// best effort, as in Go
				}
			free(parts);
		}
	}
	if (v2) {
		const char *name = base_name(v2->point);
		int sub = mkdir_all_in_root(dir, name, 0);
		if (sub < 0)
			goto out;
		char spath[32];
		int r = mount_cgroup2(fdpath(spath, sub), flags, v2, own_data, c->cgroupns);
		close(sub);
		if (r < 0)
			goto out;
		if (remount_at(dir, name, flags | ro) < 0)
			goto out;
	}
	rc = 0;
	if (ro)
		rc = remount_at(rootfd, m->dest, MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY);
out:
	close_keep_errno(dir);
	free(own_data);
	free_mountinfo(&mi);
	return rc;
}

// --- tmpcopyup ---

static int copy_tree(int src, int dst);

static int copy_entry(int src, int dst, const char *name)
{
	struct stat st;
	if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_bare();
	mode_t mode = st.st_mode & 07777;
	switch (st.st_mode & S_IFMT) {
	case S_IFDIR: {
		if (mkdirat(dst, name, mode) < 0 && errno != EEXIST)
			return fail_bare();
		int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0)
			return fail_bare();
		int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (d < 0) {
			fail_bare();
			close(s);
			return -1;
		}
		int rc = copy_tree(s, d);
		close(d);
		close(s);
		if (rc < 0)
			return -1;
		break;
	}
	case S_IFREG: {
		int s = openat(src, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (s < 0)
			return fail_bare();
		int d = openat(dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
		if (d < 0) {
			fail_bare();
			close(s);
			return -1;
		}
		for (;;) {
			ssize_t n = copy_file_range(s, NULL, d, NULL, 1 << 30, 0);
			if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL))
				n = sendfile(d, s, NULL, 1 << 30);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				fail_bare();
				close(d);
				close(s);
				return -1;
			}
			if (n == 0)
				break;
		}
		close(d);
		close(s);
		break;
	}
	case S_IFLNK: {
		char buf[PATH_MAX + 1];
		ssize_t n = readlinkat(src, name, buf, PATH_MAX);
		if (n < 0)
			return fail_bare();
		buf[n] = 0;
		if (symlinkat(buf, dst, name) < 0)
			return fail_bare();
		break;
	}
	default: // fifos, sockets and device nodes
		if (mknodat(dst, name, st.st_mode, st.st_rdev) < 0)
			return fail_bare();
	}
	if (fchownat(dst, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail_bare();
	// The umask narrowed the mode given at creation.
	if (!S_ISLNK(st.st_mode) && fchmodat(dst, name, mode, 0) < 0)
		return fail_bare();
	return 0;
}

// copy_tree copies the contents of directory src into directory dst (both
// open fds), keeping modes, owners, symlinks and device nodes. Every step
// is an *at call on the fds: no path is resolved twice, nothing is
// followed out of either tree.
static int copy_tree(int src, int dst)
{
	// Read the names through a dup: closedir must not close src.
	int dup = fcntl(src, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return fail_bare();
	DIR *d = fdopendir(dup);
	if (!d) {
		fail_bare();
		close(dup);
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	errno = 0;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof(*nn));
			if (!nn)
				abort();
			names = nn;
		}
		names[n++] = xstrdup(e->d_name);
		errno = 0;
	}
	int rc = 0;
	if (errno) {
		rc = fail_bare();
	}
	closedir(d);
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (copy_entry(src, dst, names[i]) < 0)
			rc = failx("%s", names[i]);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

// --- the spec's mounts ---

static int bind_mount(int rootfd, const struct mount_entry *m, unsigned long flags)
{
	// The parent made the source absolute (relative to the bundle).
	const char *src = m->source;
	struct stat st;
	if (stat(src, &st) < 0)
		return fail("source: stat %s", src);
	int target = mkdir_all_in_root(rootfd, m->dest, !S_ISDIR(st.st_mode));
	if (target < 0)
		return -1;
	char tpath[32];
	fdpath(tpath, target);
	unsigned long bflags = MS_BIND | (m->recursive ? MS_REC : 0);
	if (mount(src, tpath, NULL, bflags, NULL) < 0) {
		fail_bare();
		close(target);
		return -1;
	}
	// Reopen: target still names what lies under the new mount.
	int nt = open_in_root(rootfd, m->dest, O_PATH);
	if (nt < 0) {
		fail_bare();
		close(target);
		return -1;
	}
	fdpath(tpath, nt);
	int rc = 0;
	if (flags & ~(unsigned long)(MS_BIND | MS_REC | MS_REMOUNT))
		rc = remount(tpath, flags | MS_BIND);
	if (rc == 0)
		rc = apply_propagation(tpath, m);
	close(nt);
	close(target);
	return rc;
}

static int mount_one(struct init_config *c, int rootfd, const struct mount_entry *m)
{
	unsigned long flags = m->flags;
	int bind = m->bind;
	if (strcmp(m->type, "bind") == 0) {
		bind = 1;
		flags |= MS_BIND;
	}
	if (bind)
		return bind_mount(rootfd, m, flags);
	int target = mkdir_all_in_root(rootfd, m->dest, 0);
	if (target < 0)
		return -1;
	if (strcmp(m->type, "cgroup") == 0 || strcmp(m->type, "cgroup2") == 0) {
		int rc = mount_cgroup(c, rootfd, target, m, flags);
		close(target);
		return rc;
	}
	int rc = -1, under = -1, mounted = -1;
	// For tmpcopyup, hold the directory the tmpfs is about to hide:
	// lookups through this fd still see what lies underneath.
	if (m->copyup) {
		under = open_in_root(rootfd, m->dest, O_RDONLY | O_DIRECTORY);
		if (under < 0) {
			fail_bare();
			goto out;
		}
	}
	char tpath[32];
	fdpath(tpath, target);
	const char *data = m->data[0] ? m->data : NULL;
	if (mount(m->source, tpath, m->type, flags, data) < 0) {
		if (errno == EPERM && strcmp(m->type, "sysfs") == 0) {
			// sysfs cannot be mounted in a user namespace that does not
			// own the network namespace: bind the host's /sys, as runc.
			if (mount("/sys", tpath, NULL, MS_BIND | MS_REC, NULL) < 0) {
				fail_bare();
				goto out;
			}
			if (remount_at(rootfd, m->dest, flags | MS_BIND) < 0)
				goto out;
		} else {
			fail_bare();
			goto out;
		}
	}
	// target was opened before the mount and names the directory under
	// it: look the destination up again to act on the new mount.
	mounted = open_in_root(rootfd, m->dest, O_RDONLY | O_DIRECTORY);
	if (mounted < 0) {
		fail_bare();
		goto out;
	}
	if (under >= 0 && copy_tree(under, mounted) < 0) {
		failx("tmpcopyup");
		goto out;
	}
	char mpath[32];
	rc = apply_propagation(fdpath(mpath, mounted), m);
out:
	close_keep_errno(mounted);
	close_keep_errno(under);
	close_keep_errno(target);
	return rc;
}

static int mount_all(struct init_config *c, int rootfd)
{
	for (int i = 0; i < c->nmounts; i++) {
		const struct mount_entry *m = &c->mounts[i];
		if (mount_one(c, rootfd, m) < 0)
			return failx("mounts[%d] %s on %s", i, m->type, m->dest);
	}
	return 0;
}

// --- devices ---

// dir_of and base_of split a device path at its last slash ("." and the
// whole path without one). Malloc'd / pointing into p.
static char *dir_of(const char *p)
{
	const char *s = strrchr(p, '/');
	if (!s)
		return xstrdup(".");
	char *d = strndup(p, (size_t)(s - p));
	if (!d)
		abort();
	return d;
}

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

// bind_device: mknod is not allowed in a user namespace; bind the host's
// node at the same path over an empty file instead.
static int bind_device(int parent, const char *name, const char *host_path)
{
	int fd = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return fail_bare();
	char p[32];
	int rc = 0;
	if (mount(host_path, fdpath(p, fd), NULL, MS_BIND, NULL) < 0)
		rc = fail_bare();
	close(fd);
	return rc;
}

static int create_device(struct init_config *c, int rootfd, const struct device_entry *d)
{
	mode_t mode = 0;
	switch (d->type) {
	case 'c':
	case 'u':
		mode = S_IFCHR;
		break;
	case 'b':
		mode = S_IFBLK;
		break;
	case 'p':
		mode = S_IFIFO;
		break;
	}
	// The parent sends the permission bits, 0666 when the spec had none.
	mode_t perm = d->mode & 07777;
	char *dir = dir_of(d->path);
	int parent = mkdir_all_in_root(rootfd, dir, 0);
	free(dir);
	if (parent < 0)
		return -1;
	const char *name = base_of(d->path);
	int rc = -1, fd = -1;
	// The node may already be there (a bind of the host's, or the image's
	// own): replace it so that the spec's numbers win.
	unlinkat(parent, name, 0);
	if (c->has_user && d->type != 'p') {
		rc = bind_device(parent, name, d->path);
		goto out;
	}
	if (mknodat(parent, name, mode | perm, makedev(d->major, d->minor)) < 0) {
		if (errno == EPERM && d->type != 'p')
			rc = bind_device(parent, name, d->path);
		else
			fail_bare();
		goto out;
	}
	fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		fail_bare();
		goto out;
	}
	// mknod is subject to the umask: set the mode explicitly.
	char p[32];
	if (fchmodat(AT_FDCWD, fdpath(p, fd), perm, 0) < 0) {
		fail_bare();
		goto out;
	}
	if (d->uid != -1 || d->gid != -1) {
		if (fchownat(fd, "", (uid_t)d->uid, (gid_t)d->gid, AT_EMPTY_PATH) < 0) {
			fail_bare();
			goto out;
		}
	}
	rc = 0;
out:
	close_keep_errno(fd);
	close_keep_errno(parent);
	return rc;
}

// create_devices makes the devices (the defaults, then the spec's), the
// /dev links and /dev/ptmx.
static int create_devices(struct init_config *c, int rootfd)
{
	for (int i = 0; i < c->ndevices; i++)
		if (create_device(c, rootfd, &c->devices[i]) < 0)
			return failx("linux.devices %s", c->devices[i].path);
	static const char *const links[][2] = {
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"/proc/kcore", "core"},
	};
	size_t nlinks = sizeof(links) / sizeof(links[0]);
	struct stat st;
	if (stat("/proc/kcore", &st) < 0)
		nlinks--;
	int dev = open_in_root(rootfd, "dev", O_PATH | O_DIRECTORY);
	if (dev < 0) {
		fail_bare();
		return failx("/dev");
	}
	// The links are made through the fd on the container's /dev, never by
	// a path walk that an image's dev symlink could lead out of the root.
	for (size_t i = 0; i < nlinks; i++) {
		if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST) {
			fail("symlink /dev/%s", links[i][1]);
			close(dev);
			return -1;
		}
	}
	// /dev/ptmx must be the container's devpts multiplexer.
	int fd = open_in_root(rootfd, "dev/pts/ptmx", O_PATH);
	if (fd >= 0) {
		close(fd);
		unlinkat(dev, "ptmx", 0);
		if (symlinkat("pts/ptmx", dev, "ptmx") < 0) {
			fail("symlink /dev/ptmx");
			close(dev);
			return -1;
		}
	}
	close(dev);
	return 0;
}

// --- the root ---

// make_parent_private: pivot_root refuses a new root whose parent mount
// is shared. Make private the mount holding dirname(rootfs): the longest
// mount point that is a prefix of it.
static int make_parent_private(const char *rootfs)
{
	struct mountinfo mi;
	if (read_mountinfo(&mi) < 0)
		return -1;
	char *parent = clean_abs(rootfs);
	char *slash = strrchr(parent, '/');
	if (slash == parent)
		parent[1] = 0;
	else
		*slash = 0;
	const char *best = NULL;
	size_t bestlen = 0;
	for (int i = 0; i < mi.n; i++) {
		const char *mp = mi.m[i].point;
		size_t l = strlen(mp);
		size_t pl = l > 0 && mp[l - 1] == '/' ? l - 1 : l; // without a trailing "/"
		int match = strcmp(parent, mp) == 0 ||
			    (strncmp(parent, mp, pl) == 0 && parent[pl] == '/');
		if (match && l > bestlen) {
			best = mp;
			bestlen = l;
		}
	}
	int rc = 0;
	if (best && mount("", best, NULL, MS_PRIVATE, NULL) < 0)
		rc = fail("make parent mount private %s", best);
	free(parent);
	free_mountinfo(&mi);
	return rc;
}

// prepare_root makes the mount tree private to the container and turns
// the rootfs into a mount point, which pivot_root requires.
static int prepare_root(struct init_config *c)
{
	// The parent sends rslave when the spec has no rootfsPropagation:
	// host mounts still reach the container, none of its own go back.
	unsigned long flag = c->root_propagation;
	if (!flag)
		flag = MS_SLAVE | MS_REC;
	if (flag & MS_UNBINDABLE) {
		// An unbindable tree cannot give the rootfs bind below;
		// finish_rootfs makes the new root unbindable after the pivot.
		flag = MS_PRIVATE | MS_REC;
	}
	if (mount("", "/", NULL, flag, NULL) < 0)
		return fail("mount propagation of / /");
	if ((flag & MS_SHARED) && make_parent_private(c->rootfs) < 0)
		return -1;
	if (mount(c->rootfs, c->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return fail("bind mount root %s", c->rootfs);
	return 0;
}

// pivot_root_dot makes rootfs the root of the mount namespace and detaches
// the old one. pivot_root(".", ".") stacks the old root on top of the new
// one at "/": the image needs no directory to hold it.
static int pivot_root_dot(const char *rootfs)
{
	int rc = -1, newroot = -1;
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0)
		return fail_bare();
	newroot = open(rootfs, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (newroot < 0) {
		fail_bare();
		goto out;
	}
	if (fchdir(newroot) < 0) {
		fail_bare();
		goto out;
	}
	if (syscall(SYS_pivot_root, ".", ".") < 0) {
		fail("pivot_root %s", rootfs);
		goto out;
	}
	if (fchdir(oldroot) < 0) {
		fail_bare();
		goto out;
	}
	// Make the old root a slave first, so that detaching it does not
	// propagate the unmount to the host.
	if (mount("", ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) {
		fail("make old root rslave /");
		goto out;
	}
	if (umount2(".", MNT_DETACH) < 0) {
		fail("unmount old root /");
		goto out;
	}
	if (chdir("/") < 0) {
		fail_bare();
		goto out;
	}
	rc = 0;
out:
	close_keep_errno(newroot);
	close_keep_errno(oldroot);
	return rc;
}

// move_root is no_pivot: for a root on ramfs/initramfs, where pivot_root
// cannot work, move the rootfs over "/" and chroot into it.
static int move_root(const char *rootfs)
{
	if (chdir(rootfs) < 0)
		return fail_bare();
	if (mount(rootfs, "/", NULL, MS_MOVE, NULL) < 0)
		return fail("move root %s", rootfs);
	if (chroot(".") < 0)
		return fail("chroot %s", rootfs);
	if (chdir("/") < 0)
		return fail_bare();
	return 0;
}

// hooks_sync lets the parent run the prestart and createRuntime hooks
// while the namespaces exist and the root is not switched yet.
static int hooks_sync(struct init_config *c)
{
	if (!c->hooks_sync)
		return 0;
	if (sync_send_type(c, "hooks") < 0)
		return -1;
	return sync_expect(c, "hooks-done");
}

int setup_rootfs(struct init_config *c)
{
	if (prepare_root(c) < 0)
		return -1;
	int rootfd = open(c->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return fail("open %s", c->rootfs);
	hutch_trace("init", "root prepared");
	int rc = mount_all(c, rootfd);
	if (rc == 0) {
		hutch_trace("init", "mounts done");
		if (!c->dev_host_bind)
			rc = create_devices(c, rootfd);
	}
	close_keep_errno(rootfd);
	if (rc < 0)
		return -1;
	if (hooks_sync(c) < 0)
		return -1;
	if (c->ncreate_hooks > 0 &&
	    run_hooks("createContainer", c->create_hooks, c->ncreate_hooks, c->state_created) < 0)
		return -1;
	hutch_trace("init", "devices and hooks done");
	return c->no_pivot ? move_root(c->rootfs) : pivot_root_dot(c->rootfs);
}

// enter_root_without_mountns: a container sharing the host's mount
// namespace can only get its root with chroot (as runc and crun do); no
// mount is made, it would land on the host.
int enter_root_without_mountns(struct init_config *c)
{
	if (hooks_sync(c) < 0)
		return -1;
	if (c->ncreate_hooks > 0 &&
	    run_hooks("createContainer", c->create_hooks, c->ncreate_hooks, c->state_created) < 0)
		return -1;
	if (chroot(c->rootfs) < 0)
		return fail("chroot %s", c->rootfs);
	if (chdir("/") < 0)
		return fail_bare();
	return 0;
}

static int readonly_path(const char *p)
{
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return 0;
		return fail_bare();
	}
	return remount(p, MS_BIND | MS_REC | MS_RDONLY);
}

static int mask_path(const char *p)
{
	int r = mount("/dev/null", p, NULL, MS_BIND, NULL);
	if (r < 0 && errno == ENOTDIR) {
		// A directory: hide it under an empty read-only tmpfs.
		r = mount("tmpfs", p, "tmpfs", MS_RDONLY, "size=0k");
	}
	if (r < 0 && errno != ENOENT)
		return fail_bare();
	return 0;
}

int finish_rootfs(struct init_config *c)
{
	for (int i = 0; i < c->readonly_paths.n; i++)
		if (readonly_path(c->readonly_paths.v[i]) < 0)
			return failx("linux.readonlyPaths %s", c->readonly_paths.v[i]);
	for (int i = 0; i < c->masked_paths.n; i++)
		if (mask_path(c->masked_paths.v[i]) < 0)
			return failx("linux.maskedPaths %s", c->masked_paths.v[i]);
	if (c->root_propagation_final && mount("", "/", NULL, c->root_propagation_final, NULL) < 0)
		return fail("linux.rootfsPropagation /");
	if (c->root_readonly && remount("/", MS_BIND | MS_RDONLY) < 0)
		return failx("root.readonly");
	return 0;
}
