// The monitor's idle stage, in C.
//
// Once a container runs, its monitor has little left to do: copy the
// container's output to the json-file log and to attached clients, pass
// what clients type to the container, start a healthcheck now and then,
// and notice the init's exit. A Go process doing that holds the whole hutch
// binary's runtime and package state (about 17 MB RSS); this loop holds a
// few hundred kB, which is what lets an idle container cost about what
// conmon costs. The Go monitor hands over by exec'ing the hutch binary
// with _HUTCH_RELAY=1 in the environment; this constructor runs before the
// Go runtime starts, does the copying, and when the init has exited and its
// output is drained, execs the binary again with the same argv (the Go
// monitor's "resume" command line) and _HUTCH_RELAY_ACTION=exit, so that Go
// records the exit, tears down and maybe restarts.
//
// Inputs, all in the environment (file descriptors are inherited):
//   _HUTCH_RELAY_PID      the container's init
//   _HUTCH_RELAY_OUT/ERR  output fds (ERR -1 with a terminal: OUT is the pty)
//   _HUTCH_RELAY_IN       the container's stdin (or the pty master), or -1
//   _HUTCH_RELAY_TTY      1 with a terminal
//   _HUTCH_RELAY_LOG      the log's fd, already flock'ed (the lock is what
//                         tells `logs -f` that the log still grows)
//   _HUTCH_RELAY_LOG_PATH, _LOG_MAX, _LOG_FILES   rotation, as logfile does
//   _HUTCH_RELAY_LISTEN   the attach socket, or -1
//   _HUTCH_RELAY_CLIENTS  connected clients, "8,9"
//   _HUTCH_RELAY_HEALTH_MS  healthcheck interval, 0 for none
//
// The log format, escaping, 16 KiB partial entries and rotation are the
// logfile package's (logfile/encode.go, writer.go, stream.go): both write
// the same files, and logfile's reader reads both.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 16384
#define MAX_CLIENTS 64
#define MAX_FRAME (1 << 20)

extern char **environ;

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);
	return v && *v ? atoi(v) : def;
}

static long long env_ll(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? atoll(v) : 0;
}

// ---- the log -----------------------------------------------------------

static struct {
	int fd;
	const char *path;
	long long size, max_size;
	int max_files;
} lg = {.fd = -1};

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void rotated(char *dst, size_t cap, int n) { snprintf(dst, cap, "%s.%d", lg.path, n); }

