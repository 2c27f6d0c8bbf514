// process.c: the container process's own attributes, set by the init
// from inside the namespaces (see init.c for the order): loopback, session
// keyring, console, hostnames, sysctls, rlimits and the other per-process
// knobs, the executable and cwd checks, seccomp, credentials and
// capabilities, and the hooks run from inside the container.
//
// This is a port of the Go init (runtime/*_linux.go, runtime/hooks.go):
// the error texts are kept word for word, since the parent and the tests
// read them.
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#endif
#ifndef PR_CAP_AMBIENT_RAISE
#define PR_CAP_AMBIENT_RAISE 2
#endif
#ifndef PR_CAP_AMBIENT_CLEAR_ALL
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef SECCOMP_SET_MODE_FILTER
#define SECCOMP_SET_MODE_FILTER 1
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC
#define SECCOMP_FILTER_FLAG_TSYNC (1UL << 0)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef BPF_MAXINSNS
#define BPF_MAXINSNS 4096
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// The 32-bit id syscalls where the plain ones take 16-bit ids (i386, arm).
#ifdef SYS_setgroups32
#define SYS_SETGROUPS_ SYS_setgroups32
#else
#define SYS_SETGROUPS_ SYS_setgroups
#endif
#ifdef SYS_setresgid32
#define SYS_SETRESGID_ SYS_setresgid32
#else
#define SYS_SETRESGID_ SYS_setresgid
#endif
#ifdef SYS_setresuid32
#define SYS_SETRESUID_ SYS_setresuid32
#else
#define SYS_SETRESUID_ SYS_setresuid
#endif

// --- network, keyring, console, names ---

int loopback_up(void)
{
	// One ioctl pair on a throwaway socket: no netlink needed for "lo".
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("bring up lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		fail("bring up lo: SIOCGIFFLAGS");
		close(fd);
		return -1;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		fail("bring up lo: SIOCSIFFLAGS");
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int join_session_keyring(struct init_config *c)
{
	char name[512];
	snprintf(name, sizeof(name), "_ses.%s", c->id ? c->id : "");
	// A keyring of the container's own, so it cannot read the host's keys.
	// Kernels without keys, and user namespaces refused them, go without.
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name, 0, 0, 0) < 0 &&
	    errno != ENOSYS && errno != EPERM && errno != EACCES)
		return fail("join session keyring");
	return 0;
}

