package imagechange

import (
	"reflect"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hutch.dev/hutch/errdefs"
)

func TestApply(t *testing.T) {
	c := v1.Config{Env: []string{"PATH=/bin", "A=1"}}
	for _, ch := range []string{
		`CMD ["cat", "/f"]`,
		`ENTRYPOINT /bin/run --flag`,
		`ENV A=2`,
		`ENV B three`,
		`WORKDIR /srv`,
		`USER 1000:1000`,
		`STOPSIGNAL SIGINT`,
		`LABEL stage="test"`,
		`EXPOSE 80 53/udp`,
		`VOLUME ["/data", "/logs"]`,
		`volume /cache`,
	} {
		if err := Apply(&c, ch); err != nil {
			t.Fatalf("%s: %v", ch, err)
		}
	}
	want := v1.Config{
		Cmd:          []string{"cat", "/f"},
		Entrypoint:   []string{"/bin/sh", "-c", "/bin/run --flag"},
		Env:          []string{"PATH=/bin", "A=2", "B=three"},
		WorkingDir:   "/srv",
		User:         "1000:1000",
		StopSignal:   "SIGINT",
		Labels:       map[string]string{"stage": "test"},
		ExposedPorts: map[string]struct{}{"80/tcp": {}, "53/udp": {}},
		Volumes:      map[string]struct{}{"/data": {}, "/logs": {}, "/cache": {}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestApplyRefuses(t *testing.T) {
	for _, ch := range []string{"FROM busybox", "RUN true", "CMD", "ENV", "ENV =x", ""} {
		var c v1.Config
		if err := Apply(&c, ch); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: got %v, want an invalid argument", ch, err)
		}
	}
}