// log_rotate makes a new, locked live file and moves the old ones up,
// so that the live path always names a whole log file (logfile's rotate).
static int log_rotate(void)
{
	char tmp[4096], a[4096], b[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", lg.path);
	int nf = open(tmp, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (nf < 0)
		return -1;
	if (flock(nf, LOCK_EX | LOCK_NB) < 0) {
		close(nf);
		unlink(tmp);
		return -1;
	}
	if (lg.max_files > 1) {
		rotated(a, sizeof a, lg.max_files - 1);
		unlink(a);
		for (int k = lg.max_files - 2; k >= 1; k--) {
			rotated(a, sizeof a, k);
			rotated(b, sizeof b, k + 1);
			rename(a, b);
		}
		rotated(a, sizeof a, 1);
		if (link(lg.path, a) < 0 && rename(lg.path, a) < 0)
			goto fail;
	}
	if (rename(tmp, lg.path) < 0)
		goto fail;
	close(lg.fd);
	lg.fd = nf;
	lg.size = 0;
	return 0;
fail:
	close(nf);
	unlink(tmp);
	return -1;
}

// rfc3339nano formats t as Go's time.RFC3339Nano in UTC: trailing zeros of
// the fraction dropped, and the dot with them.
static size_t rfc3339nano(char *dst, struct timespec t)
{
	struct tm tm;
	gmtime_r(&t.tv_sec, &tm);
	size_t n = strftime(dst, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	if (t.tv_nsec) {
		char frac[16];
		snprintf(frac, sizeof frac, "%09ld", t.tv_nsec);
		int l = 9;
		while (l > 0 && frac[l - 1] == '0')
			l--;
		dst[n++] = '.';
		memcpy(dst + n, frac, l);
		n += l;
	}
	dst[n++] = 'Z';
	return n;
}

// utf8_len returns the length of the valid UTF-8 sequence at s (at most
// n bytes), or 0 when it is not one (Go's utf8.DecodeRune rules: no
// overlong forms, no surrogates, nothing above U+10FFFF).
static int utf8_len(const unsigned char *s, size_t n, uint32_t *r)
{
	unsigned char c = s[0];
	int len;
	uint32_t min;
	if (c < 0x80) {
		*r = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, *r = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, *r = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, *r = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*r = (*r << 6) | (s[i] & 0x3f);
	}
	if (*r < min || *r > 0x10ffff || (*r >= 0xd800 && *r <= 0xdfff))
		return 0;
	return len;
}

static char entry[MAX_LINE * 6 + 256];

// log_entry writes one json-file entry (logfile's appendEntry).
static void log_entry(const char *stream, const unsigned char *s, size_t n, struct timespec t)
{
	static const char hex[] = "0123456789abcdef";
	char *p = entry;
	if (lg.fd < 0 || n == 0)
		return;
	p += sprintf(p, "{\"log\":\"");
	for (size_t i = 0; i < n;) {
		unsigned char b = s[i];
		if (b < 0x80) {
			if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
				*p++ = (char)b;
			} else if (b == '"' || b == '\\') {
				*p++ = '\\', *p++ = (char)b;
			} else if (b == '\n') {
				*p++ = '\\', *p++ = 'n';
			} else if (b == '\r') {
				*p++ = '\\', *p++ = 'r';
			} else {
				p += sprintf(p, "\\u00%c%c", hex[b >> 4], hex[b & 0xf]);
			}
			i++;
			continue;
		}
		uint32_t r;
		int l = utf8_len(s + i, n - i, &r);
		if (l == 0) {
			p += sprintf(p, "\\ufffd");
			i++;
			continue;
		}
		if (r == 0x2028 || r == 0x2029) {
			p += sprintf(p, "\\u202%c", hex[r & 0xf]);
		} else {
			memcpy(p, s + i, l);
			p += l;
		}
		i += l;
	}
	p += sprintf(p, "\",\"stream\":\"%s\",\"time\":\"", stream);
	p += rfc3339nano(p, t);
	p += sprintf(p, "\"}\n");
	size_t len = (size_t)(p - entry);
	if (lg.max_size > 0 && lg.size > 0 && lg.size + (long long)len > lg.max_size)
		log_rotate();
	if (write_all(lg.fd, entry, len) == 0)
		lg.size += (long long)len;
}

// ---- clients -----------------------------------------------------------

struct client {
	int fd;
	unsigned char *buf; // frames being read
	size_t len;
};
static struct client clients[MAX_CLIENTS];
static int nclients;

static void drop_client(int i)
{
	close(clients[i].fd);
	free(clients[i].buf);
	clients[i] = clients[--nclients];
}

static void add_client(int fd)
{
	if (nclients == MAX_CLIENTS) {
		close(fd);
		return;
	}
	// A client that does not read for 5 s is dropped rather than let it
	// stall the container's output (the Go monitor does the same).
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	clients[nclients++] = (struct client){.fd = fd};
}

static void broadcast(char kind, const void *p, size_t n)
{
	unsigned char hdr[5] = {(unsigned char)kind, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				(unsigned char)(n >> 8), (unsigned char)n};
	for (int i = 0; i < nclients;) {
		if (write_all(clients[i].fd, (char *)hdr, 5) < 0 || write_all(clients[i].fd, p, n) < 0) {
			drop_client(i);
			continue;
		}
		i++;
	}
}

// ---- the container's side ------------------------------------------------

struct output {
	int fd;
	const char *stream;
	char kind;
	unsigned char line[MAX_LINE];
	size_t len;
	struct timespec t; // when the line's first byte came
};
static struct output outs[2];
static int in_fd = -1, tty, init_pid;

static void emit(struct output *o, int whole)
{
	(void)whole;
	log_entry(o->stream, o->line, o->len, o->t);
	o->len = 0;
}

// take splits what one read gave into entries: at "\n", or after 16 KiB
// without one (logfile's LineWriter).
static void take(struct output *o, const unsigned char *p, size_t n)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	broadcast(o->kind, p, n);
	while (n > 0) {
		if (o->len == 0)
			o->t = now;
		const unsigned char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) + 1 : n;
		if (take > MAX_LINE - o->len)
			take = MAX_LINE - o->len;
		memcpy(o->line + o->len, p, take);
		o->len += take;
		p += take;
		n -= take;
		if (o->line[o->len - 1] == '\n' || o->len == MAX_LINE)
			emit(o, 1);
	}
}

