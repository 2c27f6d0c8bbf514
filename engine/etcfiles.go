package engine

// /etc/hosts, /etc/resolv.conf and /etc/hostname of a container are
// files of its bundle (RUNROOT/containers/ID/), written at each start and
// bind-mounted over the image's, as Docker does: the image is never
// changed, and a network change rewrites them in place (same inode, so
// the bind mount shows the new content at once).

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network"
)

const (
	hostsFile    = "hosts"
	resolvFile   = "resolv.conf"
	hostnameFile = "hostname"
	// upstreamFile holds a container's --dns servers on a user-defined
	// network: its resolv.conf names the network's name server, which
	// forwards this container's other questions to them.
	upstreamFile = "resolv.upstream"
)

// Docker's fallback when the host has no usable resolver.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// hostResolvConf is the host's resolv.conf: HUTCH_RESOLV_CONF (tests),
// else /etc/resolv.conf, or systemd-resolved's list of real servers when
// /etc/resolv.conf names only its stub at 127.0.0.53 (Docker does the
// same), which a container could not reach.
func hostResolvConf() string {
	if p := os.Getenv("HUTCH_RESOLV_CONF"); p != "" {
		return p
	}
	const etc, resolved = "/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"
	data, err := os.ReadFile(etc)
	if err != nil {
		return etc
	}
	ns := parseResolv(data).nameservers
	if len(ns) == 1 && ns[0] == "127.0.0.53" {
		if _, err := os.Stat(resolved); err == nil {
			return resolved
		}
	}
	return etc
}

// etcMounts writes the container's files and returns their bind mounts,
// leaving out a file the user mounted himself (-v /x:/etc/hosts).
func (e *Engine) etcMounts(r *record) ([]specs.Mount, error) {
	if err := e.writeEtcFiles(r); err != nil {
		return nil, fmt.Errorf("container %q: %w", r.Name, err)
	}
	user := map[string]bool{}
	for _, m := range r.Mounts {
		user[path.Clean(m.Destination)] = true
	}
	opts := []string{"rbind", "rprivate"}
	if r.HostConfig.ReadonlyRootfs {
		opts = append(opts, "ro")
	}
	var out []specs.Mount
	for _, f := range []string{hostsFile, resolvFile, hostnameFile} {
		dest := "/etc/" + f
		if user[dest] {
			continue
		}
		out = append(out, specs.Mount{Destination: dest, Type: "bind", Source: filepath.Join(e.bundleDir(r.ID), f), Options: opts})
	}
	return out, nil
}

// rewriteEtcFiles writes the files of a running container again after a
// change of its networks; a container without a bundle has none.
func (e *Engine) rewriteEtcFiles(r *record) error {
	if _, err := os.Stat(filepath.Join(e.bundleDir(r.ID), hostsFile)); err != nil {
		return nil
	}
	return e.writeEtcFiles(r)
}