static int mount_dev_console(const char *slave_path)
{
	// A plain file to mount on: an existing node is never opened, it could
	// be a real console.
	int fd = open("/dev/console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	else if (errno != EEXIST)
		return fail("create /dev/console");
	if (mount(slave_path, "/dev/console", "", MS_BIND, "") < 0)
		return fail("bind mount /dev/console");
	return 0;
}

// attach_fd makes msg carry fd in an SCM_RIGHTS message held in cbuf.
static void attach_fd(struct msghdr *msg, char cbuf[CMSG_SPACE(sizeof(int))], int fd)
{
	memset(cbuf, 0, CMSG_SPACE(sizeof(int)));
	msg->msg_control = cbuf;
	msg->msg_controllen = CMSG_SPACE(sizeof(int));
	struct cmsghdr *cm = CMSG_FIRSTHDR(msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
}

// send_master hands the pty master to the console socket (SCM_RIGHTS), the
// slave's path as the data, as runc does.
static int send_master(int sock, const char *slave_path, int master)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {(void *)slave_path, strlen(slave_path)};
	struct msghdr msg = {0};
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	attach_fd(&msg, cbuf, master);
	for (;;) {
		// MSG_NOSIGNAL: a receiver gone away is an error to report, not a
		// SIGPIPE that kills the init silently.
		if (sendmsg(sock, &msg, MSG_NOSIGNAL) >= 0)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

int setup_console(struct init_config *c, int mount_console)
{
	int master = -1, slave = -1, rc = -1;
	char slave_path[64];
	master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		return fail("open /dev/ptmx");
	int unlock = 0;
	if (ioctl(master, TIOCSPTLCK, &unlock) < 0) {
		fail("unlock pty");
		goto out;
	}
	unsigned int n;
	if (ioctl(master, TIOCGPTN, &n) < 0) {
		fail("pty number");
		goto out;
	}
	snprintf(slave_path, sizeof(slave_path), "/dev/pts/%u", n);
	slave = open(slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (slave < 0) {
		fail("open %s", slave_path);
		goto out;
	}
	if (slave < 3) {
		// With stdio closed the slave could land on 0-2, and dup3 onto
		// itself would fail: move it out of the way.
		int fd = fcntl(slave, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			fail("dup pty");
			goto out;
		}
		close(slave);
		slave = fd;
	}
	if (c->has_console_size) {
		struct winsize ws;
		memset(&ws, 0, sizeof(ws));
		ws.ws_row = (unsigned short)c->console_height;
		ws.ws_col = (unsigned short)c->console_width;
		if (ioctl(slave, TIOCSWINSZ, &ws) < 0) {
			fail("set console size");
			goto out;
		}
	}
	if (mount_console && mount_dev_console(slave_path) < 0)
		goto out;
	if (send_master(c->console_fd, slave_path, master) < 0) {
		fail("send pty master to the console socket");
		goto out;
	}
	close(c->console_fd);
	c->console_fd = -1;
	for (int fd = 0; fd < 3; fd++) {
		if (dup3(slave, fd, 0) < 0) {
			fail("dup pty to fd %d", fd);
			goto out;
		}
	}
	if (ioctl(0, TIOCSCTTY, 0) < 0) {
		fail("set controlling terminal");
		goto out;
	}
	rc = 0;
out:
	// The receiver owns the master now; fds 0-2 hold the slave.
	if (slave >= 0)
		close(slave);
	close(master);
	return rc;
}

int set_hostnames(struct init_config *c)
{
	if (c->hostname && *c->hostname && sethostname(c->hostname, strlen(c->hostname)) < 0)
		return fail("hostname \"%s\"", c->hostname);
	if (c->domainname && *c->domainname && setdomainname(c->domainname, strlen(c->domainname)) < 0)
		return fail("domainname \"%s\"", c->domainname);
	return 0;
}

// write_proc_file writes s to an existing file. No O_CREAT (unlike Go's
// os.WriteFile): where /proc is not procfs, a missing file must fail,
// not be created in the container's root.
static int write_proc_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, s, strlen(s));
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int write_sysctls(struct init_config *c)
{
	for (int i = 0; i < c->nsysctls; i++) {
		struct sysctl_entry *s = &c->sysctls[i];
		const char *key = s->key ? s->key : "", *value = s->value ? s->value : "";
		char path[PATH_MAX];
		int n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			errno = ENAMETOOLONG;
			return fail("linux.sysctl %s=%s", key, value);
		}
		// dotsToSlashes: the dotted key names the path; a slash in the key
		// stands for a dot in a name (an interface such as eth0.100).
		for (char *p = path + strlen("/proc/sys/"); *p; p++) {
			if (*p == '.')
				*p = '/';
			else if (*p == '/')
				*p = '.';
		}
		if (write_proc_file(path, value) < 0)
			return fail("linux.sysctl %s=%s", key, value);
	}
	return 0;
}

// --- rlimits and the other per-process knobs ---

struct rlim64 {
	uint64_t cur, max;
};

int set_rlimits(struct init_config *c, int final)
{
	for (int i = 0; i < c->nrlimits; i++) {
		struct rlimit_entry *r = &c->rlimits[i];
		struct rlim64 lim = {r->soft, r->hard}, cur;
		if (!final) {
			// The hard limit now, so that a limit we may not set fails
			// create with its name; the soft one stays at most what it
			// was, so the init never runs under a tiny RLIMIT_AS or
			// RLIMIT_NOFILE. The final call, right before execve, sets
			// the soft limit, which is always allowed.
			if (syscall(SYS_prlimit64, 0, r->resource, NULL, &cur) == 0)
				lim.cur = cur.cur < r->hard ? cur.cur : r->hard;
		}
		if (syscall(SYS_prlimit64, 0, r->resource, &lim, NULL) < 0) {
			int err = errno;
			memset(&cur, 0, sizeof(cur));
			syscall(SYS_prlimit64, 0, r->resource, NULL, &cur);
			errno = 0;
			return fail("process.rlimits %s: soft %llu hard %llu: %s (the runtime's hard limit is %llu)",
				    r->name ? r->name : "?", (unsigned long long)r->soft,
				    (unsigned long long)r->hard, errstr(err), (unsigned long long)cur.max);
		}
	}
	return 0;
}

int set_oom_score_adj(struct init_config *c)
{
	if (!c->has_oom_score_adj)
		return 0;
	char v[32];
	snprintf(v, sizeof(v), "%d", c->oom_score_adj);
	if (write_proc_file("/proc/self/oom_score_adj", v) < 0)
		return fail("process.oomScoreAdj %s", v);
	return 0;
}

int set_personality(struct init_config *c)
{
	if (!c->has_personality)
		return 0;
	if (syscall(SYS_personality, c->personality) < 0)
		return fail("linux.personality");
	return 0;
}

int set_ioprio(struct init_config *c)
{
	if (!c->has_ioprio)
		return 0;
	if (syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, c->ioprio) < 0)
		return fail("process.ioPriority");
	return 0;
}

int set_scheduler(struct init_config *c)
{
	if (!c->sched_attr || c->sched_attr_len == 0)
		return 0;
	// The kernel reads as many bytes as the struct's own size field says:
	// give it a zero-padded, aligned copy rather than the exact buffer.
	uint64_t buf[16];
	void *attr = c->sched_attr;
	if (c->sched_attr_len <= sizeof(buf)) {
		memset(buf, 0, sizeof(buf));
		memcpy(buf, c->sched_attr, c->sched_attr_len);
		attr = buf;
	}
	if (syscall(SYS_sched_setattr, 0, attr, 0) < 0)
		return fail("process.scheduler: sched_setattr");
	return 0;
}

// --- the executable and the working directory ---

// clean_path is Go's filepath.Clean: the shortest equivalent path, by
// lexical processing only. out holds at least strlen(in) + 2 bytes.
static void clean_path(const char *in, char *out)
{
	int rooted = in[0] == '/';
	size_t w = 0, dotdot = 0; // dotdot: where ".." may no longer back up
	if (rooted) {
		out[w++] = '/';
		dotdot = 1;
	}
	const char *p = in;
	while (*p) {
		if (*p == '/') {
			p++;
		} else if (p[0] == '.' && (p[1] == '/' || !p[1])) {
			p++;
		} else if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || !p[2])) {
			p += 2;
			if (w > dotdot) {
				// back up to the previous separator
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			while (*p && *p != '/')
				out[w++] = *p++;
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = 0;
}

// check_executable is checkExecutable: 0, or -1 with errno for a stat
// failure, or -2 for a directory, -3 for no execute bit at all.
static int check_executable(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return -2;
	if ((st.st_mode & 0111) == 0)
		return -3;
	return 0;
}

int look_path(struct init_config *c, char *out, size_t outlen)
{
	const char *name = c->args.v[0];
	if (strchr(name, '/')) {
		int rc = check_executable(name);
		if (rc == -1)
			// Go unwraps the *PathError: the errno text alone.
			return fail("exec \"%s\"", name);
		errno = 0;
		if (rc == -2)
			return fail("exec \"%s\": is a directory", name);
		if (rc == -3)
			return fail("exec \"%s\": permission denied", name);
		if (strlen(name) >= outlen) {
			errno = ENAMETOOLONG;
			return fail("exec \"%s\"", name);
		}
		strcpy(out, name);
		return 0;
	}
	// The container's PATH, the last one set; the default is runc's.
	const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (int i = 0; i < c->env.n; i++)
		if (strncmp(c->env.v[i], "PATH=", 5) == 0)
			path = c->env.v[i] + 5;
	// An empty PATH is no directory at all (filepath.SplitList), not ".".
	if (*path) {
		size_t cap = strlen(path) + strlen(name) + 4;
		char *joined = malloc(cap), *cand = malloc(cap);
		if (!joined || !cand)
			abort();
		for (const char *p = path;;) {
			const char *end = strchrnul(p, ':');
			int dlen = (int)(end - p);
			if (dlen == 0)
				snprintf(joined, cap, "./%s", name);
			else
				snprintf(joined, cap, "%.*s/%s", dlen, p, name);
			clean_path(joined, cand);
			if (check_executable(cand) == 0 && strlen(cand) < outlen) {
				strcpy(out, cand);
				free(joined);
				free(cand);
				return 0;
			}
			if (!*end)
				break;
			p = end + 1;
		}
		free(joined);
		free(cand);
	}
	errno = 0;
	return fail("exec \"%s\": executable file not found in $PATH", name);
}

int check_cwd(struct init_config *c)
{
	struct stat st;
	if (stat(c->cwd, &st) < 0)
		return fail("process.cwd \"%s\"", c->cwd);
	if (!S_ISDIR(st.st_mode)) {
		errno = 0;
		return fail("process.cwd \"%s\": not a directory", c->cwd);
	}
	return 0;
}

int enter_cwd(struct init_config *c)
{
	if (chdir(c->cwd) < 0)
		return fail("process.cwd \"%s\"", c->cwd);
	// CVE-2024-21626: a cwd reached through an fd of ours (/proc/self/fd/N)
	// would leave the process in a host directory. The raw syscall, not
	// glibc's getcwd, which turns "(unreachable)/..." into ENOENT.
	char buf[PATH_MAX];
	long n = syscall(SYS_getcwd, buf, sizeof(buf));
	if (n < 0)
		return fail("process.cwd \"%s\": getcwd", c->cwd);
	if (n == 0 || buf[0] != '/') {
		errno = 0;
		return fail("process.cwd \"%s\": lies outside the container's root", c->cwd);
	}
	return 0;
}

// --- seccomp ---

// send_listener_fd hands the listener to the seccomp agent, as the
// runtime spec describes: connect to its socket and send the container
// process state, with the listener fd on the first part of it.
static int send_listener_fd(const char *path, int fd, const char *state)
{
	size_t len = state ? strlen(state) : 0;
	if (len == 0) {
		// The rights ride on the data; without any, the agent reads none.
		errno = 0;
		return fail("seccomp agent %s: empty container process state", path);
	}
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return fail("seccomp agent %s: socket", path);
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int rc;
	while ((rc = connect(sock, (struct sockaddr *)&sa, sizeof(sa))) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		fail("seccomp agent %s: connect", path);
		close(sock);
		return -1;
	}
	char cbuf[CMSG_SPACE(sizeof(int))];
	int first = 1;
	for (size_t sent = 0; sent < len;) {
		struct iovec iov = {(void *)(state + sent), len - sent};
		struct msghdr msg = {0};
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		if (first)
			attach_fd(&msg, cbuf, fd);
		ssize_t n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fail("seccomp agent %s: send state and listener fd: sendmsg", path);
			close(sock);
			return -1;
		}
		sent += (size_t)n;
		first = 0;
	}
	close(sock);
	return 0;
}

int load_seccomp(struct init_config *c)
{
	// finish_and_exec loads before or after the credentials depending on
	// no_new_privs; whichever comes, it comes once.
	static int loaded;
	if (c->seccomp_program_len == 0 || loaded)
		return 0;
	loaded = 1;
	size_t len = c->seccomp_program_len;
	const unsigned char *b = c->seccomp_program;
	errno = 0;
	if (len < 8)
		return fail("linux.seccomp: seccomp: program of %zu bytes: too short", len);
	size_t flen = len - 8;
	if (flen == 0 || flen % sizeof(struct sock_filter) != 0)
		return fail("linux.seccomp: seccomp: filter of %zu bytes is not a BPF program", flen);
	size_t ninsns = flen / sizeof(struct sock_filter);
	if (ninsns > BPF_MAXINSNS)
		return fail("linux.seccomp: seccomp: filter of %zu instructions: the kernel takes at most %d",
			    ninsns, BPF_MAXINSNS);
	uint64_t flags = 0;
	for (int i = 0; i < 8; i++)
		flags |= (uint64_t)b[i] << (8 * i);
	// An aligned copy; the instructions are already in host order.
	struct sock_filter *insns = malloc(flen);
	if (!insns)
		abort();
	memcpy(insns, b + 8, flen);
	struct sock_fprog prog = {(unsigned short)ninsns, insns};

	flags |= SECCOMP_FILTER_FLAG_TSYNC;
	int listener = (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0;
	if (listener)
		// The kernel refuses TSYNC with a listener unless a failed sync
		// reports ESRCH instead of a thread id where the fd goes.
		flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
	long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned long)flags, &prog);
	int err = errno;
	free(insns);
	if (r < 0) {
		errno = err;
		return fail("linux.seccomp: seccomp: load filter: seccomp");
	}
	if (!listener) {
		if (r != 0) {
			errno = 0;
			return fail("linux.seccomp: seccomp: load filter: thread %ld cannot take it (TSYNC)", r);
		}
		return 0;
	}
	int fd = (int)r;
	if (c->seccomp_listener_fd < 0) {
		close(fd);
		errno = 0;
		return fail("linux.seccomp: SCMP_ACT_NOTIFY needs listenerPath");
	}
	// The agent's socket may be out of reach from inside the root: the
	// parent opened it (O_PATH) on the host, and connect goes through it.
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", c->seccomp_listener_fd);
	int rc = send_listener_fd(path, fd, c->seccomp_state);
	close(fd);
	if (rc < 0)
		return failx("linux.seccomp.listenerPath");
	return 0;
}

