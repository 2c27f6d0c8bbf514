// init.h: the container init in C (see init.c for the way it runs).
//
// The parent (runtime/initconfig.go) turns the OCI config into a prepared
// list of what to do: mount options already parsed into flags, bundle
// paths made absolute, device lists merged with the defaults, capability
// names turned into masks, hook states already encoded. The init only
// executes it. Every decision that needs the container's own view (what a
// path resolves to inside the root, whether a mount source is a file, the
// host's cgroup layout as the init's mount namespace sees it, the PATH
// lookup of the executable) is made here.
//
// Wire format (little-endian), after "config <len>\n" on the sync socket:
// a sequence of records, each
//
//	u16 tag | u32 length | payload
//
// Integers are 8-byte payloads (int64); strings are their bytes (no NUL);
// a record of a compound kind (mount, device, hook, rlimit, sysctl) holds
// a nested sequence of records. A repeated tag appends to a list. The Go
// side takes the tag numbers from this file through cgo (nsenter.go), so
// the two cannot drift apart.
#ifndef HUTCH_INIT_H
#define HUTCH_INIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum init_tag {
	// top level
	T_KIND = 1,           // int: INIT_STANDARD or INIT_SETNS
	T_ID,                 // string: container id (keyring name, messages)
	T_ROOTFS,             // string: absolute path of the root filesystem
	T_NO_PIVOT,           // int 0/1
	T_NO_NEW_KEYRING,     // int 0/1
	T_FIFO_FD,            // int: O_PATH fd on the exec fifo, -1 for exec
	T_CONSOLE_FD,         // int: console socket fd, -1 without terminal
	T_PRESERVE_FDS,       // int: fds 3..3+n-1 are the container's
	T_SECCOMP_LISTENER_FD,// int: O_PATH fd on the agent socket, or -1
	T_HOOKS_SYNC,         // int 0/1: stop for prestart/createRuntime hooks
	T_STATE_CREATED,      // string: state JSON for createContainer hooks
	T_STATE_RUNNING,      // string: state JSON for startContainer hooks
	T_SECCOMP_STATE,      // string: ContainerProcessState JSON for the agent
	T_SECCOMP_PROGRAM,    // bytes: u64 flags, then struct sock_filter[]
	T_NEW_NET,            // int 0/1: a new network namespace (lo up)
	T_HAS_USER,           // int 0/1: a user namespace (new or joined)
	T_HAS_UTS,            // int 0/1
	T_HAS_MNT,            // int 0/1
	T_CGROUPNS,           // int 0/1: a cgroup namespace (new or joined)
	T_ROOT_PROPAGATION,   // int: mount flags for "/" before setup
	T_ROOT_PROPAGATION_FINAL, // int: flags for "/" after pivot_root (0: none)
	T_ROOT_READONLY,      // int 0/1
	T_DEV_HOST_BIND,      // int 0/1: /dev is the host's, make no devices
	T_MOUNT,              // compound: struct mount_entry (M_*)
	T_DEVICE,             // compound: struct device_entry (D_*)
	T_HOOK_CREATE_CONTAINER, // compound: struct hook (H_*)
	T_HOOK_START_CONTAINER,  // compound: struct hook (H_*)
	T_HOSTNAME,           // string, only when set
	T_DOMAINNAME,         // string, only when set
	T_SYSCTL,             // compound: S_KEY, S_VALUE
	T_READONLY_PATH,      // string, repeated
	T_MASKED_PATH,        // string, repeated
	// process
	T_ARG,                // string, repeated
	T_ENV,                // string, repeated
	T_CWD,                // string
	T_TERMINAL,           // int 0/1
	T_CONSOLE_WIDTH,      // int, only with a console size
	T_CONSOLE_HEIGHT,     // int
	T_UID,                // int
	T_GID,                // int
	T_ADDITIONAL_GID,     // int, repeated
	T_UMASK,              // int, only when set
	T_NO_NEW_PRIVS,       // int 0/1
	T_CAPS,               // int 0/1: process.capabilities is set
	T_CAP_BOUNDING,       // int: bit mask (1 << CAP_X)
	T_CAP_EFFECTIVE,
	T_CAP_PERMITTED,
	T_CAP_INHERITABLE,
	T_CAP_AMBIENT,
	T_RLIMIT,             // compound: R_*
	T_OOM_SCORE_ADJ,      // int, only when set
	T_PERSONALITY,        // int: personality(2) argument, only when set
	T_IOPRIO,             // int: ioprio_set value, only when set
	T_SCHED_ATTR,         // bytes: struct sched_attr, only when set

	// struct mount_entry
	M_DEST = 100,         // string: destination inside the root
	M_SOURCE,             // string: absolute for binds
	M_TYPE,               // string
	M_FLAGS,              // int: mount(2) flags
	M_DATA,               // string: filesystem options
	M_BIND,               // int 0/1
	M_RECURSIVE,          // int 0/1 (rbind)
	M_COPYUP,             // int 0/1 (tmpcopyup)
	M_PROPAGATION,        // int, repeated: applied one by one
	M_ATTR_SET,           // int: mount_setattr, recursive
	M_ATTR_CLR,           // int

	// struct device_entry
	D_PATH = 120,         // string: absolute path inside the container
	D_TYPE,               // int: 'c', 'b', 'u' or 'p'
	D_MAJOR,              // int
	D_MINOR,              // int
	D_MODE,               // int: permission bits
	D_UID,                // int, -1: leave
	D_GID,                // int, -1: leave

	// struct hook
	H_PATH = 140,         // string
	H_ARG,                // string, repeated (empty: the path alone)
	H_ENV,                // string, repeated
	H_TIMEOUT,            // int: seconds, only when set

	// struct rlimit_entry
	R_RESOURCE = 160,     // int: RLIMIT_*
	R_SOFT,               // int (as u64)
	R_HARD,               // int (as u64)
	R_NAME,               // string: RLIMIT_NOFILE, for messages

	// struct sysctl_entry
	S_KEY = 180,          // string: net.ipv4.ip_forward
	S_VALUE,              // string
};

