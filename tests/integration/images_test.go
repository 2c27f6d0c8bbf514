package integration

// End-to-end tests of the image commands against Debian's real registry
// (docker-registry) on 127.0.0.1, with skopeo as a second client. Each test
// starts its own registry (stopped by PID) and uses its own --root.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"hutch.dev/hutch/internal/testbundle"
)

const registryBin = "/usr/bin/docker-registry"

// startRegistry runs docker-registry on a free 127.0.0.1 port with a temp
// storage dir and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(registryBin); err != nil {
		t.Skip("docker-registry is not installed (make deps)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)), 0o644)
	cmd := exec.Command(registryBin, "serve", cfg)
	logf, _ := os.Create(filepath.Join(dir, "registry.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("registry on %s did not start: %v\n%s", addr, err, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hutchImg runs hutch with its own --root; imgOK fails the test on error.
type hutchImg struct {
	t    *testing.T
	root string
}

func newImageRoot(t *testing.T) *hutchImg {
	root := t.TempDir()
	return &hutchImg{t: t, root: root}
}

func (h *hutchImg) run(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, hutchBin, append([]string{"--root", h.root}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(h.root, "docker-config"))
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

func (h *hutchImg) ok(args ...string) string {
	h.t.Helper()
	out, errs, err := h.run(args...)
	if err != nil {
		h.t.Fatalf("hutch %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errs)
	}
	return out
}

// verifyBlobs re-hashes every stored blob and checks nothing is half-written.
func (h *hutchImg) verifyBlobs() int {
	h.t.Helper()
	dir := filepath.Join(h.root, "blobs", "sha256")
	ents, err := os.ReadDir(dir)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			h.t.Fatal(err)
		}
		s := sha256.New()
		io.Copy(s, f)
		f.Close()
		if got := hex.EncodeToString(s.Sum(nil)); got != e.Name() {
			h.t.Fatalf("blob %s hashes to %s", e.Name(), got)
		}
	}
	return len(ents)
}

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("skopeo is not installed (make deps)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "skopeo", append([]string{"--insecure-policy"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// busyboxTar writes the busybox root filesystem of internal/testbundle
// (/bin/busybox and its applet links) as a tar file.
func busyboxTar(t *testing.T) string {
	t.Helper()
	b := testbundle.New(t)
	file := filepath.Join(t.TempDir(), "busybox-rootfs.tar")
	out, err := exec.Command("tar", "-C", b.Rootfs, "--numeric-owner", "-cf", file, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	return file
}

func digestLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if d, ok := strings.CutPrefix(l, "Digest: "); ok {
			return strings.TrimSpace(d)
		}
	}
	t.Fatalf("no Digest line in %q", out)
	return ""
}

func TestImagesImportPushPull(t *testing.T) {
	reg := startRegistry(t)
	h := newImageRoot(t)
	id := strings.TrimSpace(h.ok("import", "-c", `CMD ["/bin/sh"]`, busyboxTar(t), "busybox:test"))
	ref := reg + "/test/busybox:1"
	h.ok("tag", "busybox:test", ref)
	out := h.ok("push", ref)
	pushed := digestLine(t, out)
	if !strings.Contains(out, "Copying blob sha256:") {
		t.Fatalf("push printed no per-layer line:\n%s", out)
	}
	// A second push skips the layer.
	if out := h.ok("push", ref); !strings.Contains(out, "skipped: already exists") {
		t.Fatalf("second push:\n%s", out)
	}

	// skopeo pushes the same image (from our OCI layout) under another name.
	layoutDir := filepath.Join(t.TempDir(), "layout")
	h.ok("save", "--format", "oci-dir", "-o", layoutDir, "busybox:test")
	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+layoutDir+":test", "docker://"+reg+"/test/viaskopeo:1")

	h2 := newImageRoot(t)
	out = h2.ok("pull", ref)
	if got := digestLine(t, out); got != pushed {
		t.Fatalf("pulled digest %s, pushed %s", got, pushed)
	}
	if !strings.Contains(out, "Copying blob sha256:") || !strings.Contains(out, " done") {
		t.Fatalf("pull output:\n%s", out)
	}
	h2.ok("pull", reg+"/test/viaskopeo:1")
	if ids := strings.Fields(h2.ok("images", "-q")); len(ids) != 1 || !strings.HasPrefix(strings.TrimPrefix(id, "sha256:"), ids[0]) {
		t.Fatalf("images -q = %v, want one ID, prefix of %s", ids, id)
	}
	got := strings.TrimSpace(h2.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.Digest}}", "--digests", reg+"/test/busybox"))
	if got != reg+"/test/busybox:1 "+pushed {
		t.Fatalf("images --format: %q", got)
	}
	if n := h2.verifyBlobs(); n < 3 {
		t.Fatalf("%d blobs stored", n)
	}
	// Both names share every blob: removing one keeps them, removing the
	// other removes them all.
	h2.ok("rmi", ref)
	if n := h2.verifyBlobs(); n < 3 {
		t.Fatalf("rmi of one of two names removed blobs (%d left)", n)
	}
	out = h2.ok("rmi", reg+"/test/viaskopeo:1")
	if !strings.Contains(out, "Deleted: "+id) {
		t.Fatalf("rmi output:\n%s", out)
	}
	if n := h2.verifyBlobs(); n != 0 {
		t.Fatalf("%d blobs left after removing every image", n)
	}
	// Errors name the object and exit 125.
	_, errs, err := h2.run("rmi", "foo:bar")
	var ee *exec.ExitError
	if err == nil || !errorsAs(err, &ee) || ee.ExitCode() != 125 || strings.TrimSpace(errs) != `hutch: image "foo:bar": not found` {
		t.Fatalf("rmi foo:bar: %v, %q", err, errs)
	}
	_, errs, err = h2.run("pull", reg+"/test/busybox:nope")
	if err == nil || !strings.Contains(errs, "test/busybox:nope") {
		t.Fatalf("pull of a missing tag: %v, %q", err, errs)
	}
}

func errorsAs(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

func TestImagesMultiArchIndex(t *testing.T) {
	reg := startRegistry(t)
	amd, _ := random.Image(1024, 1)
	arm, _ := random.Image(1024, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref, err := name.ParseReference(reg + "/test/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	amdD, _ := amd.Digest()
	armD, _ := arm.Digest()
	idxD, _ := idx.Digest()

	h := newImageRoot(t)
	if got := digestLine(t, h.ok("pull", "--platform", "linux/amd64", reg+"/test/multi:1")); got != amdD.String() {
		t.Fatalf("amd64 pull gave %s, want %s", got, amdD)
	}
	if got := strings.TrimSpace(h.ok("images", "--digests", "--format", "{{.Digest}}")); got != idxD.String() {
		t.Fatalf("repo digest %s, want the index %s", got, idxD)
	}
	h2 := newImageRoot(t)
	if got := digestLine(t, h2.ok("pull", "--platform", "linux/arm64", reg+"/test/multi:1")); got != armD.String() {
		t.Fatalf("arm64 pull gave %s, want %s", got, armD)
	}
	if _, errs, err := h2.run("pull", "--platform", "linux/s390x", reg+"/test/multi:1"); err == nil || !strings.Contains(errs, "linux/s390x") {
		t.Fatalf("s390x pull: %v %s", err, errs)
	}
}

func TestImagesSaveLoad(t *testing.T) {
	h := newImageRoot(t)
	id := strings.TrimSpace(h.ok("import", busyboxTar(t), "localhost/bb:1"))
	dir := t.TempDir()
	archive := filepath.Join(dir, "bb.tar")
	h.ok("save", "-o", archive, "localhost/bb:1")

	h2 := newImageRoot(t)
	if out := h2.ok("load", "-i", archive); !strings.Contains(out, "Loaded image: localhost/bb:1") {
		t.Fatalf("load: %s", out)
	}
	if got := strings.TrimSpace(h2.ok("inspect", "--format", "{{.Id}}", "localhost/bb:1")); got != id {
		t.Fatalf("loaded ID %s, saved %s", got, id)
	}
	h2.verifyBlobs()

	// skopeo reads our docker-archive; we read skopeo's OCI layout.
	oci := filepath.Join(dir, "oci")
	skopeo(t, "copy", "docker-archive:"+archive, "oci:"+oci+":bb")
	h3 := newImageRoot(t)
	h3.ok("pull", "oci:"+oci+":bb")
	// skopeo rewrites the config for OCI (so the ID changes); the layer
	// content must not change.
	ourLayers := h.ok("inspect", "--format", "{{json .RootFS.Layers}}", "localhost/bb:1")
	ids := strings.Fields(h3.ok("images", "-q", "--no-trunc"))
	if len(ids) != 1 {
		t.Fatalf("images after pulling skopeo's layout: %v", ids)
	}
	if got := h3.ok("inspect", "--format", "{{json .RootFS.Layers}}", ids[0]); got != ourLayers {
		t.Fatalf("layers from skopeo's layout: %s, want %s", got, ourLayers)
	}
	// Our OCI archive loads too, digest unchanged.
	ociTar := filepath.Join(dir, "bb-oci.tar")
	h.ok("save", "--format", "oci-archive", "-o", ociTar, "localhost/bb:1")
	h4 := newImageRoot(t)
	h4.ok("load", "-i", ociTar)
	if got := strings.TrimSpace(h4.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}")); got != "localhost/bb:1 "+strings.TrimPrefix(id, "sha256:")[:12] {
		t.Fatalf("after oci-archive load: %q", got)
	}
}

// throttle is a proxy in front of a registry that, while slow is set,
// feeds blob bodies slowly so that a pull can be killed halfway; it
// counts Range requests to show that a later pull resumed.
type throttle struct {
	slow   atomic.Bool
	ranges atomic.Int32
	proxy  *httputil.ReverseProxy
}

func (p *throttle) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/blobs/") && r.Method == http.MethodGet {
		if r.Header.Get("Range") != "" {
			p.ranges.Add(1)
		}
		if p.slow.Load() {
			w = &slowWriter{ResponseWriter: w}
		}
	}
	p.proxy.ServeHTTP(w, r)
}

type slowWriter struct{ http.ResponseWriter }

func (s *slowWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(len(b), 256<<10)
		m, err := s.ResponseWriter.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := s.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[k:]
		time.Sleep(20 * time.Millisecond)
	}
	return n, nil
}

