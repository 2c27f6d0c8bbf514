package reference

import "testing"

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                           "docker.io/library/busybox:latest",
		"busybox:1.36":                      "docker.io/library/busybox:1.36",
		"docker.io/busybox":                 "docker.io/library/busybox:latest",
		"index.docker.io/library/busybox:1": "docker.io/library/busybox:1",
		"user/app":                          "docker.io/user/app:latest",
		"localhost:5000/x":                  "localhost:5000/x:latest",
		"127.0.0.1:5000/a/b:v2":             "127.0.0.1:5000/a/b:v2",
		"quay.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef": "quay.io/x/y@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"busybox:1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef":   "docker.io/library/busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	} {
		got, err := Normalize(in)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER", "a b", "x:", "-x", "busybox@sha256:12"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}

func TestFamiliarSplit(t *testing.T) {
	for full, want := range map[string]string{
		"docker.io/library/busybox:latest": "busybox:latest",
		"docker.io/user/app:1":             "user/app:1",
		"localhost:5000/x:latest":          "localhost:5000/x:latest",
	} {
		if got := Familiar(full); got != want {
			t.Errorf("Familiar(%q) = %q, want %q", full, got, want)
		}
	}
	if r, tag := Split("localhost:5000/x:1"); r != "localhost:5000/x" || tag != "1" {
		t.Errorf("Split = %q %q", r, tag)
	}
	if r, tag := Split("localhost:5000/x"); r != "localhost:5000/x" || tag != "" {
		t.Errorf("Split = %q %q", r, tag)
	}
	if r, d := Split("docker.io/library/x@sha256:ab"); r != "docker.io/library/x" || d != "sha256:ab" {
		t.Errorf("Split = %q %q", r, d)
	}
}

func TestIsLoopback(t *testing.T) {
	for reg, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true,
		"docker.io": false, "10.0.0.1:5000": false, "localhost.example.com": false,
	} {
		if got := IsLoopback(reg); got != want {
			t.Errorf("IsLoopback(%q) = %v", reg, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"busybox", "localhost:5000/x:1", "a/b@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Normalize(s)
		if err != nil {
			return
		}
		// The normal form is a fixed point.
		n2, err := Normalize(n)
		if err != nil || n2 != n {
			t.Fatalf("Normalize(%q) = %q, then %q, %v", s, n, n2, err)
		}
	})
}
