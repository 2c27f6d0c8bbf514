package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/internal/testbundle"
)

// hookScript records one hook run: its stdin (the state), args and env in
// files named after the kind, and the kind in the order file. It lives in
// a directory that is bind-mounted into the container at the same path, so
// that the same path works for the hooks run on the host and those run in
// the container (startContainer resolves its path in the container).
const hookScript = `#!/bin/sh
kind=$1
cat > "$HOOKDIR/$kind.json"
echo "$kind" >> "$HOOKDIR/order"
echo "$@" > "$HOOKDIR/$kind.args"
env > "$HOOKDIR/$kind.env"
`

// hookDir makes the directory with the hook script.
func hookDir(t *testing.T) string {
	t.Helper()
	dir := hostDir(t, nil)
	if err := os.WriteFile(filepath.Join(dir, "hook.sh"), []byte(hookScript), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func recordHook(dir, kind string) specs.Hook {
	return specs.Hook{
		Path: filepath.Join(dir, "hook.sh"),
		Args: []string{"hook.sh", kind, "second arg"},
		Env:  []string{"HOOKDIR=" + dir, "HOOKVAR=value with spaces", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"},
	}
}

func TestHooksAllKindsInOrder(t *testing.T) {
	r := newRuntime(t)
	dir := hookDir(t)
	kinds := []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"}
	b := shBundle(t, "echo process >> "+dir+"/order",
		testbundle.WithMount(bindMount(dir, dir)),
		testbundle.WithSpec(func(s *specs.Spec) {
			s.Hooks = &specs.Hooks{
				Prestart:        []specs.Hook{recordHook(dir, "prestart")},
				CreateRuntime:   []specs.Hook{recordHook(dir, "createRuntime")},
				CreateContainer: []specs.Hook{recordHook(dir, "createContainer")},
				StartContainer:  []specs.Hook{recordHook(dir, "startContainer")},
				Poststart:       []specs.Hook{recordHook(dir, "poststart")},
				Poststop:        []specs.Hook{recordHook(dir, "poststop")},
			}
		}))
	id := newID(t)
	r.create(b, id)
	pid := r.state(id).Pid
	order := func() []string {
		data, _ := os.ReadFile(filepath.Join(dir, "order"))
		return strings.Fields(string(data))
	}
	if got := strings.Join(order(), " "); got != "prestart createRuntime createContainer" {
		t.Errorf("hooks run by create: %q, want prestart createRuntime createContainer", got)
	}
	r.ok("start", id)
	r.waitStatus(id, "stopped")
	r.ok("delete", id)

	got := order()
	// poststart runs in `start` once the init is released, concurrently
	// with startContainer and the process (as in runc): check it on its
	// own.
	var rest []string
	sawPoststart := false
	for _, k := range got {
		if k == "poststart" {
			sawPoststart = true
			continue
		}
		rest = append(rest, k)
	}
	if strings.Join(rest, " ") != "prestart createRuntime createContainer startContainer process poststop" || !sawPoststart {
		t.Errorf("hook order %v, want prestart createRuntime createContainer startContainer process poststop, with poststart after createContainer", got)
	}
	if i := indexOf(got, "poststart"); i >= 0 && i < indexOf(got, "createContainer") {
		t.Errorf("poststart ran before create finished: %v", got)
	}

	for _, kind := range kinds {
		data, err := os.ReadFile(filepath.Join(dir, kind+".json"))
		if err != nil {
			t.Errorf("hook %s did not run: %v", kind, err)
			continue
		}
		var st specs.State
		if err := json.Unmarshal(data, &st); err != nil {
			t.Errorf("hook %s: stdin is not the state JSON: %v\n%s", kind, err, data)
			continue
		}
		if st.ID != id || st.Bundle != b.Dir || st.Version == "" {
			t.Errorf("hook %s: state %+v, want id %s bundle %s", kind, st, id, b.Dir)
		}
		if kind != "poststop" && st.Pid != pid && !(kind == "startContainer" || kind == "createContainer") {
			t.Errorf("hook %s: state pid %d, want the init's %d", kind, st.Pid, pid)
		}
		if (kind == "startContainer" || kind == "createContainer") && st.Pid <= 0 {
			t.Errorf("hook %s: state pid %d", kind, st.Pid)
		}
		wantStatus := map[string][]string{
			// The environment exists when these run: the lifecycle's step 2 is
			// over, so the state is "created" (crun and runtime-tools agree).
			"prestart": {"created"}, "createRuntime": {"created"}, "createContainer": {"created"},
			"startContainer": {"created", "running"}, "poststart": {"running"}, "poststop": {"stopped"},
		}[kind]
		if indexOf(wantStatus, string(st.Status)) < 0 {
			t.Errorf("hook %s: state status %q, want one of %v", kind, st.Status, wantStatus)
		}
		args := strings.TrimSpace(readFile(t, filepath.Join(dir, kind+".args")))
		if args != kind+" second arg" {
			t.Errorf("hook %s: args %q", kind, args)
		}
		env := readFile(t, filepath.Join(dir, kind+".env"))
		if !strings.Contains(env, "HOOKVAR=value with spaces\n") {
			t.Errorf("hook %s: env lacks HOOKVAR:\n%s", kind, env)
		}
		if strings.Contains(env, "HUTCH") {
			t.Errorf("hook %s: the runtime's environment leaked in:\n%s", kind, env)
		}
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func TestHooksFailingPrestart(t *testing.T) {
	for _, kind := range []string{"prestart", "createRuntime", "createContainer"} {
		t.Run(kind, func(t *testing.T) {
			r := newRuntime(t)
			dir := hookDir(t)
			fail := specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c", "echo hook-said-no >&2; exit 7"}}
			b := shBundle(t, "echo RAN", testbundle.WithSpec(func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{Poststop: []specs.Hook{recordHook(dir, "poststop")}}
				switch kind {
				case "prestart":
					s.Hooks.Prestart = []specs.Hook{fail}
				case "createRuntime":
					s.Hooks.CreateRuntime = []specs.Hook{fail}
				case "createContainer":
					s.Hooks.CreateContainer = []specs.Hook{fail}
				}
			}))
			id := newID(t)
			res := r.tryCreate(b, id)
			assertOneLineError(t, res, kind)
			if strings.Contains(res.Stdout, "RAN") {
				t.Errorf("the process ran after a failing %s hook", kind)
			}
			r.assertNothingLeft(id)
			// The spec: when create fails after the runtime made
			// things, poststop hooks are not required; but the
			// container process must never have run.
			res = r.runContainer(b, id)
			assertOneLineError(t, res, kind)
			if strings.Contains(res.Stdout, "RAN") {
				t.Errorf("run: the process ran after a failing %s hook", kind)
			}
			r.assertNothingLeft(id)
		})
	}
}

// TestHooksTimeout: a hook that outlives its timeout fails the operation,
// and the runtime does not wait for it, nor for a child it forked that
// keeps its stdout open (the deadline of 30 s is far above the hook's 1 s
// timeout: reaching it means the runtime waited for the hook).
func TestHooksTimeout(t *testing.T) {
	for _, tc := range []struct{ name, script string }{
		{"sleeping hook", "echo $$ > $D/sh.pid; exec sleep 600"},
		{"hook with a child holding stdout", "echo $$ > $D/sh.pid; sleep 600 & echo $! > $D/sleep.pid; wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRuntime(t)
			dir := hostDir(t, nil)
			hook := specs.Hook{
				Path:    "/bin/sh",
				Args:    []string{"sh", "-c", tc.script},
				Env:     []string{"D=" + dir},
				Timeout: ptr(1),
			}
			t.Cleanup(func() {
				for _, f := range []string{"sleep.pid", "sh.pid"} {
					if data, err := os.ReadFile(filepath.Join(dir, f)); err == nil {
						if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
							syscall.Kill(pid, syscall.SIGKILL)
						}
					}
				}
			})
			b := shBundle(t, "echo RAN", testbundle.WithSpec(func(s *specs.Spec) {
				s.Hooks = &specs.Hooks{Prestart: []specs.Hook{hook}}
			}))
			id := newID(t)
			r.deadline = 30 * time.Second
			res := r.tryCreate(b, id)
			r.deadline = 0
			assertOneLineError(t, res, "prestart")
			if !strings.Contains(res.Stderr, "time") {
				t.Errorf("error does not say the hook timed out: %q", res.Stderr)
			}
			r.assertNothingLeft(id)
			if data, err := os.ReadFile(filepath.Join(dir, "sh.pid")); err == nil {
				if pid, _ := strconv.Atoi(strings.TrimSpace(string(data))); pid > 0 && pidAlive(pid) {
					t.Errorf("the timed-out hook %d still runs", pid)
				}
			}
		})
	}
}

func TestHooksFailingPoststartWarns(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "exec sleep 1000", testbundle.WithSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststart: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	}))
	id := newID(t)
	r.create(b, id)
	res := r.run("start", id)
	if res.Code != 0 {
		t.Fatalf("a failing poststart hook failed start: %v", res)
	}
	if !strings.Contains(res.Stderr, "poststart") {
		t.Errorf("no warning naming poststart: %q", res.Stderr)
	}
	if st := r.state(id); st.Status != "running" {
		t.Errorf("status after start with a failing poststart: %q", st.Status)
	}
}

func TestHooksFailingPoststopWarns(t *testing.T) {
	r := newRuntime(t)
	b := shBundle(t, "true", testbundle.WithSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{Poststop: []specs.Hook{{Path: "/bin/false", Args: []string{"false"}}}}
	}))
	id := newID(t)
	r.create(b, id)
	r.ok("start", id)
	r.waitStatus(id, "stopped")
	res := r.run("delete", id)
	if res.Code != 0 {
		t.Errorf("a failing poststop hook failed delete: %v", res)
	}
	r.assertNothingLeft(id)
}