enum { INIT_STANDARD = 1, INIT_SETNS = 2 };

struct strv {
	char **v; // NULL-terminated when n > 0 (execve-ready)
	int n;
};

struct mount_entry {
	char *dest, *source, *type, *data;
	unsigned long flags;
	int bind, recursive, copyup;
	unsigned long propagation[8];
	int npropagation;
	uint64_t attr_set, attr_clr;
};

struct device_entry {
	char *path;
	int type; // 'c', 'b', 'u', 'p'
	uint32_t major, minor, mode;
	int64_t uid, gid; // -1: leave
};

struct hook {
	char *path;
	struct strv args, env;
	int has_timeout;
	int64_t timeout;
};

struct rlimit_entry {
	int resource;
	uint64_t soft, hard;
	char *name;
};

struct sysctl_entry {
	char *key, *value;
};

struct init_config {
	int kind;
	char *id, *rootfs;
	int no_pivot, no_new_keyring;
	int fifo_fd, console_fd, preserve_fds, seccomp_listener_fd;
	int hooks_sync;
	char *state_created, *state_running, *seccomp_state;
	unsigned char *seccomp_program;
	size_t seccomp_program_len;
	int new_net, has_user, has_uts, has_mnt, cgroupns;
	unsigned long root_propagation, root_propagation_final;
	int root_readonly, dev_host_bind;
	struct mount_entry *mounts;
	int nmounts;
	struct device_entry *devices;
	int ndevices;
	struct hook *create_hooks, *start_hooks;
	int ncreate_hooks, nstart_hooks;
	char *hostname, *domainname; // NULL: unset
	struct sysctl_entry *sysctls;
	int nsysctls;
	struct strv readonly_paths, masked_paths;

	// process
	struct strv args, env;
	char *cwd;
	int terminal;
	int has_console_size;
	unsigned console_width, console_height;
	uint32_t uid, gid;
	gid_t *additional_gids;
	int nadditional_gids;
	int has_umask;
	mode_t umask;
	int no_new_privs;
	int has_caps;
	uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
	struct rlimit_entry *rlimits;
	int nrlimits;
	int has_oom_score_adj, oom_score_adj;
	int has_personality;
	unsigned long personality;
	int has_ioprio, ioprio;
	unsigned char *sched_attr;
	size_t sched_attr_len;

