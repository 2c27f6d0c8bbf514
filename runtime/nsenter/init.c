// init.c: the container init, run by the nsenter constructor once the
// process is in the container's namespaces (see init.h for the config,
// runtime/sync.go for the messages). The Go runtime never starts in a
// container's init or exec'd process: a start of the hutch binary's Go
// runtime costs a container more time and memory (in its own cgroup) than
// everything below.
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

char init_error[4096];

const char *errstr(int err)
{
	static char buf[128];
	snprintf(buf, sizeof(buf), "%s", strerror(err));
	buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

int fail(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(init_error, sizeof(init_error), fmt, ap);
	va_end(ap);
	if (saved) {
		size_t n = strlen(init_error);
		snprintf(init_error + n, sizeof(init_error) - n, ": %s", errstr(saved));
	}
	errno = saved;
	return -1;
}

int failx(const char *fmt, ...)
{
	char prefix[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(prefix, sizeof(prefix) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if ((size_t)n > sizeof(prefix) - 3)
		n = (int)sizeof(prefix) - 3;
	memcpy(prefix + n, ": ", 2);
	n += 2;
	// Shift the old message right and put the prefix in front.
	size_t old = strnlen(init_error, sizeof(init_error) - 1);
	if ((size_t)n + old > sizeof(init_error) - 1)
		old = sizeof(init_error) - 1 - (size_t)n;
	memmove(init_error + n, init_error, old);
	memcpy(init_error, prefix, (size_t)n);
	init_error[n + old] = 0;
	return -1;
}

void hutch_trace(const char *stage, const char *what)
{
	const char *t = getenv("HUTCH_TRACE");
	if (t && *t) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		fprintf(stderr, "[%9.2f %d] %s: %s\n",
			(double)(ts.tv_sec % 1000) * 1000 + ts.tv_nsec / 1e6, getpid(), stage, what);
	}
}

// --- the sync socket ---

int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

// send_json_line writes {"type":"<type>"[,"message":"<msg>"]}\n, the
// message escaped for JSON.
static int send_json_line(int fd, const char *type, const char *msg)
{
	static char line[sizeof(init_error) * 6 + 64];
	size_t n = (size_t)snprintf(line, sizeof(line), "{\"type\":\"%s\"", type);
	if (msg) {
		n += (size_t)snprintf(line + n, sizeof(line) - n, ",\"message\":\"");
		for (const unsigned char *p = (const unsigned char *)msg; *p && n < sizeof(line) - 16; p++) {
			switch (*p) {
			case '"': line[n++] = '\\'; line[n++] = '"'; break;
			case '\\': line[n++] = '\\'; line[n++] = '\\'; break;
			case '\n': line[n++] = '\\'; line[n++] = 'n'; break;
			case '\t': line[n++] = '\\'; line[n++] = 't'; break;
			default:
				if (*p < 0x20)
					n += (size_t)snprintf(line + n, sizeof(line) - n, "\\u%04x", *p);
				else
					line[n++] = (char)*p;
			}
		}
		line[n++] = '"';
	}
	line[n++] = '}';
	line[n++] = '\n';
	return write_all(fd, line, n);
}

int sync_send_type(struct init_config *c, const char *type)
{
	if (send_json_line(c->sync_fd, type, NULL) < 0)
		return fail("send %s to the runtime", type);
	return 0;
}

// read_line reads one line, a byte at a time: the parent sends nothing
// past what we wait for, and the lines are short.
static int read_line(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		char ch;
		ssize_t r = read(fd, &ch, 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EPIPE;
			return -1;
		}
		if (ch == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = ch;
	}
	buf[n] = 0;
	return (int)n;
}

int sync_expect(struct init_config *c, const char *type)
{
	char line[256], want[64];
	if (read_line(c->sync_fd, line, sizeof(line)) < 0)
		return fail("wait for %s from the runtime", type);
	snprintf(want, sizeof(want), "\"type\":\"%s\"", type);
	if (!strstr(line, want)) {
		errno = 0;
		return fail("expected %s from the runtime, got %s", type, line);
	}
	return 0;
}

// --- the config ---

struct reader {
	const unsigned char *p, *end;
};

static int next_record(struct reader *r, int *tag, const unsigned char **val, uint32_t *len)
{
	if (r->p == r->end)
		return 0;
	if (r->end - r->p < 6)
		return -1;
	*tag = r->p[0] | r->p[1] << 8;
	*len = (uint32_t)r->p[2] | (uint32_t)r->p[3] << 8 | (uint32_t)r->p[4] << 16 | (uint32_t)r->p[5] << 24;
	r->p += 6;
	if ((size_t)(r->end - r->p) < *len)
		return -1;
	*val = r->p;
	r->p += *len;
	return 1;
}

static int64_t get_int(const unsigned char *v, uint32_t len)
{
	uint64_t x = 0;
	for (uint32_t i = 0; i < len && i < 8; i++)
		x |= (uint64_t)v[i] << (8 * i);
	return (int64_t)x;
}

static char *get_str(const unsigned char *v, uint32_t len)
{
	char *s = malloc(len + 1);
	if (!s)
		abort();
	memcpy(s, v, len);
	s[len] = 0;
	return s;
}

static void *grow(void *arr, int n, size_t size)
{
	void *p = realloc(arr, (size_t)(n + 1) * size);
	if (!p)
		abort();
	memset((char *)p + (size_t)n * size, 0, size);
	return p;
}

static void strv_add(struct strv *l, char *s)
{
	l->v = realloc(l->v, (size_t)(l->n + 2) * sizeof(char *));
	if (!l->v)
		abort();
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
}

#define ADD(arr, n) ((arr) = grow((arr), (n), sizeof(*(arr))), &(arr)[(n)++])

// each_record calls field(obj, tag, value, length) for every record of a
// sequence (a compound's payload, or the whole config); -1 when the
// sequence is malformed.
typedef void (*field_fn)(void *obj, int tag, const unsigned char *v, uint32_t l);

static int each_record(const unsigned char *p, size_t len, field_fn field, void *obj)
{
	struct reader r = {p, p + len};
	int tag, rc;
	const unsigned char *v;
	uint32_t l;
	while ((rc = next_record(&r, &tag, &v, &l)) > 0)
		field(obj, tag, v, l);
	return rc;
}

static void mount_field(void *obj, int tag, const unsigned char *v, uint32_t l)
{
	struct mount_entry *m = obj;
	switch (tag) {
	case M_DEST: m->dest = get_str(v, l); break;
	case M_SOURCE: m->source = get_str(v, l); break;
	case M_TYPE: m->type = get_str(v, l); break;
	case M_FLAGS: m->flags = (unsigned long)get_int(v, l); break;
	case M_DATA: m->data = get_str(v, l); break;
	case M_BIND: m->bind = (int)get_int(v, l); break;
	case M_RECURSIVE: m->recursive = (int)get_int(v, l); break;
	case M_COPYUP: m->copyup = (int)get_int(v, l); break;
	case M_PROPAGATION:
		if (m->npropagation < 8)
			m->propagation[m->npropagation++] = (unsigned long)get_int(v, l);
		break;
	case M_ATTR_SET: m->attr_set = (uint64_t)get_int(v, l); break;
	case M_ATTR_CLR: m->attr_clr = (uint64_t)get_int(v, l); break;
	}
}

static int parse_mount(struct mount_entry *m, const unsigned char *p, uint32_t len)
{
	int rc = each_record(p, len, mount_field, m);
	if (!m->source)
		m->source = get_str((const unsigned char *)"", 0);
	if (!m->type)
		m->type = get_str((const unsigned char *)"", 0);
	if (!m->data)
		m->data = get_str((const unsigned char *)"", 0);
	return rc;
}

static void device_field(void *obj, int tag, const unsigned char *v, uint32_t l)
{
	struct device_entry *d = obj;
	switch (tag) {
	case D_PATH: d->path = get_str(v, l); break;
	case D_TYPE: d->type = (int)get_int(v, l); break;
	case D_MAJOR: d->major = (uint32_t)get_int(v, l); break;
	case D_MINOR: d->minor = (uint32_t)get_int(v, l); break;
	case D_MODE: d->mode = (uint32_t)get_int(v, l); break;
	case D_UID: d->uid = get_int(v, l); break;
	case D_GID: d->gid = get_int(v, l); break;
	}
}

static int parse_device(struct device_entry *d, const unsigned char *p, uint32_t len)
{
	d->uid = d->gid = -1;
	return each_record(p, len, device_field, d);
}

static void hook_field(void *obj, int tag, const unsigned char *v, uint32_t l)
{
	struct hook *h = obj;
	switch (tag) {
	case H_PATH: h->path = get_str(v, l); break;
	case H_ARG: strv_add(&h->args, get_str(v, l)); break;
	case H_ENV: strv_add(&h->env, get_str(v, l)); break;
	case H_TIMEOUT: h->has_timeout = 1; h->timeout = get_int(v, l); break;
	}
}

static void rlimit_field(void *obj, int tag, const unsigned char *v, uint32_t l)
{
	struct rlimit_entry *e = obj;
	switch (tag) {
	case R_RESOURCE: e->resource = (int)get_int(v, l); break;
	case R_SOFT: e->soft = (uint64_t)get_int(v, l); break;
	case R_HARD: e->hard = (uint64_t)get_int(v, l); break;
	case R_NAME: e->name = get_str(v, l); break;
	}
}

static void sysctl_field(void *obj, int tag, const unsigned char *v, uint32_t l)
{
	struct sysctl_entry *e = obj;
	switch (tag) {
	case S_KEY: e->key = get_str(v, l); break;
	case S_VALUE: e->value = get_str(v, l); break;
	}
}

static int parse_config(struct init_config *c, const unsigned char *p, size_t len)
{
	struct reader r = {p, p + len};
	int tag, rc;
	const unsigned char *v;
	uint32_t l;
	c->fifo_fd = c->console_fd = c->seccomp_listener_fd = -1;
	while ((rc = next_record(&r, &tag, &v, &l)) > 0) {
		int64_t i = get_int(v, l);
		switch (tag) {
		case T_KIND: c->kind = (int)i; break;
		case T_ID: c->id = get_str(v, l); break;
		case T_ROOTFS: c->rootfs = get_str(v, l); break;
		case T_NO_PIVOT: c->no_pivot = (int)i; break;
		case T_NO_NEW_KEYRING: c->no_new_keyring = (int)i; break;
		case T_FIFO_FD: c->fifo_fd = (int)i; break;
		case T_CONSOLE_FD: c->console_fd = (int)i; break;
		case T_PRESERVE_FDS: c->preserve_fds = (int)i; break;
		case T_SECCOMP_LISTENER_FD: c->seccomp_listener_fd = (int)i; break;
		case T_HOOKS_SYNC: c->hooks_sync = (int)i; break;
		case T_STATE_CREATED: c->state_created = get_str(v, l); break;
		case T_STATE_RUNNING: c->state_running = get_str(v, l); break;
		case T_SECCOMP_STATE: c->seccomp_state = get_str(v, l); break;
		case T_SECCOMP_PROGRAM:
			c->seccomp_program = (unsigned char *)get_str(v, l);
			c->seccomp_program_len = l;
			break;
		case T_NEW_NET: c->new_net = (int)i; break;
		case T_HAS_USER: c->has_user = (int)i; break;
		case T_HAS_UTS: c->has_uts = (int)i; break;
		case T_HAS_MNT: c->has_mnt = (int)i; break;
		case T_CGROUPNS: c->cgroupns = (int)i; break;
		case T_ROOT_PROPAGATION: c->root_propagation = (unsigned long)i; break;
		case T_ROOT_PROPAGATION_FINAL: c->root_propagation_final = (unsigned long)i; break;
		case T_ROOT_READONLY: c->root_readonly = (int)i; break;
		case T_DEV_HOST_BIND: c->dev_host_bind = (int)i; break;
		case T_MOUNT:
			if (parse_mount(ADD(c->mounts, c->nmounts), v, l) < 0)
				return -1;
			break;
		case T_DEVICE:
			if (parse_device(ADD(c->devices, c->ndevices), v, l) < 0)
				return -1;
			break;
		case T_HOOK_CREATE_CONTAINER:
			if (each_record(v, l, hook_field, ADD(c->create_hooks, c->ncreate_hooks)) < 0)
				return -1;
			break;
		case T_HOOK_START_CONTAINER:
			if (each_record(v, l, hook_field, ADD(c->start_hooks, c->nstart_hooks)) < 0)
				return -1;
			break;
		case T_HOSTNAME: c->hostname = get_str(v, l); break;
		case T_DOMAINNAME: c->domainname = get_str(v, l); break;
		case T_SYSCTL:
			if (each_record(v, l, sysctl_field, ADD(c->sysctls, c->nsysctls)) < 0)
				return -1;
			break;
		case T_READONLY_PATH: strv_add(&c->readonly_paths, get_str(v, l)); break;
		case T_MASKED_PATH: strv_add(&c->masked_paths, get_str(v, l)); break;
		case T_ARG: strv_add(&c->args, get_str(v, l)); break;
		case T_ENV: strv_add(&c->env, get_str(v, l)); break;
		case T_CWD: c->cwd = get_str(v, l); break;
		case T_TERMINAL: c->terminal = (int)i; break;
		case T_CONSOLE_WIDTH: c->has_console_size = 1; c->console_width = (unsigned)i; break;
		case T_CONSOLE_HEIGHT: c->has_console_size = 1; c->console_height = (unsigned)i; break;
		case T_UID: c->uid = (uint32_t)i; break;
		case T_GID: c->gid = (uint32_t)i; break;
		case T_ADDITIONAL_GID:
			*ADD(c->additional_gids, c->nadditional_gids) = (gid_t)i;
			break;
		case T_UMASK: c->has_umask = 1; c->umask = (mode_t)i; break;
		case T_NO_NEW_PRIVS: c->no_new_privs = (int)i; break;
		case T_CAPS: c->has_caps = (int)i; break;
		case T_CAP_BOUNDING: c->cap_bounding = (uint64_t)i; break;
		case T_CAP_EFFECTIVE: c->cap_effective = (uint64_t)i; break;
		case T_CAP_PERMITTED: c->cap_permitted = (uint64_t)i; break;
		case T_CAP_INHERITABLE: c->cap_inheritable = (uint64_t)i; break;
		case T_CAP_AMBIENT: c->cap_ambient = (uint64_t)i; break;
		case T_RLIMIT:
			if (each_record(v, l, rlimit_field, ADD(c->rlimits, c->nrlimits)) < 0)
				return -1;
			break;
		case T_OOM_SCORE_ADJ: c->has_oom_score_adj = 1; c->oom_score_adj = (int)i; break;
		case T_PERSONALITY: c->has_personality = 1; c->personality = (unsigned long)i; break;
		case T_IOPRIO: c->has_ioprio = 1; c->ioprio = (int)i; break;
		case T_SCHED_ATTR:
			c->sched_attr = (unsigned char *)get_str(v, l);
			c->sched_attr_len = l;
			break;
		}
	}
	if (rc < 0 || !c->cwd || c->args.n == 0)
		return -1;
	if (!c->env.v)
		strv_add(&c->env, NULL), c->env.n = 0, c->env.v[0] = NULL;
	return 0;
}

static int read_config(struct init_config *c)
{
	char line[64];
	if (read_line(c->sync_fd, line, sizeof(line)) < 0)
		return fail("read the config");
	char *end;
	errno = 0;
	if (strncmp(line, "config ", 7) != 0)
		return fail("expected the config, got %s", line);
	unsigned long len = strtoul(line + 7, &end, 10);
	if (*end || len == 0 || len > (64u << 20))
		return fail("bad config header %s", line);
	unsigned char *buf = malloc(len);
	if (!buf)
		return fail("config of %lu bytes", len);
	for (size_t off = 0; off < len;) {
		ssize_t n = read(c->sync_fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return fail("read the config");
		}
		off += (size_t)n;
	}
	errno = 0;
	if (parse_config(c, buf, len) < 0)
		return fail("malformed config");
	free(buf);
	return 0;
}

// --- the two inits ---

// wait_for_start reports the container created and blocks on the exec
// fifo until `start` opens it, then runs the startContainer hooks.
static int wait_for_start(struct init_config *c)
{
	hutch_trace("init", "ready");
	if (sync_send_type(c, "ready") < 0)
		return -1;
	char path[32];
	snprintf(path, sizeof(path), "self/fd/%d", c->fifo_fd);
	// Through the host's /proc, held since the start: the root may have
	// no /proc of its own.
	int fifo = openat(c->proc_fd, path, O_WRONLY | O_CLOEXEC);
	if (fifo < 0)
		return fail("open exec fifo");
	close(c->proc_fd);
	c->proc_fd = -1;
	if (write(fifo, "0", 1) != 1)
		return fail("write exec fifo");
	// The fifo stays open, close-on-exec: `start` reads EOF when execve
	// closes it, and only then runs the poststart hooks. From here on
	// nobody reads the sync socket: errors go to stderr.
	c->started = 1;
	if (c->nstart_hooks > 0)
		return run_hooks("startContainer", c->start_hooks, c->nstart_hooks, c->state_running);
	return 0;
}

// finish_and_exec is the common tail: the checks that can still fail
// create, the exec fifo (standard init), the fds, the credentials and
// seccomp, then execve.
static int finish_and_exec(struct init_config *c)
{
	char path[4096];
	if (look_path(c, path, sizeof(path)) < 0)
		return -1;
	if (check_cwd(c) < 0)
		return -1;
	if (c->kind == INIT_STANDARD && wait_for_start(c) < 0)
		return -1;
	// CVE-2024-21626: nothing of ours may cross execve.
	if (syscall(SYS_close_range, 3 + c->preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		return fail("close_range");
	if (set_rlimits(c, 1) < 0)
		return -1;
	// The filter goes in as late as possible, so that the profile need
	// not allow the runtime's own syscalls. Without no_new_privs, loading
	// it needs CAP_SYS_ADMIN: that is before the capabilities go.
	if (!c->no_new_privs && load_seccomp(c) < 0)
		return -1;
	if (set_credentials(c) < 0)
		return -1;
	if (enter_cwd(c) < 0)
		return -1;
	if (c->no_new_privs) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return fail("process.noNewPrivileges");
		if (load_seccomp(c) < 0)
			return -1;
	}
	execve(path, c->args.v, c->env.v);
	return fail("exec %s", path);
}

static int session_and_keyring(struct init_config *c)
{
	if (c->terminal || !c->no_new_keyring)
		setsid(); // a new session: the terminal becomes ours, the keyring per session
	if (!c->no_new_keyring)
		return join_session_keyring(c);
	return 0;
}

static int standard_init(struct init_config *c)
{
	hutch_trace("init", "config received");
	c->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (c->proc_fd < 0)
		return fail("open /proc");
	if (c->new_net && loopback_up() < 0)
		return -1;
	if (session_and_keyring(c) < 0)
		return -1;
	if (c->has_mnt) {
		if (setup_rootfs(c) < 0)
			return -1;
	} else if (enter_root_without_mountns(c) < 0) {
		return -1;
	}
	hutch_trace("init", "rootfs done");
	if (c->terminal && setup_console(c, c->has_mnt) < 0)
		return -1;
	if (c->has_uts && set_hostnames(c) < 0)
		return -1;
	if (write_sysctls(c) < 0)
		return -1;
	// Read-only and masked paths come after the sysctls: /proc/sys is
	// read-only in the default config.
	if (c->has_mnt && finish_rootfs(c) < 0)
		return -1;
	if (set_rlimits(c, 0) < 0 || set_oom_score_adj(c) < 0 || set_personality(c) < 0 ||
	    set_ioprio(c) < 0 || set_scheduler(c) < 0)
		return -1;
	return finish_and_exec(c);
}

static int setns_init(struct init_config *c)
{
	if (session_and_keyring(c) < 0)
		return -1;
	if (c->terminal && setup_console(c, 0) < 0)
		return -1;
	if (set_rlimits(c, 0) < 0 || set_oom_score_adj(c) < 0 || set_ioprio(c) < 0 ||
	    set_scheduler(c) < 0)
		return -1;
	return finish_and_exec(c);
}

// reset_ignored_raw gives an ignored signal its default action back with
// the raw syscall, for the signals glibc keeps for itself (32 and 33): a
// caller that ignored them must not pass that on to the container.
static void reset_ignored_raw(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		uint64_t mask;
	} act, old;
	memset(&act, 0, sizeof(act));
	if (syscall(SYS_rt_sigaction, sig, NULL, &old, sizeof(uint64_t)) == 0 && old.handler == (void *)SIG_IGN)
		syscall(SYS_rt_sigaction, sig, &act, NULL, sizeof(uint64_t)); // SIG_DFL
}

static void exit_on_signal(int sig)
{
	_exit(128 + sig);
}

// catch_fatal_signals: the init is often PID 1 of a new pid namespace,
// and the kernel drops a signal to such a process unless it has a handler
// (only SIGKILL and SIGSTOP get through). `kill ID TERM` of a created
// container must still end it, as it does with runc (whose Go init has
// handlers for everything). execve resets these handlers to the default.
// As the Go runtime does, an ignored SIGHUP or SIGINT (nohup) is left
// ignored; every other signal reaches the container's process with its
// default action, whatever the runtime's caller ignored.
static void catch_fatal_signals(void)
{
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = exit_on_signal;
	sigemptyset(&sa.sa_mask);
	for (int sig = 1; sig <= SIGRTMAX; sig++) {
		switch (sig) {
		case SIGKILL: case SIGSTOP: case SIGCHLD: case SIGCONT: case SIGURG:
		case SIGWINCH: case SIGTSTP: case SIGTTIN: case SIGTTOU:
			continue; // not catchable, or not fatal by default
		}
		if (sig >= 32 && sig < SIGRTMIN) {
			reset_ignored_raw(sig); // glibc's own: its sigaction refuses them
			continue;
		}
		if ((sig == SIGHUP || sig == SIGINT) && sigaction(sig, NULL, &old) == 0 &&
		    old.sa_handler == SIG_IGN)
			continue;
		sigaction(sig, &sa, NULL);
	}
}

void hutch_init(int sync_fd)
{
	static struct init_config cfg;
	struct init_config *c = &cfg;
	c->sync_fd = sync_fd;
	c->proc_fd = -1;
	catch_fatal_signals();
	unsetenv("_HUTCH_INITPIPE");
	int rc = read_config(c);
	if (rc == 0) {
		if (c->kind == INIT_STANDARD)
			rc = standard_init(c);
		else if (c->kind == INIT_SETNS)
			rc = setns_init(c);
		else {
			errno = 0;
			rc = fail("unknown init kind %d", c->kind);
		}
	}
	// Only reached on failure. Once started, nobody reads the socket: the
	// container's stderr is the only place left to say why.
	if (c->started) {
		dprintf(2, "hutch init: container %s: %s\n", c->id ? c->id : "?", init_error);
	} else {
		send_json_line(sync_fd, "error", init_error);
	}
	_exit(255);
}
