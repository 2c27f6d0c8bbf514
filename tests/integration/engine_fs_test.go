package integration

// End-to-end tests of the filesystem verbs: cp (both ways, tar streams,
// running and stopped containers, symlinks that point out of the
// container), diff, commit and export.

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fsToken is a random name, so that a file that escapes the container
// cannot be mistaken for one an earlier run left.
func fsToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	return "hutch-fs-" + hex.EncodeToString(b)
}

// fsTar builds a tar from entries: "name" with content, "dir/" a
// directory, "name -> target" a symlink.
func fsTar(t *testing.T, entries ...[2]string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e[0], Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e[1])), Uid: 4321, Gid: 4321}
		if name, target, ok := strings.Cut(e[0], " -> "); ok {
			hdr = &tar.Header{Name: name, Linkname: target, Mode: 0o777, Typeflag: tar.TypeSymlink}
		} else if strings.HasSuffix(e[0], "/") {
			hdr = &tar.Header{Name: e[0], Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(e[1]))
		}
	}
	tw.Close()
	return buf.String()
}

// fsTarNames lists the entry names of a tar.
func fsTarNames(t *testing.T, data string) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(strings.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		out[hdr.Name] = hdr
	}
}

// fsCat returns a file of the running container ref.
func (e *engineT) fsCat(ref, path string) string {
	e.t.Helper()
	return e.ok("exec", ref, "cat", path)
}

func TestEngineFSCopyRunning(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "web", e.image, "sleep", "1000")
	host := t.TempDir()
	file := filepath.Join(host, "greeting")
	if err := os.WriteFile(file, []byte("hello\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chown(file, 1234, 1234)
	tree := filepath.Join(host, "tree")
	os.MkdirAll(filepath.Join(tree, "sub"), 0o755)
	os.WriteFile(filepath.Join(tree, "sub", "one"), []byte("1"), 0o644)
	os.WriteFile(filepath.Join(tree, "top"), []byte("T"), 0o600)
	os.Symlink("sub/one", filepath.Join(tree, "link"))

	// A file into a directory keeps its name; without -a it belongs to
	// the container's root, with -a it keeps its owner.
	e.ok("cp", file, "web:/tmp")
	if got := e.fsCat("web", "/tmp/greeting"); got != "hello\n" {
		t.Errorf("/tmp/greeting: %q", got)
	}
	if got := e.ok("exec", "web", "stat", "-c", "%u:%g %a", "/tmp/greeting"); got != "0:0 640\n" {
		t.Errorf("owner and mode without -a: %q", got)
	}
	e.ok("cp", "-a", file, "web:/tmp/kept")
	if got := e.ok("exec", "web", "stat", "-c", "%u:%g", "/tmp/kept"); got != "1234:1234\n" {
		t.Errorf("owner with -a: %q", got)
	}
	// A file onto a new name; onto an existing file.
	e.ok("cp", file, "web:/tmp/renamed")
	e.ok("exec", "web", "sh", "-c", "echo old > /tmp/existing")
	e.ok("cp", file, "web:/tmp/existing")
	if got := e.fsCat("web", "/tmp/existing"); got != "hello\n" {
		t.Errorf("an existing file is replaced: %q", got)
	}
	// A directory onto a new name becomes it; into an existing one goes
	// under its name; "dir/." puts the contents.
	e.ok("cp", tree, "web:/newtree")
	e.ok("exec", "web", "mkdir", "/into", "/contents")
	e.ok("cp", tree, "web:/into")
	e.ok("cp", tree+"/.", "web:/contents")
	want := "/X\n/X/link\n/X/sub\n/X/sub/one\n/X/top\n"
	for _, dir := range []string{"/newtree", "/into/tree", "/contents"} {
		got := e.ok("exec", "web", "sh", "-c", "find "+dir+" | sort")
		if got != strings.ReplaceAll(want, "/X", dir) {
			t.Errorf("find %s:\n%s", dir, got)
		}
	}
	if got := e.ok("exec", "web", "readlink", "/newtree/link"); got != "sub/one\n" {
		t.Errorf("the symlink: %q", got)
	}
	if got := e.ok("exec", "web", "stat", "-c", "%a", "/newtree/top"); got != "600\n" {
		t.Errorf("mode of /newtree/top: %q", got)
	}

	// Out of the container: a file into a host directory, onto a new
	// name, a directory, a directory's contents.
	out := t.TempDir()
	e.ok("cp", "web:/tmp/greeting", out)
	e.ok("cp", "web:/etc/passwd", filepath.Join(out, "pw"))
	e.ok("cp", "web:/newtree", filepath.Join(out, "t"))
	e.ok("cp", "web:/newtree/.", out)
	for name, want := range map[string]string{"greeting": "hello\n", "t/sub/one": "1", "sub/one": "1", "top": "T", "pw": e.fsCat("web", "/etc/passwd")} {
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || string(got) != want {
			t.Errorf("host %s: %q, %v; want %q", name, got, err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(out, "t", "link")); err != nil || l != "sub/one" {
		t.Errorf("host t/link: %q, %v", l, err)
	}

	// Errors: exit 125, the container and the path named, nothing made.
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"cp", "web:/nope", out}, `container "web": /nope: no such file or directory`},
		{[]string{"cp", file, "web:/nope/x"}, `container "web": /nope: no such file or directory`},
		{[]string{"cp", file, "web:/newdir/"}, `container "web": /newdir/: no such directory`},
		{[]string{"cp", tree, "web:/tmp/greeting"}, "cannot copy a directory to a file"},
		{[]string{"cp", "web:/etc/passwd/", out}, "not a directory"},
		{[]string{"cp", file, "nosuch:/tmp"}, "no such container: nosuch"},
		{[]string{"cp", "web:/tmp/greeting", "web:/tmp/x"}, "copying between containers is not supported"},
		{[]string{"cp", file, filepath.Join(out, "x")}, "must specify at least one container source"},
		{[]string{"cp", filepath.Join(host, "missing"), "web:/tmp"}, filepath.Join(host, "missing") + ": no such file or directory"},
	} {
		r := e.fails(125, c.args...)
		if !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("hutch %v: stderr %q, want %q", c.args, r.Stderr, c.msg)
		}
	}
	if got := e.run("exec", "web", "ls", "/nope", "/newdir"); got.Code == 0 {
		t.Errorf("a failed cp made something: %v", got)
	}
	// A read-only root filesystem takes nothing, but can be read.
	e.runDetached("--name", "ro", "--read-only", e.image, "sleep", "1000")
	r := e.fails(125, "cp", file, "ro:/tmp")
	if !strings.Contains(r.Stderr, `container "ro": its root filesystem is read-only`) {
		t.Errorf("cp into a read-only container: %q", r.Stderr)
	}
	e.ok("cp", "ro:/etc/passwd", filepath.Join(out, "ro-passwd"))
}