// --- credentials and capabilities ---

// last_cap is the highest capability the kernel knows, from procfs, else
// probed with PR_CAPBSET_READ (no /proc in the root), else 40
// (CAP_CHECKPOINT_RESTORE).
static int last_cap(void)
{
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[16];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			char *end;
			long v = strtol(buf, &end, 10);
			if (end != buf && v >= 0 && v < 64)
				return (int)v;
		}
	}
	if (prctl(PR_CAPBSET_READ, 40, 0, 0, 0) >= 0) {
		int last = 40;
		while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
			last++;
		return last;
	}
	if (errno == EINVAL) {
		for (int last = 39; last >= 0; last--)
			if (prctl(PR_CAPBSET_READ, last, 0, 0, 0) >= 0)
				return last;
	}
	return 40;
}

static int set_user(struct init_config *c)
{
	int n = c->nadditional_gids;
	if (syscall(SYS_SETGROUPS_, n, n > 0 ? c->additional_gids : NULL) < 0) {
		// Denied in a user namespace with setgroups=deny (rootless);
		// it only matters when groups were asked for.
		if (n > 0) {
			int err = errno;
			char list[1024];
			size_t w = 0;
			list[w++] = '[';
			for (int i = 0; i < n && w < sizeof(list) - 16; i++)
				w += (size_t)snprintf(list + w, sizeof(list) - w, i ? " %u" : "%u",
						      (unsigned)c->additional_gids[i]);
			snprintf(list + w, sizeof(list) - w, "]");
			errno = err;
			return fail("process.user.additionalGids %s", list);
		}
	}
	// Raw syscalls: glibc's wrappers would signal every thread to follow;
	// there is only this one.
	if (syscall(SYS_SETRESGID_, c->gid, c->gid, c->gid) < 0)
		return fail("process.user.gid %u: setresgid", c->gid);
	if (syscall(SYS_SETRESUID_, c->uid, c->uid, c->uid) < 0)
		return fail("process.user.uid %u: setresuid", c->uid);
	if (c->has_umask)
		umask(c->umask);
	return 0;
}

