package nsenter

/*
#include "init.h"
*/
import "C"

// The tags of the init's config (init.h), for the encoder in
// runtime/initconfig.go: taken from the C header, so they cannot drift.
const (
	TKind               = C.T_KIND
	TID                 = C.T_ID
	TRootfs             = C.T_ROOTFS
	TNoPivot            = C.T_NO_PIVOT
	TNoNewKeyring       = C.T_NO_NEW_KEYRING
	TFifoFd             = C.T_FIFO_FD
	TConsoleFd          = C.T_CONSOLE_FD
	TPreserveFds        = C.T_PRESERVE_FDS
	TSeccompListenerFd  = C.T_SECCOMP_LISTENER_FD
	THooksSync          = C.T_HOOKS_SYNC
	TStateCreated       = C.T_STATE_CREATED
	TStateRunning       = C.T_STATE_RUNNING
	TSeccompState       = C.T_SECCOMP_STATE
	TSeccompProgram     = C.T_SECCOMP_PROGRAM
	TNewNet             = C.T_NEW_NET
	THasUser            = C.T_HAS_USER
	THasUTS             = C.T_HAS_UTS
	THasMnt             = C.T_HAS_MNT
	TCgroupNS           = C.T_CGROUPNS
	TRootPropagation    = C.T_ROOT_PROPAGATION
	TRootPropagationEnd = C.T_ROOT_PROPAGATION_FINAL
	TRootReadonly       = C.T_ROOT_READONLY
	TDevHostBind        = C.T_DEV_HOST_BIND
	TMount              = C.T_MOUNT
	TDevice             = C.T_DEVICE
	THookCreate         = C.T_HOOK_CREATE_CONTAINER
	THookStart          = C.T_HOOK_START_CONTAINER
	THostname           = C.T_HOSTNAME
	TDomainname         = C.T_DOMAINNAME
	TSysctl             = C.T_SYSCTL
	TReadonlyPath       = C.T_READONLY_PATH
	TMaskedPath         = C.T_MASKED_PATH
	TArg                = C.T_ARG
	TEnv                = C.T_ENV
	TCwd                = C.T_CWD
	TTerminal           = C.T_TERMINAL
	TConsoleWidth       = C.T_CONSOLE_WIDTH
	TConsoleHeight      = C.T_CONSOLE_HEIGHT
	TUID                = C.T_UID
	TGID                = C.T_GID
	TAdditionalGID      = C.T_ADDITIONAL_GID
	TUmask              = C.T_UMASK
	TNoNewPrivs         = C.T_NO_NEW_PRIVS
	TCaps               = C.T_CAPS
	TCapBounding        = C.T_CAP_BOUNDING
	TCapEffective       = C.T_CAP_EFFECTIVE
	TCapPermitted       = C.T_CAP_PERMITTED
	TCapInheritable     = C.T_CAP_INHERITABLE
	TCapAmbient         = C.T_CAP_AMBIENT
	TRlimit             = C.T_RLIMIT
	TOOMScoreAdj        = C.T_OOM_SCORE_ADJ
	TPersonality        = C.T_PERSONALITY
	TIOPrio             = C.T_IOPRIO
	TSchedAttr          = C.T_SCHED_ATTR

	MDest        = C.M_DEST
	MSource      = C.M_SOURCE
	MType        = C.M_TYPE
	MFlags       = C.M_FLAGS
	MData        = C.M_DATA
	MBind        = C.M_BIND
	MRecursive   = C.M_RECURSIVE
	MCopyUp      = C.M_COPYUP
	MPropagation = C.M_PROPAGATION
	MAttrSet     = C.M_ATTR_SET
	MAttrClr     = C.M_ATTR_CLR

	DPath  = C.D_PATH
	DType  = C.D_TYPE
	DMajor = C.D_MAJOR
	DMinor = C.D_MINOR
	DMode  = C.D_MODE
	DUID   = C.D_UID
	DGID   = C.D_GID

	HPath    = C.H_PATH
	HArg     = C.H_ARG
	HEnv     = C.H_ENV
	HTimeout = C.H_TIMEOUT

	RResource = C.R_RESOURCE
	RSoft     = C.R_SOFT
	RHard     = C.R_HARD
	RName     = C.R_NAME

	SKey   = C.S_KEY
	SValue = C.S_VALUE

	KindStandard = C.INIT_STANDARD
	KindSetns    = C.INIT_SETNS
)
