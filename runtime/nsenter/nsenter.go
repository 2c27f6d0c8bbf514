// Package nsenter runs a small C constructor before the Go runtime starts.
//
// Why C: setns(2) into a mount namespace fails with EINVAL in a
// multi-threaded process, and setns into a user namespace likewise requires
// a single-threaded caller. By the time any Go code runs, the Go runtime has
// already started several threads, and LockOSThread does not help because
// the other threads would stay in the old namespaces. A constructor
// (__attribute__((constructor))) runs in the process's only thread, before
// the runtime starts, so it can join and create every namespace the
// container needs and then let Go start inside them.
//
// The alternative of creating the namespaces with clone flags from
// SysProcAttr works for new namespaces, but cannot join existing ones by
// path in the right order (user first, then the others, then new ones owned
// by the joined user namespace), which exec and `path` namespaces need.
//
// The constructor does nothing unless the environment variable
// _HUTCH_INITPIPE names a file descriptor; every other start of the hutch
// binary pays one getenv.
//
// Protocol on that descriptor (a unix socketpair with the parent):
//
//	parent                                    constructor
//	  | -- "join <type> <path>\n" ...          |  open every path first
//	  | -- "flags <clone flags>\n"             |
//	  | -- "timens <clock> <sec> <nsec>\n" ... |
//	  | -- "end\n" ------------------------->  |  setns user, setns others
//	  |                                        |  unshare(CLONE_NEWUSER)
//	  | <----------------------- "usermap\n"   |  (only with a new userns)
//	  |  write uid_map/gid_map                 |
//	  | -- "mapped\n" ---------------------->  |  unshare(other flags)
//	  |                                        |  write timens offsets
//	  |                                        |  fork when pid/time ns
//	  | <--------------------- "pid <n>\n"     |  the process Go runs in
//	  |                                        |  (0: the one started)
//	  | <------------------- "error <msg>\n"   |  on any failure
//
// After "pid", the same process goes on as the container's init, still in
// C (init.c, config in init.h, messages in runtime/sync.go): it sets up the
// container and execs its process. The Go runtime never starts in a
// container: its start alone (runtime, package inits, page faults of a
// large binary) cost more than everything the init does, and its memory
// was charged to the container's cgroup.
package nsenter

/*
#cgo CFLAGS: -Wall -O2
extern void hutch_nsenter(void);
static void __attribute__((constructor)) hutch_nsenter_ctor(void) { hutch_nsenter(); }
*/
import "C"
