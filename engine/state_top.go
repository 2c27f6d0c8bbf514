package engine

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"hutch.dev/hutch/errdefs"
)

// TopResult is Docker's top: the columns ps printed and one row per
// process of the container.
type TopResult struct {
	Titles    []string
	Processes [][]string
}

// Top lists the processes of the container ref as the host's ps shows
// them with psArgs (default -ef), keeping the rows of the container's
// cgroup, as Docker does: ps is asked for those pids (-q) and, when the
// options do not allow -q (f, for one), run on every process and
// filtered.
func (e *Engine) Top(ctx context.Context, ref string, psArgs []string) (*TopResult, error) {
	if len(psArgs) == 0 {
		psArgs = []string{"-ef"}
	}
	if err := validatePSArgs(strings.Join(psArgs, " ")); err != nil {
		return nil, err
	}
	c, err := e.Inspect(ref)
	if err != nil {
		return nil, err
	}
	if !c.State.Running {
		return nil, errdefs.Conflict("container %q is not running", c.Name)
	}
	rc, err := e.loadRuntime(c.ID)
	if err != nil {
		if errdefs.IsNotFound(err) {
			return nil, errdefs.Conflict("container %q is not running", c.Name)
		}
		return nil, wrap(c, "top", err)
	}
	pids, err := rc.Processes()
	if err != nil {
		if errdefs.IsFailedPrecondition(err) {
			return nil, errdefs.Conflict("container %q is not running", c.Name)
		}
		return nil, wrap(c, "top", err)
	}
	list := make([]string, len(pids))
	for i, p := range pids {
		list[i] = strconv.Itoa(p)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "ps", append(slices.Clone(psArgs), "-q", strings.Join(list, ","))...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		stderr.Reset()
		cmd = exec.CommandContext(ctx, "ps", psArgs...)
		cmd.Stderr = &stderr
		if out, err = cmd.Output(); err != nil {
			return nil, errdefs.InvalidArgument("container %q: top: ps %s: %v: %s", c.Name, strings.Join(psArgs, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	res, err := parsePSOutput(out, pids)
	if err != nil {
		return nil, fmt.Errorf("container %q: top: %w", c.Name, err)
	}
	return res, nil
}

// validatePSArgs refuses a renamed PID column (-o pid=PROCESS): the rows
// could not be told apart by pid.
func validatePSArgs(args string) error {
	re := regexp.MustCompile(`\s*(\S*)=\s*(PID\S*)`)
	for _, g := range re.FindAllStringSubmatch(args, -1) {
		if k := g[1]; k != "pid" && !strings.HasSuffix(k, ",pid") {
			return errdefs.InvalidArgument("ps options: specifying \"%s=%s\" is not allowed", k, g[2])
		}
	}
	return nil
}

// parsePSOutput keeps the rows of ps output whose PID is one of pids. The
// last column (the command) may hold spaces: everything past the titles
// is joined into it. Thread rows (ps -m, PID "-") follow their process.
func parsePSOutput(out []byte, pids []int) (*TopResult, error) {
	lines := strings.Split(string(out), "\n")
	res := &TopResult{Titles: strings.Fields(lines[0])}
	col := slices.Index(res.Titles, "PID")
	if col < 0 {
		return nil, errdefs.InvalidArgument("ps output has no PID column: add pid to the -o columns")
	}
	n := len(res.Titles)
	inContainer := false
	add := func(f []string) {
		if len(f) < n {
			f = append(f, make([]string, n-len(f))...)
		}
		row := slices.Clone(f[:n-1])
		res.Processes = append(res.Processes, append(row, strings.Join(f[n-1:], " ")))
	}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= col {
			continue
		}
		if f[col] == "-" {
			if inContainer {
				add(f)
			}
			continue
		}
		p, err := strconv.Atoi(f[col])
		if err != nil {
			return nil, fmt.Errorf("ps output: unexpected pid %q", f[col])
		}
		inContainer = slices.Contains(pids, p)
		if inContainer {
			add(f)
		}
	}
	return res, nil
}