func TestEngineFSCopySymlinkEscape(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "box", e.image, "sleep", "1000")
	tok := fsToken(t)
	// Links that point out of the container if resolved on the host.
	e.ok("exec", "box", "sh", "-c", "echo container-hostname > /etc/hostname-"+tok+
		" && ln -s /etc /esc && ln -s /etc/hostname-"+tok+" /hn && ln -s ../../../../../ /up && ln -s /tmp/"+tok+" /dangling")
	host := t.TempDir()
	file := filepath.Join(host, "f")
	os.WriteFile(file, []byte("payload\n"), 0o644)

	// Reading through links: the container's files, never the host's.
	out := t.TempDir()
	e.ok("cp", "-L", "box:/hn", filepath.Join(out, "hn"))
	if got, _ := os.ReadFile(filepath.Join(out, "hn")); string(got) != "container-hostname\n" {
		t.Errorf("cp -L of a link to /etc/hostname-X: %q", got)
	}
	e.ok("cp", "box:/hn", filepath.Join(out, "hn-link"))
	if l, _ := os.Readlink(filepath.Join(out, "hn-link")); l != "/etc/hostname-"+tok {
		t.Errorf("cp without -L copies the link itself: %q", l)
	}
	e.ok("cp", "box:/up/up/etc/passwd", filepath.Join(out, "pw"))
	if got, _ := os.ReadFile(filepath.Join(out, "pw")); string(got) != e.fsCat("box", "/etc/passwd") {
		t.Errorf("/up/up/etc/passwd is not the container's passwd")
	}
	e.ok("cp", "box:/esc/hostname-"+tok, filepath.Join(out, "via-esc"))

	// Writing through links and "..": it lands in the container.
	e.ok("cp", file, "box:/esc/evil-"+tok)
	e.ok("cp", file, "box:/../../../../tmp/"+tok+"-dots")
	e.ok("cp", file, "box:/up/up/tmp/"+tok+"-up")
	e.ok("cp", file, "box:/dangling")
	for _, p := range []string{"/etc/evil-" + tok, "/tmp/" + tok + "-dots", "/tmp/" + tok + "-up", "/tmp/" + tok} {
		if got := e.fsCat("box", p); got != "payload\n" {
			t.Errorf("container %s: %q", p, got)
		}
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s appeared on the host", p)
		}
	}

	// A tar stream that climbs out by name is refused; one that writes
	// through a symlink of its own stays inside.
	r := e.runIn(fsTar(t, [2]string{"../../../../tmp/" + tok + "-tar", "x"}), "cp", "-", "box:/tmp")
	if r.Code != 125 || !strings.Contains(r.Stderr, "escapes") {
		t.Errorf("a tar entry with ../: %v", r)
	}
	r = e.runIn(fsTar(t, [2]string{"root -> /", ""}, [2]string{"root/tmp/" + tok + "-link", "through\n"}), "cp", "-", "box:/tmp")
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	if got := e.fsCat("box", "/tmp/"+tok+"-link"); got != "through\n" {
		t.Errorf("written through the tar's own link: %q", got)
	}
	for _, p := range []string{"/tmp/" + tok + "-tar", "/tmp/" + tok + "-link"} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s appeared on the host", p)
		}
	}
}