func (e *Engine) writeEtcFiles(r *record) error {
	dir := e.bundleDir(r.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	hostname := etcHostname(r)
	hosts, resolv, upstream, err := e.etcContents(r, hostname)
	if err != nil {
		return err
	}
	// os.WriteFile truncates and writes the same inode: a bind mount of
	// the file keeps showing it.
	for _, f := range []struct {
		name string
		data []byte
	}{{hostsFile, hosts}, {resolvFile, resolv}, {hostnameFile, []byte(hostname + "\n")}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	up := filepath.Join(dir, upstreamFile)
	if upstream == nil {
		if err := os.Remove(up); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	return os.WriteFile(up, upstream, 0o600)
}

// etcHostname is the container's host name as the spec gives it (see
// spec.hostnameOf): --hostname, the host's in the host's UTS namespace,
// else the short ID.
func etcHostname(r *record) string {
	if r.Config.Hostname != "" {
		return r.Config.Hostname
	}
	if r.HostConfig.UTSMode == "host" {
		h, _ := os.Hostname()
		return h
	}
	return ShortID(r.ID)
}

// etcContents builds the files of r. Host networking takes the host's
// files (a copy, with --add-host and --dns* applied); container:NAME
// takes that container's; the other modes get Docker's defaults, the
// container's own addresses, and resolvers by Docker's rules.
func (e *Engine) etcContents(r *record, hostname string) (hosts, resolv, upstream []byte, err error) {
	h := &r.HostConfig
	mode := h.NetworkMode
	hostResolv, _ := os.ReadFile(hostResolvConf())
	gw, err := e.hostGateway(r)
	if err != nil {
		return nil, nil, nil, err
	}
	extra, err := extraHostLines(h.ExtraHosts, gw)
	if err != nil {
		return nil, nil, nil, err
	}
	switch {
	case mode == "host":
		base, _ := os.ReadFile("/etc/hosts")
		hosts = append(withNewline(base), extra...)
		resolv, _ = resolvConf(hostResolv, h.Dns, h.DnsSearch, h.DnsOptions, netip.Addr{}, false)
		return hosts, resolv, nil, nil
	case strings.HasPrefix(mode, "container:"):
		if c, err := e.Inspect(strings.TrimPrefix(mode, "container:")); err == nil {
			dir := e.bundleDir(c.ID)
			base, err1 := os.ReadFile(filepath.Join(dir, hostsFile))
			res, err2 := os.ReadFile(filepath.Join(dir, resolvFile))
			if err1 == nil && err2 == nil {
				return append(withNewline(base), extra...), res, nil, nil
			}
		}
	}
	var own []byte
	var server netip.Addr
	if usesNetworkManager(mode) && r.NetworkSettings != nil {
		eps := orderedEndpoints(r.NetworkSettings)
		names := hostname
		if r.Config.Domainname != "" {
			names = hostname + "." + r.Config.Domainname + " " + hostname
		}
		if r.Name != "" && r.Name != hostname {
			names += " " + r.Name
		}
		for _, ep := range eps {
			if ep.IPAddress != "" {
				own = fmt.Appendf(own, "%s\t%s\n", ep.IPAddress, names)
			}
			if ep.GlobalIPv6Address != "" {
				own = fmt.Appendf(own, "%s\t%s\n", ep.GlobalIPv6Address, names)
			}
		}
		if server, err = e.nameServerOf(eps); err != nil {
			return nil, nil, nil, err
		}
	}
	hosts = append([]byte(defaultHosts), extra...)
	hosts = append(hosts, own...)
	resolv, upstream = resolvConf(hostResolv, h.Dns, h.DnsSearch, h.DnsOptions, server, true)
	return hosts, resolv, upstream, nil
}

const defaultHosts = `127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
fe00::	ip6-localnet
ff00::	ip6-mcastprefix
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
`

type namedEndpoint struct {
	name string
	*EndpointSettings
}

// orderedEndpoints lists the container's networks, its first one (the
// one whose address inspect shows at the top) first, then by name.
func orderedEndpoints(ns *NetworkSettings) []namedEndpoint {
	var out []namedEndpoint
	for name, ep := range ns.Networks {
		out = append(out, namedEndpoint{name, ep})
	}
	sort.Slice(out, func(i, j int) bool {
		pi, pj := out[i].IPAddress == ns.IPAddress, out[j].IPAddress == ns.IPAddress
		if pi != pj {
			return pi
		}
		return out[i].name < out[j].name
	})
	return out
}

// nameServerOf is the name server of the first user-defined network among
// eps (its gateway, where `hutch dns-server` listens), or none when the
// container is only on the default network.
func (e *Engine) nameServerOf(eps []namedEndpoint) (netip.Addr, error) {
	for _, ep := range eps {
		if ep.name == network.DefaultNetwork {
			continue
		}
		_, n, err := e.inspectNetwork(ep.name)
		if err != nil {
			return netip.Addr{}, err
		}
		if len(n.Subnets) > 0 {
			return n.Subnets[0].Gateway, nil
		}
	}
	return netip.Addr{}, nil
}

// hostGateway is what --add-host NAME:host-gateway resolves to: the
// gateway of the container's first network (an internal network's too:
// the host has that address on the bridge), else the default network's.
func (e *Engine) hostGateway(r *record) (netip.Addr, error) {
	needed := false
	for _, h := range r.HostConfig.ExtraHosts {
		needed = needed || strings.HasSuffix(h, "host-gateway")
	}
	if !needed {
		return netip.Addr{}, nil
	}
	name := network.DefaultNetwork
	if r.NetworkSettings != nil {
		if eps := orderedEndpoints(r.NetworkSettings); len(eps) > 0 {
			name = eps[0].name
		}
	}
	_, n, err := e.inspectNetwork(name)
	if err != nil {
		return netip.Addr{}, err
	}
	return n.Subnets[0].Gateway, nil
}

// ParseExtraHost checks one --add-host: NAME:IP or NAME=IP, where IP may
// be host-gateway (an IPv6 address keeps its colons: the name ends at the
// first one).
func ParseExtraHost(s string) (name, ip string, err error) {
	name, ip, ok := strings.Cut(s, "=")
	if !ok {
		name, ip, ok = strings.Cut(s, ":")
	}
	if !ok || name == "" || ip == "" || strings.ContainsAny(name, " \t\n") {
		return "", "", errdefs.InvalidArgument("--add-host %q: want NAME:IP", s)
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return "", "", errdefs.InvalidArgument("--add-host %q: %q is not an IP address (or host-gateway)", s, ip)
		}
	}
	return name, ip, nil
}

// CheckDNSOptions checks --dns and --add-host values at create.
func CheckDNSOptions(servers, extraHosts []string) error {
	for _, s := range servers {
		if _, err := netip.ParseAddr(s); err != nil {
			return errdefs.InvalidArgument("--dns %q: not an IP address", s)
		}
	}
	for _, h := range extraHosts {
		if _, _, err := ParseExtraHost(h); err != nil {
			return err
		}
	}
	return nil
}

func extraHostLines(list []string, gw netip.Addr) ([]byte, error) {
	var out []byte
	for _, h := range list {
		name, ip, err := ParseExtraHost(h)
		if err != nil {
			return nil, err
		}
		if ip == "host-gateway" {
			ip = gw.String()
		}
		out = fmt.Appendf(out, "%s\t%s\n", ip, name)
	}
	return out, nil
}

func withNewline(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

type resolv struct {
	nameservers, search, options []string
}

func parseResolv(data []byte) resolv {
	var r resolv
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			r.nameservers = append(r.nameservers, f[1])
		case "search", "domain":
			// The last of them wins, as in the resolver.
			r.search = f[1:]
		case "options":
			r.options = append(r.options, f[1:]...)
		}
	}
	return r
}

// resolvConf applies Docker's rules. With a name server (a user-defined
// network) it is the only nameserver, with ndots:0 unless ndots is set,
// and the --dns servers (if any) become its upstreams for this container;
// the name server's domain comes first in the search list.
// Otherwise: --dns, else the host's nameservers without the loopback ones
// (unreachable from another network namespace; kept for host networking),
// else Google's, as Docker falls back to. --dns-search "." means none.
func resolvConf(host []byte, servers, search, options []string, server netip.Addr, dropLoopback bool) (conf, upstream []byte) {
	h := parseResolv(host)
	var ns []string
	switch {
	case server.IsValid():
		ns = []string{server.String()}
		if len(servers) > 0 {
			for _, s := range servers {
				upstream = fmt.Appendf(upstream, "nameserver %s\n", s)
			}
		}
	case len(servers) > 0:
		ns = servers
	default:
		for _, s := range h.nameservers {
			a, err := netip.ParseAddr(strings.Split(s, "%")[0])
			if dropLoopback && (err != nil || a.IsLoopback()) {
				continue
			}
			ns = append(ns, s)
		}
		if len(ns) == 0 && dropLoopback {
			ns = defaultNameservers
		}
	}
	if len(search) == 0 {
		search = h.search
	} else if len(search) == 1 && search[0] == "." {
		search = nil
	}
	if len(options) == 0 {
		options = h.options
	}
	if server.IsValid() {
		search = append([]string{dnsDomain}, search...)
	}
	if server.IsValid() && !hasNdots(options) {
		options = append(append([]string(nil), options...), "ndots:0")
	}
	var b bytes.Buffer
	b.WriteString("# Generated by hutch\n")
	for _, s := range ns {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.Bytes(), upstream
}

func hasNdots(opts []string) bool {
	for _, o := range opts {
		if strings.HasPrefix(o, "ndots:") {
			return true
		}
	}
	return false
}
