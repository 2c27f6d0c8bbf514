// Package imagechange applies Docker's --change instructions (`hutch
// import -c`, `hutch commit -c`) to an image config.
package imagechange

import (
	"encoding/json"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"hutch.dev/hutch/errdefs"
)

// Instructions are the Dockerfile instructions --change accepts.
const Instructions = "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR"

// Apply applies one --change instruction ("CMD [\"sh\"]", "ENV A=b") to c.
func Apply(c *v1.Config, change string) error {
	instr, arg, _ := strings.Cut(strings.TrimSpace(change), " ")
	arg = strings.TrimSpace(arg)
	list := func() []string {
		var l []string
		if strings.HasPrefix(arg, "[") && json.Unmarshal([]byte(arg), &l) == nil {
			return l
		}
		return []string{"/bin/sh", "-c", arg}
	}
	if arg == "" && instr != "" {
		return errdefs.InvalidArgument("change %q: %s needs an argument", change, strings.ToUpper(instr))
	}
	switch strings.ToUpper(instr) {
	case "CMD":
		c.Cmd = list()
	case "ENTRYPOINT":
		c.Entrypoint = list()
	case "ENV":
		k, v, ok := strings.Cut(arg, "=")
		if !ok {
			k, v, _ = strings.Cut(arg, " ")
		}
		if k == "" {
			return errdefs.InvalidArgument("change %q: ENV needs a name", change)
		}
		kv := k + "=" + strings.TrimSpace(v)
		for i, e := range c.Env {
			if name, _, _ := strings.Cut(e, "="); name == k {
				c.Env[i] = kv
				return nil
			}
		}
		c.Env = append(c.Env, kv)
	case "WORKDIR":
		c.WorkingDir = arg
	case "USER":
		c.User = arg
	case "STOPSIGNAL":
		c.StopSignal = arg
	case "LABEL":
		k, v, _ := strings.Cut(arg, "=")
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		c.Labels[k] = strings.Trim(v, `"`)
	case "EXPOSE":
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range strings.Fields(arg) {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			c.ExposedPorts[p] = struct{}{}
		}
	case "VOLUME":
		var vols []string
		if !strings.HasPrefix(arg, "[") || json.Unmarshal([]byte(arg), &vols) != nil {
			vols = strings.Fields(arg)
		}
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		for _, v := range vols {
			c.Volumes[v] = struct{}{}
		}
	default:
		return errdefs.InvalidArgument("change %q: unsupported instruction (want one of %s)", change, Instructions)
	}
	return nil
}
