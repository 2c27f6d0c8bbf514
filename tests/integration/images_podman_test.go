package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// podmanT runs Debian's podman with a store of the test's own (vfs: no
// mounts to leave behind) and no network.
type podmanT struct {
	t          *testing.T
	root, run  string
	configHome string
}

func newPodman(t *testing.T) *podmanT {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil {
		t.Skip("podman is not installed (scripts/deps.sh installs it)")
	}
	p := &podmanT{t: t, root: t.TempDir(), run: t.TempDir(), configHome: t.TempDir()}
	t.Cleanup(func() { p.cmd("system", "reset", "--force").Run() })
	return p
}

func (p *podmanT) cmd(args ...string) *exec.Cmd {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	p.t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, "podman", append([]string{
		"--root", p.root, "--runroot", p.run, "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
	}, args...)...)
	// Keep the user's and the machine's containers.conf out of it.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+p.configHome, "CONTAINERS_CONF=/dev/null")
	return cmd
}

func (p *podmanT) ok(args ...string) string {
	p.t.Helper()
	out, err := p.cmd(args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestImagesPodmanArchives: `podman save` archives (docker-archive, the
// format `docker save` writes too) load into hutch with the same image ID
// and layers, and hutch's `save` loads into podman.
func TestImagesPodmanArchives(t *testing.T) {
	p := newPodman(t)
	dir := t.TempDir()

	// podman → hutch
	p.ok("import", busyboxTar(t), "localhost/frompodman:1")
	podID := strings.TrimSpace(p.ok("image", "inspect", "--format", "{{.Id}}", "localhost/frompodman:1"))
	fromPodman := filepath.Join(dir, "podman-save.tar")
	p.ok("save", "--format", "docker-archive", "-o", fromPodman, "localhost/frompodman:1")
	h := newImageRoot(t)
	h.ok("load", "-i", fromPodman)
	got := strings.TrimSpace(h.ok("inspect", "--format", "{{.Id}}", "localhost/frompodman:1"))
	if strings.TrimPrefix(got, "sha256:") != strings.TrimPrefix(podID, "sha256:") {
		t.Errorf("podman's archive loaded as %s, podman's ID is %s", got, podID)
	}
	h.verifyBlobs()

	// hutch → podman
	id := strings.TrimSpace(h.ok("import", busyboxTar(t), "localhost/fromhutch:1"))
	fromHutch := filepath.Join(dir, "hutch-save.tar")
	h.ok("save", "-o", fromHutch, "localhost/fromhutch:1")
	if out := p.ok("load", "-i", fromHutch); !strings.Contains(out, "fromhutch") {
		t.Errorf("podman load of hutch's archive: %s", out)
	}
	pid := strings.TrimSpace(p.ok("image", "inspect", "--format", "{{.Id}}", "localhost/fromhutch:1"))
	if strings.TrimPrefix(pid, "sha256:") != strings.TrimPrefix(id, "sha256:") {
		t.Errorf("podman loaded hutch's image as %s, hutch's ID is %s", pid, id)
	}
	// The layer podman unpacked runs: the image is real, not just metadata.
	if out := p.ok("image", "inspect", "--format", "{{len .RootFS.Layers}}", "localhost/fromhutch:1"); strings.TrimSpace(out) != "1" {
		t.Errorf("podman sees %s layers, want 1", out)
	}
}