func TestEngineFSCopyStopped(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "idle", e.image, "sh", "-c", "echo before > /tmp/state; sleep 1000")
	e.waitFile("idle", "/tmp/state")
	e.ok("stop", "-t", "0", "idle")
	e.waitState("idle", "exited")
	host := t.TempDir()
	file := filepath.Join(host, "note")
	os.WriteFile(file, []byte("written while stopped\n"), 0o644)

	e.ok("cp", file, "idle:/note")
	e.ok("cp", "idle:/tmp/state", filepath.Join(host, "state"))
	if got, _ := os.ReadFile(filepath.Join(host, "state")); string(got) != "before\n" {
		t.Errorf("read from a stopped container: %q", got)
	}
	if ms := e.mountsUnder(filepath.Dir(e.root)); len(ms) > 0 {
		t.Errorf("cp of a stopped container left mounts: %v", ms)
	}
	// A container that never ran.
	e.ok("create", "--name", "fresh", e.image, "cat", "/note")
	e.ok("cp", file, "fresh:/note")
	if r := e.run("start", "-a", "fresh"); !strings.Contains(r.Stdout, "written while stopped") {
		// start -a may not exist yet: read it from the logs.
		e.ok("wait", "fresh")
		if logs := e.ok("logs", "fresh"); logs != "written while stopped\n" {
			t.Errorf("fresh container: %v / logs %q", r, logs)
		}
	}
	// A cp killed halfway (SIGKILL while it waits for its tar on stdin)
	// leaves no mount: the snapshot's mount was detached from the start
	// and went with the process.
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	killed := e.command(ctx, "cp", "-", "idle:/tmp")
	stdin, err := killed.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := killed.Start(); err != nil {
		t.Fatal(err)
	}
	// Half a tar: the extraction starts, then waits for the rest.
	var half bytes.Buffer
	tw := tar.NewWriter(&half)
	tw.WriteHeader(&tar.Header{Name: "partial", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 20})
	tw.Write(make([]byte, 4096))
	tw.Flush()
	stdin.Write(half.Bytes())
	// The entry appears in the writable layer: the snapshot is mounted
	// (detached) and being written when the kill comes.
	e.waitGlob(filepath.Join(e.root, "*", "snapshots", "*", "fs", "tmp", "partial"))
	killed.Process.Kill()
	killed.Wait()
	stdin.Close()
	if ms := e.mountsUnder(filepath.Dir(e.root)); len(ms) > 0 {
		t.Errorf("a killed cp left mounts: %v", ms)
	}
	e.ok("start", "idle")
	if got := e.fsCat("idle", "/note"); got != "written while stopped\n" {
		t.Errorf("after start: %q", got)
	}
}

