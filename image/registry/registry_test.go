package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/image"
	"hutch.dev/hutch/image/content"
)

// serve starts an in-process registry on 127.0.0.1, optionally behind a
// wrapping handler, and returns its host:port.
func serve(t *testing.T, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	var h http.Handler = ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func newStore(t *testing.T) *image.Store {
	t.Helper()
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func opts(t *testing.T) Options {
	// An empty auth file keeps the tests away from the user's credentials.
	return Options{AuthFile: filepath.Join(t.TempDir(), "auth.json")}
}

func pushRandom(t *testing.T, ref string, size int64, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(mustRef(ref), img); err != nil {
		t.Fatal(err)
	}
	return img
}

func verifyAll(t *testing.T, c *content.Store) int {
	t.Helper()
	n := 0
	if err := c.Walk(func(i content.Info) error { n++; return c.Verify(i.Digest) }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPullPush(t *testing.T) {
	host := serve(t, nil)
	src := pushRandom(t, host+"/test/rand:1", 4096, 3)
	want, _ := src.Digest()
	s := newStore(t)
	var mu sync.Mutex
	events := map[image.Status]int{}
	o := opts(t)
	o.Progress = func(p image.Progress) { mu.Lock(); events[p.Status]++; mu.Unlock() }
	img, err := Pull(context.Background(), s, host+"/test/rand:1", o)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest.String() != want.String() {
		t.Fatalf("pulled %s, registry has %s", img.Digest, want)
	}
	if img.Names[0] != host+"/test/rand:1" || img.RepoDigests[0] != host+"/test/rand@"+want.String() {
		t.Fatalf("names %v, repo digests %v", img.Names, img.RepoDigests)
	}
	if events[image.Done] != 5 { // config, 3 layers, manifest
		t.Fatalf("done events: %v", events)
	}
	if n := verifyAll(t, s.Content()); n != 5 {
		t.Fatalf("%d blobs stored, want 5", n)
	}
	// A second pull skips every blob.
	clear(events)
	if _, err := Pull(context.Background(), s, host+"/test/rand:1", o); err != nil {
		t.Fatal(err)
	}
	if events[image.Skipped] != 4 || events[image.Copying] != 1 {
		t.Fatalf("second pull: %v", events)
	}
	// Push to another repository; the digest is unchanged.
	d, err := Push(context.Background(), s, host+"/test/rand:1", host+"/other/copy:2", opts(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := remote.Head(mustRef(host + "/other/copy:2"))
	if err != nil || got.Digest.String() != want.String() || d.String() != want.String() {
		t.Fatalf("pushed %s, registry has %v (%v)", d, got, err)
	}
	// A missing tag is a NotFound naming the image.
	if _, err := Pull(context.Background(), s, host+"/test/rand:nope", o); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "test/rand:nope") {
		t.Fatalf("pull of a missing tag: %v", err)
	}
}

func TestPullIndexPlatform(t *testing.T) {
	host := serve(t, nil)
	amd, _ := random.Image(512, 1)
	arm, _ := random.Image(512, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref := host + "/multi/arch:1"
	if err := remote.WriteIndex(mustRef(ref), idx); err != nil {
		t.Fatal(err)
	}
	idxDigest, _ := idx.Digest()
	amdDigest, _ := amd.Digest()
	armDigest, _ := arm.Digest()

	s := newStore(t)
	o := opts(t)
	o.Platform = &v1.Platform{OS: "linux", Architecture: "amd64"}
	img, err := Pull(context.Background(), s, ref, o)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest.String() != amdDigest.String() || img.Index.String() != idxDigest.String() {
		t.Fatalf("pulled %s from %s; want %s from %s", img.Digest, img.Index, amdDigest, idxDigest)
	}
	if img.RepoDigests[0] != host+"/multi/arch@"+idxDigest.String() {
		t.Fatalf("repo digest %v", img.RepoDigests)
	}
	o.Platform = &v1.Platform{OS: "linux", Architecture: "arm64"}
	img, err = Pull(context.Background(), s, ref, o)
	if err != nil || img.Digest.String() != armDigest.String() {
		t.Fatalf("arm64 pull: %v, %v", img, err)
	}
	o.Platform = &v1.Platform{OS: "linux", Architecture: "s390x"}
	if _, err = Pull(context.Background(), s, ref, o); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "linux/s390x") {
		t.Fatalf("s390x pull: %v", err)
	}
}

// countRanges wraps a registry to record Range requests for blobs.
func TestPullResumesPartialBlob(t *testing.T) {
	var ranges atomic.Int32
	host := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Range") != "" && strings.Contains(r.URL.Path, "/blobs/") {
				ranges.Add(1)
			}
			h.ServeHTTP(w, r)
		})
	})
	src := pushRandom(t, host+"/test/big:1", 1<<20, 1)
	layers, _ := src.Layers()
	ld, _ := layers[0].Digest()
	size, _ := layers[0].Size()
	rc, _ := layers[0].Compressed()
	half := make([]byte, size/2)
	io.ReadFull(rc, half)
	rc.Close()

	s := newStore(t)
	w, err := s.Content().Writer(digest.Digest(ld.String()), size)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(half)
	w.Close() // as if the pull had been killed here

	if _, err := Pull(context.Background(), s, host+"/test/big:1", opts(t)); err != nil {
		t.Fatal(err)
	}
	if ranges.Load() != 1 {
		t.Fatalf("%d Range requests, want 1", ranges.Load())
	}
	verifyAll(t, s.Content())
	if ents, _ := os.ReadDir(filepath.Join(s.Root(), "ingest")); len(ents) != 0 {
		t.Fatalf("ingest left behind: %v", ents)
	}
}