static void client_frames(struct client *c)
{
	while (c->len >= 5) {
		uint32_t n = (uint32_t)c->buf[1] << 24 | (uint32_t)c->buf[2] << 16 | (uint32_t)c->buf[3] << 8 | c->buf[4];
		if (c->len < 5 + (size_t)n)
			return;
		unsigned char *p = c->buf + 5;
		switch (c->buf[0]) {
		case 'i':
			if (in_fd >= 0)
				write_all(in_fd, (char *)p, n);
			break;
		case 'c':
			if (!tty && in_fd >= 0) {
				close(in_fd);
				in_fd = -1;
			}
			break;
		case 'r':
			if (tty && n >= 8 && outs[0].fd >= 0) {
				struct winsize ws = {.ws_row = (unsigned short)(p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]),
						     .ws_col = (unsigned short)(p[4] << 24 | p[5] << 16 | p[6] << 8 | p[7])};
				ioctl(outs[0].fd, TIOCSWINSZ, &ws);
			}
			break;
		case 's':
			if (n >= 4)
				kill(init_pid, (int)((uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]));
			break;
		}
		memmove(c->buf, c->buf + 5 + n, c->len - 5 - n);
		c->len -= 5 + n;
	}
}

// read_client returns -1 when the client is gone or broken.
static int read_client(struct client *c)
{
	if (!c->buf && !(c->buf = malloc(MAX_FRAME + 5)))
		return -1;
	ssize_t n = read(c->fd, c->buf + c->len, MAX_FRAME + 5 - c->len);
	if (n <= 0)
		return n < 0 && errno == EINTR ? 0 : -1;
	c->len += (size_t)n;
	client_frames(c);
	if (c->len == MAX_FRAME + 5)
		return -1; // a frame larger than any we accept
	return 0;
}

static void clear_cloexec(int fd)
{
	if (fd >= 0)
		fcntl(fd, F_SETFD, 0);
}

// exec_self starts the Go side again with action and the fds it keeps.
static void exec_self(char **argv, const char *action, int status)
{
	char buf[32], list[MAX_CLIENTS * 12 + 1] = "";
	unsetenv("_HUTCH_RELAY");
	setenv("_HUTCH_RELAY_ACTION", action, 1);
	snprintf(buf, sizeof buf, "%d", status);
	setenv("_HUTCH_RELAY_STATUS", buf, 1);
	snprintf(buf, sizeof buf, "%d", lg.fd);
	setenv("_HUTCH_RELAY_LOG", buf, 1);
	clear_cloexec(lg.fd);
	clear_cloexec(env_int("_HUTCH_RELAY_LISTEN", -1));
	for (int i = 0; i < nclients; i++) {
		clear_cloexec(clients[i].fd);
		snprintf(list + strlen(list), 12, "%s%d", i ? "," : "", clients[i].fd);
	}
	setenv("_HUTCH_RELAY_CLIENTS", list, 1);
	// The Go side waits for SIGCHLD through os/signal: it must not
	// inherit our blocked mask.
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv("/proc/self/exe", argv);
	_exit(125);
}

// start_health runs `hutch ... monitor ID` with _HUTCH_RELAY_ACTION=health
// in a child; the Go side runs one check and records it.
static pid_t start_health(char **argv)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid < 0 ? 0 : pid;
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0);
	int devnull = open("/dev/null", O_RDWR);
	dup2(devnull, 0), dup2(devnull, 1), dup2(devnull, 2);
	unsetenv("_HUTCH_RELAY");
	setenv("_HUTCH_RELAY_ACTION", "health", 1);
	execv("/proc/self/exe", argv);
	_exit(127);
}

// reap collects every exited child: the init (its status, and 2 s to
// drain its output), the healthcheck, and orphans of the container.
static void reap(int *status, pid_t *health_pid, struct timespec *drain_until)
{
	for (;;) {
		int ws;
		pid_t p = waitpid(-1, &ws, WNOHANG);
		if (p <= 0)
			return;
		if (p == *health_pid)
			*health_pid = 0;
		if (p == init_pid) {
			*status = WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : WEXITSTATUS(ws);
			clock_gettime(CLOCK_MONOTONIC, drain_until);
			drain_until->tv_sec += 2;
		}
	}
}