// waitFile polls until path exists in the running container ref.
func (e *engineT) waitFile(ref, path string) {
	e.t.Helper()
	for i := 0; i < 300; i++ {
		if e.run("exec", ref, "test", "-e", path).Code == 0 {
			return
		}
		sleepMs(10)
	}
	e.t.Fatalf("%s never appeared in %s", path, ref)
}

// waitGlob waits for a host path matching pattern to exist.
func (e *engineT) waitGlob(pattern string) {
	e.t.Helper()
	for i := 0; i < 500; i++ {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return
		}
		sleepMs(10)
	}
	e.t.Fatalf("%s never appeared", pattern)
}

func sleepMs(n int) { unix.Nanosleep(&unix.Timespec{Nsec: int64(n) * 1e6}, nil) }

func TestEngineFSCopyTarStreams(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "st", e.image, "sleep", "1000")
	// Out: a directory under its base name; a file alone; "/." contents.
	names := fsTarNames(t, e.ok("cp", "st:/etc", "-"))
	for _, n := range []string{"etc/", "etc/passwd", "etc/group"} {
		if names[n] == nil {
			t.Errorf("cp st:/etc -: no %s in %v", n, names)
		}
	}
	names = fsTarNames(t, e.ok("cp", "st:/bin/busybox", "-"))
	if h := names["busybox"]; len(names) != 1 || h == nil || h.Size < 100000 || h.Mode&0o111 == 0 {
		t.Errorf("cp st:/bin/busybox -: %v", names)
	}
	names = fsTarNames(t, e.ok("cp", "st:/etc/.", "-"))
	if names["./passwd"] == nil && names["passwd"] == nil {
		t.Errorf("cp st:/etc/. -: %v", names)
	}
	// The stream and tar(1) agree.
	cmd := exec.Command("sh", "-c", `"$0" --root "$1" --runroot "$2" cp st:/etc - | tar -tf -`, hutchBin, e.root, e.runroot)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "etc/passwd") {
		t.Errorf("cp | tar -t: %v\n%s", err, out)
	}

	// In: a user's tar, kept as it is (-a keeps its owners).
	in := fsTar(t, [2]string{"pkg/", ""}, [2]string{"pkg/a.txt", "A\n"}, [2]string{"pkg/l -> a.txt", ""})
	e.ok("exec", "st", "mkdir", "/dest")
	if r := e.runIn(in, "cp", "-a", "-", "st:/dest"); r.Code != 0 {
		t.Fatalf("%v", r)
	}
	if got := e.ok("exec", "st", "sh", "-c", "cat /dest/pkg/l; stat -c %u /dest/pkg/a.txt"); got != "A\n4321\n" {
		t.Errorf("extracted stream: %q", got)
	}
	// gzip too.
	var gz bytes.Buffer
	gzCmd := exec.Command("gzip", "-c")
	gzCmd.Stdin, gzCmd.Stdout = strings.NewReader(fsTar(t, [2]string{"zipped", "Z\n"})), &gz
	if err := gzCmd.Run(); err == nil {
		if r := e.runIn(gz.String(), "cp", "-", "st:/dest"); r.Code != 0 {
			t.Errorf("gzip stream: %v", r)
		} else if got := e.fsCat("st", "/dest/zipped"); got != "Z\n" {
			t.Errorf("gzip stream: %q", got)
		}
	}
	// The destination of a stream must be an existing directory.
	r := e.runIn(in, "cp", "-", "st:/dest/pkg/a.txt")
	if r.Code != 125 || !strings.Contains(r.Stderr, "must be a directory") {
		t.Errorf("stream onto a file: %v", r)
	}
	r = e.runIn(in, "cp", "-", "st:/missing")
	if r.Code != 125 || !strings.Contains(r.Stderr, `container "st": /missing: no such file or directory`) {
		t.Errorf("stream into a missing directory: %v", r)
	}
	// A directory is never replaced by a file, nor a file by a directory.
	r = e.runIn(fsTar(t, [2]string{"pkg", "file now"}), "cp", "-", "st:/dest")
	if r.Code != 125 || !strings.Contains(r.Stderr, "cannot overwrite directory with non-directory") {
		t.Errorf("file over directory: %v", r)
	}
}

