package devices

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
)

func num(v int64) *int64 { return &v }

func TestFromSpec(t *testing.T) {
	rules, err := FromSpec([]specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: num(1), Minor: num(3), Access: "rw"},
		{Allow: true, Type: "b", Major: num(8), Access: "m"},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "c 1:3 rw", "b 8:* m"}
	for i, r := range rules {
		if r.String() != want[i] {
			t.Errorf("rule %d = %q, want %q", i, r, want[i])
		}
	}
	for _, bad := range []specs.LinuxDeviceCgroup{
		{Type: "x"}, {Type: "c", Access: "rwx"}, {Type: "c", Major: num(-2)},
	} {
		if _, err := FromSpec([]specs.LinuxDeviceCgroup{bad}); !errdefs.IsInvalidArgument(err) {
			t.Errorf("FromSpec(%+v): %v, want invalid argument", bad, err)
		}
	}
}

func TestApply(t *testing.T) {
	rules, _ := FromSpec([]specs.LinuxDeviceCgroup{
		{Allow: false},
		{Allow: true, Type: "c", Major: num(1), Minor: num(3), Access: "rwm"},
		{Allow: true, Type: "c", Major: num(1), Minor: num(5), Access: "r"},
		{Allow: true, Type: "c", Major: num(1), Minor: num(5), Access: "w"},
		{Allow: false, Type: "c", Major: num(1), Minor: num(3), Access: "m"},
	})
	st := AllowAll().Apply(rules)
	want := State{Exceptions: []Rule{
		{Allow: true, Type: Char, Major: 1, Minor: 3, Access: Read | Write},
		{Allow: true, Type: Char, Major: 1, Minor: 5, Access: Read | Write},
	}}
	if !st.Equal(want) {
		t.Errorf("state = %+v, want %+v", st, want)
	}
	// Default allow: a deny adds an exception.
	deny, _ := FromSpec([]specs.LinuxDeviceCgroup{{Allow: false, Type: "b", Major: num(8), Minor: num(0)}})
	if st := AllowAll().Apply(deny); !st.DefaultAllow || len(st.Exceptions) != 1 || st.Exceptions[0].Allow {
		t.Errorf("deny on allow-all = %+v", st)
	}
}

func TestParseList(t *testing.T) {
	if _, ok := ParseList("a *:* rwm\n"); ok {
		t.Error("an allow-all list hides its exceptions; it must not count as known")
	}
	st, ok := ParseList("c 1:3 rwm\nc *:* m\nb 8:0 r\n")
	if !ok || st.DefaultAllow || len(st.Exceptions) != 3 || st.Exceptions[1].Major != Wildcard || st.Exceptions[2].Access != Read {
		t.Errorf("ParseList = %+v, %v", st, ok)
	}
}