static void relay(int argc, char **argv)
{
	(void)argc;
	init_pid = env_int("_HUTCH_RELAY_PID", 0);
	tty = env_int("_HUTCH_RELAY_TTY", 0);
	in_fd = env_int("_HUTCH_RELAY_IN", -1);
	outs[0] = (struct output){.fd = env_int("_HUTCH_RELAY_OUT", -1), .stream = "stdout", .kind = 'o'};
	outs[1] = (struct output){.fd = env_int("_HUTCH_RELAY_ERR", -1), .stream = "stderr", .kind = 'e'};
	lg.fd = env_int("_HUTCH_RELAY_LOG", -1);
	lg.path = getenv("_HUTCH_RELAY_LOG_PATH");
	lg.max_size = env_ll("_HUTCH_RELAY_LOG_MAX");
	lg.max_files = env_int("_HUTCH_RELAY_LOG_FILES", 1);
	if (!lg.path)
		lg.fd = -1;
	struct stat st;
	if (lg.fd >= 0 && fstat(lg.fd, &st) == 0)
		lg.size = st.st_size;
	int listen_fd = env_int("_HUTCH_RELAY_LISTEN", -1);
	int health_ms = env_int("_HUTCH_RELAY_HEALTH_MS", 0);
	const char *cl = getenv("_HUTCH_RELAY_CLIENTS");
	for (const char *p = cl; p && *p;) {
		add_client(atoi(p));
		p = strchr(p, ',');
		if (p)
			p++;
	}
	for (int i = 0; i < 2; i++)
		if (outs[i].fd >= 0)
			fcntl(outs[i].fd, F_SETFD, FD_CLOEXEC);
	if (in_fd >= 0)
		fcntl(in_fd, F_SETFD, FD_CLOEXEC);
	if (lg.fd >= 0)
		fcntl(lg.fd, F_SETFD, FD_CLOEXEC);
	if (listen_fd >= 0)
		fcntl(listen_fd, F_SETFD, FD_CLOEXEC);

	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	int tfd = -1;
	if (health_ms > 0) {
		tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
		struct itimerspec its = {.it_interval = {health_ms / 1000, (health_ms % 1000) * 1000000L},
					 .it_value = {health_ms / 1000, (health_ms % 1000) * 1000000L}};
		timerfd_settime(tfd, 0, &its, NULL);
	}
	pid_t health_pid = 0;
	int status = -1; // the init's, once it exited
	struct timespec drain_until = {0};
	// The init may have exited before the signalfd existed (its SIGCHLD
	// went to the Go monitor, or was discarded): look once now.
	fcntl(sfd, F_SETFL, O_NONBLOCK);
	reap(&status, &health_pid, &drain_until);

	for (;;) {
		struct pollfd pf[4 + MAX_CLIENTS];
		int n = 0, i_out = n;
		for (int i = 0; i < 2; i++)
			pf[n++] = (struct pollfd){.fd = outs[i].fd, .events = POLLIN};
		int i_sig = n;
		pf[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
		int i_listen = n;
		pf[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		int i_timer = n;
		pf[n++] = (struct pollfd){.fd = status < 0 ? tfd : -1, .events = POLLIN};
		int i_cl = n, ncl = nclients;
		for (int i = 0; i < ncl; i++)
			pf[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};

		int open_outs = (outs[0].fd >= 0) + (outs[1].fd >= 0);
		if (status >= 0) {
			// The init is gone: finish once its output is drained (or
			// after 2 s: a process outside the container may hold a pipe).
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			if (open_outs == 0 || now.tv_sec > drain_until.tv_sec ||
			    (now.tv_sec == drain_until.tv_sec && now.tv_nsec >= drain_until.tv_nsec))
				break;
		}
		int r = poll(pf, (nfds_t)n, status >= 0 ? 100 : -1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (!(pf[i_out + i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			unsigned char buf[32768];
			ssize_t got = read(outs[i].fd, buf, sizeof buf);
			if (got > 0) {
				take(&outs[i], buf, (size_t)got);
			} else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
				// EOF, or EIO: a pty master whose last slave closed.
				if (outs[i].len)
					emit(&outs[i], 0);
				if (!(tty && outs[i].fd == in_fd))
					close(outs[i].fd);
				outs[i].fd = -1;
			}
		}
		if (pf[i_sig].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0)
				;
			reap(&status, &health_pid, &drain_until);
		}
		if (pf[i_listen].revents & POLLIN) {
			int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				add_client(c);
		}
		if (tfd >= 0 && (pf[i_timer].revents & POLLIN)) {
			uint64_t ticks;
			if (read(tfd, &ticks, sizeof ticks) > 0 && health_pid == 0)
				health_pid = start_health(argv);
		}
		// Clients last: dropping one reorders the array.
		for (int i = ncl - 1; i >= 0; i--) {
			if (pf[i_cl + i].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (read_client(&clients[i]) < 0)
					drop_client(i);
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (outs[i].fd >= 0 && outs[i].len)
			emit(&outs[i], 0);
	if (in_fd >= 0)
		close(in_fd);
	exec_self(argv, "exit", status < 0 ? 255 : status);
}

__attribute__((constructor)) static void relay_constructor(int argc, char **argv, char **envp)
{
	(void)envp;
	const char *v = getenv("_HUTCH_RELAY");
	if (!v || strcmp(v, "1") != 0)
		return;
	relay(argc, argv);
}