// set_credentials works in the order the kernel needs: narrow the bounding
// set while still privileged, keep the permitted set across the uid change
// (PR_SET_KEEPCAPS), change the ids, then install the final sets and the
// ambient raises.
int set_credentials(struct init_config *c)
{
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[2];
	if (c->has_caps) {
		int last = last_cap();
		memset(&hdr, 0, sizeof(hdr));
		memset(data, 0, sizeof(data));
		hdr.version = _LINUX_CAPABILITY_VERSION_3;
		if (syscall(SYS_capget, &hdr, data) < 0)
			return fail("capabilities");
		// Dropping from the bounding set needs CAP_SETPCAP; without it
		// (as the Go library did) the set is left as it is.
		if (data[0].effective & (1u << CAP_SETPCAP)) {
			for (int i = 0; i <= last; i++) {
				if ((c->cap_bounding >> i) & 1)
					continue;
				// EINVAL: a capability this kernel does not have.
				if (prctl(PR_CAPBSET_DROP, i, 0, 0, 0) < 0 && errno != EINVAL)
					return fail("process.capabilities.bounding");
			}
		}
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return fail("prctl(PR_SET_KEEPCAPS)");
	}
	if (set_user(c) < 0)
		return -1;
	if (!c->has_caps)
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
		return fail("prctl(PR_SET_KEEPCAPS)");
	memset(&hdr, 0, sizeof(hdr));
	hdr.version = _LINUX_CAPABILITY_VERSION_3;
	data[0].effective = (uint32_t)c->cap_effective;
	data[1].effective = (uint32_t)(c->cap_effective >> 32);
	data[0].permitted = (uint32_t)c->cap_permitted;
	data[1].permitted = (uint32_t)(c->cap_permitted >> 32);
	data[0].inheritable = (uint32_t)c->cap_inheritable;
	data[1].inheritable = (uint32_t)(c->cap_inheritable >> 32);
	if (syscall(SYS_capset, &hdr, data) < 0)
		return fail("process.capabilities");
	// Ambient capabilities must be permitted and inheritable; the kernel
	// refuses the others, which runc ignores too (and kernels before 4.3
	// have no ambient set at all).
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int i = 0; i < 64; i++)
		if ((c->cap_ambient >> i) & 1)
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, i, 0, 0);
	return 0;
}

