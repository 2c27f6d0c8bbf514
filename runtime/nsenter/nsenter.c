// See nsenter.go for why this runs before the Go runtime and for the protocol.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

#define MAX_MSG (64 * 1024)
#define MAX_JOIN 16
#define MAX_TIMENS 4

static int sync_fd = -1;

static void send_line(const char *line)
{
	if (write_all(sync_fd, line, strlen(line)) < 0)
		_exit(1);
}

static void __attribute__((noreturn, format(printf, 1, 2))) bail(const char *fmt, ...)
{
	char msg[1024], line[1100];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (saved)
		snprintf(line, sizeof(line), "error nsenter: %s: %s\n", msg, strerror(saved));
	else
		snprintf(line, sizeof(line), "error nsenter: %s\n", msg);
	send_line(line);
	_exit(1);
}

// read_until reads from the socket into buf until it holds `want` at the
// end of a line. The parent only sends whole messages, so this is a simple
// accumulate-and-search.
static size_t read_until(char *buf, size_t cap, const char *want)
{
	size_t len = 0;
	size_t wl = strlen(want);
	for (;;) {
		if (len >= wl && memcmp(buf + len - wl, want, wl) == 0 &&
		    (len == wl || buf[len - wl - 1] == '\n'))
			return len;
		if (len + 1 >= cap)
			bail("bootstrap message too long");
		ssize_t n = read(sync_fd, buf + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			bail("read bootstrap");
		}
		if (n == 0) {
			errno = 0;
			bail("parent closed the socket");
		}
		len += (size_t)n;
		buf[len] = 0;
	}
}

static int ns_flag(const char *type)
{
	if (!strcmp(type, "user")) return CLONE_NEWUSER;
	if (!strcmp(type, "mnt")) return CLONE_NEWNS;
	if (!strcmp(type, "pid")) return CLONE_NEWPID;
	if (!strcmp(type, "net")) return CLONE_NEWNET;
	if (!strcmp(type, "ipc")) return CLONE_NEWIPC;
	if (!strcmp(type, "uts")) return CLONE_NEWUTS;
	if (!strcmp(type, "cgroup")) return CLONE_NEWCGROUP;
	if (!strcmp(type, "time")) return CLONE_NEWTIME;
	return 0;
}

void hutch_nsenter(void)
{
	hutch_trace("nsenter", "constructor");
	const char *env = getenv("_HUTCH_INITPIPE");
	if (!env)
		return;
	sync_fd = atoi(env);
	if (sync_fd < 3)
		return;

	// Nobody may ptrace or read the memory of this process while it is
	// still privileged and outside its final credentials; execve makes it
	// dumpable again when the credentials allow it.
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		bail("prctl(PR_SET_DUMPABLE)");

	static char buf[MAX_MSG];
	read_until(buf, sizeof(buf), "end\n");

	struct { int fd; int flag; char path[512]; } join[MAX_JOIN];
	int njoin = 0;
	char timens[MAX_TIMENS][96];
	int ntimens = 0;
	unsigned long flags = 0;

	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char type[32], path[512];
		if (!strncmp(line, "join ", 5)) {
			if (njoin == MAX_JOIN)
				bail("too many namespaces to join");
			if (sscanf(line + 5, "%31s %511[^\n]", type, path) != 2)
				bail("bad join line %s", line);
			int f = ns_flag(type);
			if (!f) {
				errno = 0;
				bail("unknown namespace type %s", type);
			}
			// Open every path before joining anything: joining the
			// mount namespace changes what the paths resolve to.
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				bail("open %s namespace %s", type, path);
			join[njoin].fd = fd;
			join[njoin].flag = f;
			snprintf(join[njoin].path, sizeof(join[njoin].path), "%s", path);
			njoin++;
		} else if (!strncmp(line, "flags ", 6)) {
			flags = strtoul(line + 6, NULL, 10);
		} else if (!strncmp(line, "timens ", 7)) {
			if (ntimens == MAX_TIMENS)
				bail("too many time offsets");
			snprintf(timens[ntimens++], sizeof(timens[0]), "%s\n", line + 7);
		} else if (!strcmp(line, "end")) {
			break;
		}
	}

	int need_fork = 0;
	// The user namespace comes first so that the others are joined (and
	// created) with the privileges it grants.
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < njoin; i++) {
			int is_user = join[i].flag == CLONE_NEWUSER;
			if ((pass == 0) != is_user)
				continue;
			if (setns(join[i].fd, join[i].flag) < 0)
				bail("setns %s", join[i].path);
			close(join[i].fd);
			if (join[i].flag == CLONE_NEWPID || join[i].flag == CLONE_NEWTIME)
				need_fork = 1;
		}
	}

	if (flags & CLONE_NEWUSER) {
		if (unshare(CLONE_NEWUSER) < 0)
			bail("unshare user namespace");
		// The parent, still in the outer user namespace, writes our maps.
		send_line("usermap\n");
		read_until(buf, sizeof(buf), "mapped\n");
		flags &= ~(unsigned long)CLONE_NEWUSER;
	}
	if (flags) {
		if (unshare((int)flags) < 0)
			bail("unshare namespaces 0x%lx", flags);
		if (flags & (CLONE_NEWPID | CLONE_NEWTIME))
			need_fork = 1;
	}
	if (ntimens > 0) {
		// Offsets can only be written while no process lives in the new
		// time namespace, that is before the fork below.
		int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			bail("open /proc/self/timens_offsets");
		for (int i = 0; i < ntimens; i++)
			if (write(fd, timens[i], strlen(timens[i])) < 0)
				bail("write time offset %s", timens[i]);
		close(fd);
	}
	// Inside a user namespace we created or joined, become its root so
	// that the Go stage starts with full capabilities there. Failure means
	// uid 0 is not mapped; the Go stage then runs as the mapped id.
	if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		errno = 0;

	char line[64];
	if (need_fork) {
		// A new (or joined) pid or time namespace only applies to our
		// children: fork, report the child's pid (as our namespace sees
		// it, which is the parent's) and leave.
		pid_t child = fork();
		if (child < 0)
			bail("fork into the new pid namespace");
		if (child > 0) {
			snprintf(line, sizeof(line), "pid %d\n", child);
			send_line(line);
			_exit(0);
		}
		// The child must die with nobody to talk to rather than linger.
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
		hutch_trace("nsenter", "forked, done");
		hutch_init(sync_fd);
	}
	// "pid 0": the process the parent started is the one that goes on.
	// Its own getpid() may be 1, if the parent cloned it into a new pid
	// namespace; the parent knows its real pid.
	send_line("pid 0\n");
	hutch_trace("nsenter", "done");
	hutch_init(sync_fd);
}