func TestPullRetriesAndRefusesCorruptBlobs(t *testing.T) {
	var fails atomic.Int32
	var corrupt atomic.Bool
	host := serve(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				if corrupt.Load() {
					w.WriteHeader(http.StatusOK)
					w.Write([]byte("not the blob you asked for"))
					return
				}
				if fails.Add(1) <= 2 {
					// Cut the body short: a transient failure mid-blob.
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, r)
					w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
					return
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	pushRandom(t, host+"/test/flaky:1", 64<<10, 1)
	s := newStore(t)
	if _, err := Pull(context.Background(), s, host+"/test/flaky:1", opts(t)); err != nil {
		t.Fatalf("pull through two cut connections: %v", err)
	}
	verifyAll(t, s.Content())

	pushRandom(t, host+"/test/bad:1", 1024, 1)
	corrupt.Store(true)
	s2 := newStore(t)
	if _, err := Pull(context.Background(), s2, host+"/test/bad:1", opts(t)); err == nil {
		t.Fatal("pull of corrupt blobs succeeded")
	}
	if n := verifyAll(t, s2.Content()); n != 0 {
		t.Fatalf("%d blobs stored from a corrupt registry", n)
	}
	if imgs, _ := s2.List(); len(imgs) != 0 {
		t.Fatal("an image was recorded")
	}
}

// tokenAuth puts a registry behind Docker-style token auth: /v2/ answers
// 401 with a Bearer challenge; /token trades user:pass for a token.
func tokenAuth(user, pass string) func(http.Handler) http.Handler {
	const token = "sesame"
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/token" {
				u, p, ok := r.BasicAuth()
				if !ok || u != user || p != pass {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				json.NewEncoder(w).Encode(map[string]string{"token": token})
				return
			}
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
}

func TestTokenAuthLogin(t *testing.T) {
	host := serve(t, tokenAuth("alice", "s3cret"))
	o := opts(t)
	s := newStore(t)
	img, _ := random.Image(256, 1)

	// Anonymous access is refused.
	if _, err := Pull(context.Background(), s, host+"/p/img:1", o); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("anonymous pull: %v", err)
	}
	if _, err := Login(context.Background(), host, "alice", "wrong", o); !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("login with a wrong password: %v", err)
	}
	if _, err := os.Stat(o.AuthFile); err == nil {
		t.Fatal("a failed login stored credentials")
	}
	if _, err := Login(context.Background(), host, "alice", "s3cret", o); err != nil {
		t.Fatal(err)
	}
	var cf struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	b, _ := os.ReadFile(o.AuthFile)
	json.Unmarshal(b, &cf)
	if cf.Auths[host].Auth != base64.StdEncoding.EncodeToString([]byte("alice:s3cret")) {
		t.Fatalf("auth file: %s", b)
	}
	// Push with remote (authenticated from the same file), pull with Pull.
	kc := &fileKeychain{path: o.AuthFile}
	if err := remote.Write(mustRef(host+"/p/img:1"), img, remote.WithAuthFromKeychain(kc)); err != nil {
		t.Fatal(err)
	}
	if _, err := Pull(context.Background(), s, host+"/p/img:1", o); err != nil {
		t.Fatal(err)
	}
	if _, err := Push(context.Background(), s, host+"/p/img:1", host+"/p/again:1", o); err != nil {
		t.Fatal(err)
	}
	if err := Logout(host, o); err != nil {
		t.Fatal(err)
	}
	if err := Logout(host, o); !errdefs.IsNotFound(err) {
		t.Fatalf("second logout: %v", err)
	}
	if _, err := Pull(context.Background(), newStore(t), host+"/p/img:1", o); err == nil {
		t.Fatal("pull after logout succeeded")
	}
}

func mustRef(s string) name.Reference {
	r, err := name.ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}