// --- hooks ---

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// wait_timeout waits for pid until deadline (ms, CLOCK_MONOTONIC): 0 with
// *status once it exits, 1 on timeout (pid still unreaped), -1 on error.
static int wait_timeout(pid_t pid, int64_t deadline, int *status)
{
	int pidfd = -1;
#ifdef SYS_pidfd_open
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
#endif
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid) {
			if (pidfd >= 0)
				close(pidfd);
			return 0;
		}
		if (r < 0 && errno != EINTR) {
			int err = errno;
			if (pidfd >= 0)
				close(pidfd);
			errno = err;
			return -1;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			if (pidfd >= 0)
				close(pidfd);
			return 1;
		}
		if (pidfd >= 0) {
			// Readable when the process exits; no SIGCHLD handler needed.
			struct pollfd pfd = {pidfd, POLLIN, 0};
			poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		} else {
			// Kernels before 5.3: poll for the exit in 1 ms steps.
			struct timespec ts = {0, 1000000};
			nanosleep(&ts, NULL);
		}
	}
}

static int wait_plain(pid_t pid, int *status)
{
	for (;;) {
		if (waitpid(pid, status, 0) == pid)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

// run_child is the hook's side of the fork: its own process group (so a
// timeout kills what it started too), state on stdin, output to the memfd.
// An error goes back as an errno on errpipe.
static void __attribute__((noreturn))
run_child(struct hook *h, int in, int out, int errpipe)
{
	char *argv0[2] = {h->path, NULL};
	char *envp0[1] = {NULL}; // the hook's env from the spec, not ours
	sigset_t none;
	if (setpgid(0, 0) == 0 &&
	    // Out of 0-2 first, so that the dups below cannot clobber each other.
	    (in = fcntl(in, F_DUPFD_CLOEXEC, 3)) >= 0 && (out = fcntl(out, F_DUPFD_CLOEXEC, 3)) >= 0 &&
	    dup2(in, 0) >= 0 && dup2(out, 1) >= 0 && dup2(out, 2) >= 0) {
		// Nothing of the init's (the sync socket, the fifo) for the hook.
		syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execve(h->path, h->args.n > 0 ? h->args.v : argv0, h->env.n > 0 ? h->env.v : envp0);
	}
	int err = errno;
	if (write(errpipe, &err, sizeof(err)) < 0) {
		// the parent sees "exit status 127" then
	}
	_exit(127);
}

// exit_text is Go's ProcessState.String for a failed process.
static void exit_text(int status, char *buf, size_t cap)
{
	if (WIFEXITED(status)) {
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
	} else if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		const char *name = strsignal(sig);
		char lower[128];
		snprintf(lower, sizeof(lower), "%s", name ? name : "unknown signal");
		lower[0] = (char)tolower((unsigned char)lower[0]);
		snprintf(buf, cap, "signal: %s%s", lower, WCOREDUMP(status) ? " (core dumped)" : "");
	} else {
		snprintf(buf, cap, "exit status %d", status);
	}
}

// spawn_and_wait starts the hook and waits for it (up to its timeout);
// the outcome is in *status.
static int spawn_and_wait(struct hook *h, int in, int out, int *status)
{
	int errpipe[2];
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return fail("pipe");
	int64_t deadline = h->has_timeout ? now_ms() + h->timeout * 1000 : 0;
	pid_t pid = fork();
	if (pid < 0) {
		fail("fork/exec %s", h->path);
		close(errpipe[0]);
		close(errpipe[1]);
		return -1;
	}
	if (pid == 0) {
		close(errpipe[0]);
		run_child(h, in, out, errpipe[1]);
	}
	close(errpipe[1]);
	// EOF once execve closed the pipe; an errno if setup or exec failed.
	int child_err = 0;
	ssize_t n;
	while ((n = read(errpipe[0], &child_err, sizeof(child_err))) < 0 && errno == EINTR)
		;
	close(errpipe[0]);
	if (n == (ssize_t)sizeof(child_err)) {
		wait_plain(pid, status);
		errno = child_err;
		return fail("fork/exec %s", h->path);
	}
	if (!h->has_timeout) {
		if (wait_plain(pid, status) < 0)
			return fail("wait");
		return 0;
	}
	int w = wait_timeout(pid, deadline, status);
	if (w < 0)
		return fail("wait");
	if (w == 1) {
		// The whole group: whatever the hook started goes too.
		kill(-pid, SIGKILL);
		wait_plain(pid, status);
		errno = 0;
		return fail("timed out after %llds", (long long)h->timeout);
	}
	return 0;
}

// hook_result turns a finished hook's status into 0 or the error, with
// what the hook said (trimmed, at most 4 KiB) after it.
static int hook_result(int status, int out)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	char why[160], msg[4097];
	exit_text(status, why, sizeof(why));
	ssize_t m = pread(out, msg, 4096, 0);
	if (m < 0)
		m = 0;
	msg[m] = 0;
	char *s = msg, *e = msg + m;
	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	*e = 0;
	errno = 0;
	if (*s)
		return fail("%s: %s", why, s);
	return fail("%s", why);
}

