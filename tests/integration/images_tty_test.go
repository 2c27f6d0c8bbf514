package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestImagesPullProgressOnTerminal: on a terminal, pull draws a progress
// line per layer and redraws it in place (cursor up, clear line); into a
// pipe it prints plain lines, as the other image tests check.
func TestImagesPullProgressOnTerminal(t *testing.T) {
	reg := startRegistry(t)
	h := newImageRoot(t)
	h.ok("import", busyboxTar(t), "busybox:test")
	ref := reg + "/test/progress:1"
	h.ok("tag", "busybox:test", ref)
	h.ok("push", ref)

	root := t.TempDir()
	cmd := exec.Command(hutchBin, "--root", root, "pull", ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(root, "docker-config"))
	s, err := runOnPTY(t, cmd, 0, 0, "")
	if err != nil {
		t.Fatalf("pull on a terminal: %v\n%q", err, s)
	}
	if !strings.Contains(s, "\r\x1b[K") || !strings.Contains(s, "Copying blob sha256:") || !strings.Contains(s, " done") {
		t.Errorf("no progress lines drawn in place on the terminal:\n%q", s)
	}
	if strings.Contains(s, "Writing manifest to image destination") {
		t.Errorf("the plain-output line shows on a terminal:\n%q", s)
	}
}