func TestEngineFSDiff(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "dd", e.image, "sleep", "1000")
	if got := e.ok("diff", "dd"); got != "" {
		t.Errorf("diff of a fresh container: %q", got)
	}
	e.ok("exec", "dd", "sh", "-c", "mkdir -p /new/dir && echo x > /new/dir/f && echo more >> /etc/group && rm /bin/vi && rm -rf /usr/sbin && touch /tmp/t")
	want := []string{
		"C /bin", "D /bin/vi", "C /etc", "C /etc/group",
		"A /new", "A /new/dir", "A /new/dir/f",
		"C /tmp", "A /tmp/t", "C /usr", "D /usr/sbin",
	}
	check := func(when string) {
		t.Helper()
		got := strings.Split(strings.TrimSpace(e.ok("diff", "dd")), "\n")
		if !slices.Equal(got, want) {
			t.Errorf("diff %s:\n%s\nwant:\n%s", when, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	check("running")
	e.ok("stop", "-t", "0", "dd")
	check("stopped")
	r := e.fails(125, "diff", "nosuch")
	if !strings.Contains(r.Stderr, "no such container: nosuch") {
		t.Errorf("diff of a missing container: %q", r.Stderr)
	}
}

// TestEngineFSNativeDriver runs cp, diff and commit on the native
// (copying) snapshotter, whose diff compares two full trees.
func TestEngineFSNativeDriver(t *testing.T) {
	t.Setenv("HUTCH_STORAGE_DRIVER", "native")
	e := newEngine(t)
	if got, _ := os.ReadFile(filepath.Join(e.root, "storage-driver")); strings.TrimSpace(string(got)) != "native" {
		t.Fatalf("storage driver %q", got)
	}
	e.runDetached("--name", "nat", e.image, "sleep", "1000")
	e.ok("exec", "nat", "sh", "-c", "mkdir /new && echo x > /new/f && echo more >> /etc/group && rm /bin/vi && rm -rf /usr/sbin")
	want := "C /bin\nD /bin/vi\nC /etc\nC /etc/group\nA /new\nA /new/f\nC /usr\nD /usr/sbin\n"
	if got := e.ok("diff", "nat"); got != want {
		t.Errorf("diff:\n%s\nwant:\n%s", got, want)
	}
	e.ok("cp", "nat:/new/f", filepath.Join(t.TempDir(), "f"))
	e.ok("commit", "-c", `CMD ["cat", "/new/f"]`, "nat", "native:committed")
	if got := e.ok("run", "--rm", "native:committed"); got != "x\n" {
		t.Errorf("run of the committed image: %q", got)
	}
	got := e.ok("run", "--rm", "native:committed", "sh", "-c", "tail -1 /etc/group; ls /bin/vi /usr/sbin 2>&1 | wc -l")
	if got != "more\n2\n" {
		t.Errorf("committed changes: %q", got)
	}
}

func TestEngineFSCommit(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "src", "-e", "FROM_RUN=1", e.image, "sh", "-c", "echo made > /made && rm /bin/vi && sleep 1000")
	e.waitFile("src", "/made")
	id := strings.TrimSpace(e.ok("commit", "-m", "a message", "-a", "Tester <t@example.com>",
		"-c", `CMD ["cat", "/made"]`, "-c", "ENV GREETING=hi", "-c", "WORKDIR /tmp", "-c", "LABEL stage=test",
		"-c", "EXPOSE 8080", "src", "committed:1"))
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("commit printed %q, want sha256:<64 hex>", id)
	}
	// Committing paused the container and resumed it.
	if got := e.inspect("src", "{{.State.Status}}"); got != "running" {
		t.Errorf("after commit the container is %q", got)
	}
	if got := e.ok("run", "--rm", "committed:1"); got != "made\n" {
		t.Errorf("the new image's CMD: %q", got)
	}
	got := e.ok("run", "--rm", "committed:1", "sh", "-c", `echo $GREETING $FROM_RUN; pwd; test -e /bin/vi || echo no-vi`)
	if got != "hi 1\n/tmp\nno-vi\n" {
		t.Errorf("the new image's env, workdir and deletion: %q", got)
	}
	hist := e.ok("history", "committed:1")
	if !strings.Contains(hist, "a message") {
		t.Errorf("history lacks the message:\n%s", hist)
	}
	if cfg := e.ok("inspect", "--type", "image", "committed:1"); !strings.Contains(cfg, "Tester") ||
		!strings.Contains(cfg, "8080/tcp") || !strings.Contains(cfg, `"stage"`) {
		t.Errorf("inspect of the new image:\n%s", cfg)
	}
	// Untagged, without pausing, of a stopped container.
	e.ok("commit", "--pause=false", "src")
	e.ok("stop", "-t", "0", "src")
	e.ok("commit", "src", "committed:stopped")
	if got := e.ok("run", "--rm", "committed:stopped", "cat", "/made"); got != "made\n" {
		t.Errorf("commit of a stopped container: %q", got)
	}

	// Errors: exit 125, a clear message, no image made.
	before := e.ok("images", "-q", "-a")
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"commit", "-c", "FROM busybox", "src", "bad:1"}, `change "FROM busybox": unsupported instruction`},
		{[]string{"commit", "-c", "CMD", "src", "bad:1"}, "needs an argument"},
		{[]string{"commit", "nosuch", "bad:1"}, "no such container: nosuch"},
		{[]string{"commit", "src", "Bad Name:1"}, "Bad Name"},
	} {
		r := e.fails(125, c.args...)
		if !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("hutch %v: stderr %q, want %q", c.args, r.Stderr, c.msg)
		}
	}
	if after := e.ok("images", "-q", "-a"); after != before {
		t.Errorf("failed commits changed the images:\n%s\nthen\n%s", before, after)
	}
	if ents, _ := filepath.Glob(filepath.Join(e.root, ".commit-*")); len(ents) > 0 {
		t.Errorf("commit left temporary files: %v", ents)
	}
}