static int run_hook(struct hook *h, const char *state)
{
	// A timeout already over (Go's context with a timeout <= 0): the hook
	// is not started at all.
	if (h->has_timeout && h->timeout <= 0) {
		errno = 0;
		return fail("timed out after %llds", (long long)h->timeout);
	}
	// Output to a memfd rather than a pipe: a child the hook left behind
	// holding a pipe open would keep us waiting for EOF.
	int out = memfd_create("hook-output", MFD_CLOEXEC);
	if (out < 0)
		return fail("memfd_create");
	// The state in a memfd too: a hook that never reads its stdin cannot
	// block us on a full pipe.
	int in = memfd_create("hook-state", MFD_CLOEXEC);
	if (in < 0) {
		fail("memfd_create");
		close(out);
		return -1;
	}
	int rc = -1;
	if (write_all(in, state ? state : "", state ? strlen(state) : 0) < 0 || lseek(in, 0, SEEK_SET) < 0) {
		fail("write the state for the hook");
	} else {
		// An ignored SIGCHLD (inherited across exec) would have the
		// kernel reap the hook before we read its status.
		struct sigaction dfl, old;
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		int restore = sigaction(SIGCHLD, &dfl, &old) == 0;
		int status = 0;
		if (spawn_and_wait(h, in, out, &status) == 0)
			rc = hook_result(status, out);
		if (restore)
			sigaction(SIGCHLD, &old, NULL);
	}
	close(in);
	close(out);
	return rc;
}

int run_hooks(const char *kind, struct hook *hooks, int n, const char *state)
{
	for (int i = 0; i < n; i++) {
		if (run_hook(&hooks[i], state) < 0)
			return failx("hooks.%s[%d] %s", kind, i, hooks[i].path ? hooks[i].path : "");
	}
	return 0;
}