	// the init's own state, not sent
	int proc_fd;  // O_PATH on the host's /proc (exec fifo reopen)
	int sync_fd;  // the socket to the parent
	int started;  // past the exec fifo: nobody reads the socket any more
};

// --- errors (init.c) ---
// Every step returns 0 or -1; on -1 the reason is in init_error. fail
// sets it, failx prefixes it with more context ("mounts[2] bind on /x: "
// + what was there). With errno non-zero, fail appends ": " and the
// lower-cased strerror, the way Go prints a syscall.Errno, so the parent's
// messages read the same as before.
extern char init_error[4096];
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int failx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
// errstr is strerror(err) with the first letter lower-cased.
const char *errstr(int err);
// hutch_trace prints "[ms pid] stage: what" on stderr under HUTCH_TRACE=1,
// on the same CLOCK_MONOTONIC timeline as the Go side's trace.
void hutch_trace(const char *stage, const char *what);

// --- init.c ---
// hutch_init runs the container init (or an exec'd process) from the
// config read on sync_fd; it never returns.
void hutch_init(int sync_fd) __attribute__((noreturn));
// write_all writes all of p to fd (EINTR retried); -1 with errno.
int write_all(int fd, const char *p, size_t len);
// sync_send_type writes {"type":"<t>"} as one line to the parent.
int sync_send_type(struct init_config *c, const char *type);
// sync_expect reads one line and fails unless it is {"type":"<t>"}.
int sync_expect(struct init_config *c, const char *type);

// --- rootfs.c: the mount tree, devices, the root switch ---
// fdpath formats /proc/self/fd/<fd> into buf (at least 32 bytes).
char *fdpath(char *buf, int fd);
// open_in_root opens rel under rootfd with openat2(RESOLVE_IN_ROOT |
// RESOLVE_NO_MAGICLINKS); -1 with errno set on failure (no init_error).
int open_in_root(int rootfd, const char *rel, int flags);
// setup_rootfs: propagation of "/", the rootfs bind, the spec's mounts,
// devices (unless dev_host_bind), the hooks sync and createContainer
// hooks (run_hooks from process.c), then pivot_root (or move + chroot
// with no_pivot).
int setup_rootfs(struct init_config *c);
// enter_root_without_mountns: hooks sync, createContainer hooks, chroot.
int enter_root_without_mountns(struct init_config *c);
// finish_rootfs: readonly and masked paths, the final propagation of "/",
// a read-only root. After sysctls (/proc/sys becomes read-only).
int finish_rootfs(struct init_config *c);

// --- process.c: the process's own attributes ---
int loopback_up(void);
int join_session_keyring(struct init_config *c);
// setup_console: pty from /dev/ptmx, master to the console socket, slave
// on fds 0-2 as the controlling terminal, bound on /dev/console when
// mount_console.
int setup_console(struct init_config *c, int mount_console);
int set_hostnames(struct init_config *c);
int write_sysctls(struct init_config *c);
// set_rlimits: final 0 sets the hard limits (soft kept at most what it
// was), final 1 sets both.
int set_rlimits(struct init_config *c, int final);
int set_oom_score_adj(struct init_config *c);
int set_personality(struct init_config *c);
int set_ioprio(struct init_config *c);
int set_scheduler(struct init_config *c);
// look_path resolves args[0] with the process's PATH into out.
int look_path(struct init_config *c, char *out, size_t outlen);
int check_cwd(struct init_config *c);
int enter_cwd(struct init_config *c);
// load_seccomp loads the program (no-op without one) and hands a notify
// listener to the agent.
int load_seccomp(struct init_config *c);
// set_credentials: bounding set, keepcaps, groups/gid/uid, umask, the
// final capability sets and ambient raises.
int set_credentials(struct init_config *c);
// run_hooks runs the hooks in order with state on stdin; kind names them
// in errors ("hooks.createContainer[0] /path: ...").
int run_hooks(const char *kind, struct hook *hooks, int n, const char *state);

#endif