func TestEngineFSExport(t *testing.T) {
	e := newEngine(t)
	e.runDetached("--name", "ex", e.image, "sh", "-c", "echo exported > /root-file && sleep 1000")
	e.waitFile("ex", "/root-file")
	check := func(data string) {
		t.Helper()
		names := fsTarNames(t, data)
		for _, n := range []string{"bin/busybox", "root-file", "etc/passwd"} {
			if names[n] == nil {
				t.Errorf("export lacks %s (%d entries)", n, len(names))
			}
		}
		for n := range names {
			if strings.HasPrefix(n, "proc/") && n != "proc/" {
				t.Errorf("export holds %s: a mount inside the container", n)
				break
			}
		}
	}
	check(e.ok("export", "ex"))
	cmd := exec.Command("sh", "-c", `"$0" --root "$1" --runroot "$2" export ex | tar -t`, hutchBin, e.root, e.runroot)
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "bin/busybox\n") || !strings.Contains(string(out), "root-file\n") {
		t.Errorf("export | tar -t: %v\n%s", err, out)
	}
	dir := t.TempDir()
	e.ok("stop", "-t", "0", "ex")
	e.ok("export", "-o", filepath.Join(dir, "ex.tar"), "ex")
	data, err := os.ReadFile(filepath.Join(dir, "ex.tar"))
	if err != nil {
		t.Fatal(err)
	}
	check(string(data))

	// Errors: a missing container leaves no file; a terminal is refused.
	r := e.fails(125, "export", "-o", filepath.Join(dir, "none.tar"), "nosuch")
	if !strings.Contains(r.Stderr, "no such container: nosuch") {
		t.Errorf("export of a missing container: %q", r.Stderr)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a failed export left files: %v", ents)
	}
	ptm, pts := fsOpenPTY(t)
	defer ptm.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	tc := e.command(ctx, "export", "ex")
	var stderr bytes.Buffer
	tc.Stdout, tc.Stderr = pts, &stderr
	err = tc.Run()
	pts.Close()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 || !strings.Contains(stderr.String(), "refusing to save to a terminal") {
		t.Errorf("export to a terminal: %v, %q", err, stderr.String())
	}
}

// fsOpenPTY opens a pseudo-terminal pair.
func fsOpenPTY(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}