func TestImagesPullKilledResumes(t *testing.T) {
	reg := startRegistry(t)
	big, err := random.Image(48<<20, 1)
	if err != nil {
		t.Fatal(err)
	}
	up, _ := url.Parse("http://" + reg)
	th := &throttle{proxy: httputil.NewSingleHostReverseProxy(up)}
	th.slow.Store(true)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: th}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	ref := l.Addr().String() + "/test/big:1"
	r, _ := name.ParseReference(ref)
	if err := remote.Write(r, big); err != nil {
		t.Fatal(err)
	}

	h := newImageRoot(t)
	cmd := exec.Command(hutchBin, "--root", h.root, "pull", ref)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+filepath.Join(h.root, "docker-config"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the layer's ingest holds a few MiB, then SIGKILL.
	deadline := time.Now().Add(time.Minute)
	for {
		matches, _ := filepath.Glob(filepath.Join(h.root, "ingest", "*", "data"))
		var size int64
		for _, m := range matches {
			if st, err := os.Stat(m); err == nil {
				size = max(size, st.Size())
			}
		}
		if size > 4<<20 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the pull never got 4 MiB into a blob (%d)", size)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL
	cmd.Wait()
	layers, _ := big.Layers()
	ld, _ := layers[0].Digest()
	if _, err := os.Stat(filepath.Join(h.root, "blobs", "sha256", ld.Hex)); err == nil {
		t.Fatal("the half-fetched layer is in the blob store")
	}
	h.verifyBlobs()

	th.slow.Store(false)
	want, _ := big.Digest()
	if got := digestLine(t, h.ok("pull", ref)); got != want.String() {
		t.Fatalf("pulled %s, want %s", got, want)
	}
	if th.ranges.Load() == 0 {
		t.Error("the second pull did not resume the partial layer (no Range request)")
	}
	if n := h.verifyBlobs(); n != 3 {
		t.Fatalf("%d blobs, want 3", n)
	}
	if ents, _ := os.ReadDir(filepath.Join(h.root, "ingest")); len(ents) != 0 {
		t.Fatalf("ingest left behind: %v", ents)
	}
}
