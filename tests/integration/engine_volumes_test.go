package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEngineVolumes(t *testing.T) {
	e := newEngine(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "f"), []byte("from the host\n"), 0o644)

	// A read-only bind, a named volume (created on first use) and an
	// anonymous one.
	out := e.ok("run", "--rm", "-v", host+":/h:ro", "-v", "data:/data", "-v", "/anon", e.image, "sh", "-c",
		"cat /h/f; touch /h/x 2>/dev/null && echo wrote-ro; echo kept > /data/v; grep -c ' /anon ' /proc/self/mounts")
	if out != "from the host\n1\n" {
		t.Errorf("run with volumes: %q", out)
	}
	if _, err := os.Stat(filepath.Join(host, "x")); err == nil {
		t.Errorf("a :ro bind was written")
	}
	if got := e.ok("run", "--rm", "-v", "data:/data", e.image, "cat", "/data/v"); got != "kept\n" {
		t.Errorf("named volume lost its content: %q", got)
	}
	// --rm removed the anonymous volume, not the named one.
	if ls := strings.Fields(e.ok("volume", "ls", "-q")); len(ls) != 1 || ls[0] != "data" {
		t.Errorf("volume ls -q: %v", ls)
	}

	// A volume in use cannot be removed; it can once its container is gone.
	e.runDetached("--name", "holder", "-v", "data:/data", e.image, "sleep", "1000")
	r := e.fails(125, "volume", "rm", "data")
	if !strings.Contains(r.Stderr, `in use by container "holder"`) {
		t.Errorf("volume rm in use: %q", r.Stderr)
	}
	e.ok("rm", "-f", "holder")
	e.ok("volume", "rm", "data")

	// --mount and --tmpfs.
	out = e.ok("run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "--tmpfs", "/u:size=2m",
		"--mount", "type=bind,source="+host+",target=/b,readonly", e.image, "sh", "-c", "df -k /t /u | tail -2 | awk '{print $2}'; cat /b/f")
	if out != "1024\n2048\nfrom the host\n" {
		t.Errorf("--mount/--tmpfs: %q", out)
	}

	// A new volume is filled from the image (copy-up).
	if got := e.ok("run", "--rm", "-v", "bin:/bin", e.image, "/bin/busybox", "ls", "/bin/sh"); got != "/bin/sh\n" {
		t.Errorf("copy-up: %q", got)
	}
	e.ok("volume", "rm", "bin")

	// Mistakes.
	e.fails(125, "run", "--rm", "-v", "relative/path:/x", e.image, "true")
	e.fails(125, "run", "--rm", "-v", "/x:relative", e.image, "true")
	e.fails(125, "run", "--rm", "-v", "/a:/same", "-v", "/b:/same", e.image, "true")
	e.fails(125, "run", "--rm", "--mount", "type=bind,source=/no/such/dir,target=/x", e.image, "true")
	if ls := e.ok("volume", "ls", "-q"); ls != "" {
		t.Errorf("failed runs left volumes: %q", ls)
	}
}

func TestEngineVolumeSymlinkEscape(t *testing.T) {
	// A volume's mount point that is a symlink in the image must not send
	// the copy-up (or the mount) to the host's directory.
	e := newEngine(t)
	e.ok("run", "--name", "mk", e.image, "sh", "-c", "ln -s /etc /link")
	e.ok("commit", "mk", "linked:1")
	if _, err := os.Stat("/etc/debian_version"); err != nil {
		t.Skip("needs a host file the image does not have: /etc/debian_version")
	}
	e.run("run", "--rm", "-v", "esc:/link", "linked:1", "true")
	data := e.inspectVolumeDir("esc")
	if _, err := os.Stat(filepath.Join(data, "debian_version")); err == nil {
		t.Errorf("copy-up followed the image's /link -> /etc to the host's /etc")
	}
	e.ok("volume", "rm", "esc")
}

// inspectVolumeDir is a volume's directory on the host.
func (e *engineT) inspectVolumeDir(name string) string {
	e.t.Helper()
	return strings.TrimSpace(e.ok("volume", "inspect", "--format", "{{.Mountpoint}}", name))
}
