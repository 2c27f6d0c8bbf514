package engine

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"hutch.dev/hutch/errdefs"
	"hutch.dev/hutch/network"
	"hutch.dev/hutch/network/netns"
)

// NetworkSettings is inspect's NetworkSettings: the container's addresses
// on each network and its published ports, filled at each start.
type NetworkSettings struct {
	Networks map[string]*EndpointSettings `json:"Networks"`
	// Ports maps "80/tcp" to the host addresses it is published on.
	Ports       map[string][]PortBinding `json:"Ports"`
	SandboxKey  string                   `json:"SandboxKey"`
	IPAddress   string                   `json:"IPAddress"`
	Gateway     string                   `json:"Gateway"`
	IPPrefixLen int                      `json:"IPPrefixLen"`
	MacAddress  string                   `json:"MacAddress"`
}

// EndpointSettings is one network of a container.
type EndpointSettings struct {
	NetworkID         string   `json:"NetworkID"`
	IPAddress         string   `json:"IPAddress"`
	IPPrefixLen       int      `json:"IPPrefixLen"`
	Gateway           string   `json:"Gateway"`
	GlobalIPv6Address string   `json:"GlobalIPv6Address,omitempty"`
	IPv6Gateway       string   `json:"IPv6Gateway,omitempty"`
	MacAddress        string   `json:"MacAddress"`
	Aliases           []string `json:"Aliases,omitempty"`
	Interface         string   `json:"-"`
}

// PortBinding is one host side of a published port.
type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

// NetworkRequest is what the user asked of the container's network
// (--network, -p, --ip, --mac-address, --network-alias), kept with the
// record and applied at each start.
type NetworkRequest struct {
	Ports   []network.PortMapping `json:"Ports,omitempty"`
	IP      string                `json:"IP,omitempty"`
	MAC     string                `json:"MAC,omitempty"`
	Aliases []string              `json:"Aliases,omitempty"`
}

// Networks opens the network manager. HUTCH_DEFAULT_BRIDGE,
// HUTCH_DEFAULT_SUBNET and HUTCH_NFT_TABLE move the default network and
// the nftables table elsewhere (tests use their own, so the host's hutch0
// is never touched by them).
func (e *Engine) Networks() (*network.Manager, error) {
	var opts []network.Option
	if b, s := os.Getenv("HUTCH_DEFAULT_BRIDGE"), os.Getenv("HUTCH_DEFAULT_SUBNET"); b != "" && s != "" {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, errdefs.InvalidArgument("HUTCH_DEFAULT_SUBNET %q: %v", s, err)
		}
		opts = append(opts, network.WithDefaultNetwork(b, p))
	}
	if t := os.Getenv("HUTCH_NFT_TABLE"); t != "" {
		opts = append(opts, network.WithFirewallTable(t))
	}
	return network.Open(e.Root, e.Runroot, opts...)
}

// inspectNetwork opens the networks and looks name up.
func (e *Engine) inspectNetwork(name string) (*network.Manager, *network.Network, error) {
	nm, err := e.Networks()
	if err != nil {
		return nil, nil, err
	}
	n, err := nm.Inspect(name)
	if err != nil {
		return nil, nil, err
	}
	return nm, n, nil
}

// usesNetworkManager tells whether the mode puts the container on a
// bridge network (the default one, or a user-defined one by name).
func usesNetworkManager(mode string) bool {
	switch {
	case mode == "none", mode == "host", strings.HasPrefix(mode, "container:"), strings.HasPrefix(mode, "ns:"):
		return false
	}
	return true
}

// netnsPath is the bind mount of the container's network namespace.
func (e *Engine) netnsPath(id string) string {
	return filepath.Join(e.Runroot, "netns", id)
}

// checkNetwork refuses at create what would fail at start: an unknown
// network.
func (e *Engine) checkNetwork(r *record) error {
	mode := r.HostConfig.NetworkMode
	if !usesNetworkManager(mode) {
		return nil
	}
	nm, err := e.Networks()
	if err != nil {
		return err
	}
	if _, err := nm.Inspect(networkName(mode)); err != nil {
		return err
	}
	return nil
}

func networkName(mode string) string {
	if mode == "" || mode == "default" {
		return network.DefaultNetwork
	}
	return mode
}

// setupNetwork gives the container its network namespace and attaches it
// to its network (veth, address, routes, published ports). The namespace
// path goes into the spec.
func (e *Engine) setupNetwork(r *record) (nsPath string, err error) {
	if !usesNetworkManager(r.HostConfig.NetworkMode) {
		return "", nil
	}
	nm, err := e.Networks()
	if err != nil {
		return "", err
	}
	nsPath = e.netnsPath(r.ID)
	if err := os.MkdirAll(filepath.Dir(nsPath), 0o700); err != nil {
		return "", err
	}
	if !netns.IsNetns(nsPath) {
		if err := netns.New(nsPath); err != nil {
			return "", fmt.Errorf("container %q: network namespace: %w", r.Name, err)
		}
	}
	req := network.AttachRequest{
		ContainerID:   r.ID,
		ContainerName: r.Name,
		NetnsPath:     nsPath,
		Network:       networkName(r.HostConfig.NetworkMode),
		Ports:         r.Net.Ports,
		Aliases:       r.Net.Aliases,
	}
	if r.Net.IP != "" {
		if req.IP, err = netip.ParseAddr(r.Net.IP); err != nil {
			return "", errdefs.InvalidArgument("--ip %q: %v", r.Net.IP, err)
		}
	}
	if r.Net.MAC != "" {
		if req.MAC, err = net.ParseMAC(r.Net.MAC); err != nil {
			return "", errdefs.InvalidArgument("--mac-address %q: %v", r.Net.MAC, err)
		}
	}
	a, err := nm.Attach(context.Background(), req)
	if err != nil {
		netns.Remove(nsPath)
		return "", fmt.Errorf("container %q: %w", r.Name, err)
	}
	if err := e.joinMoreNetworks(r, nm, nsPath, a); err != nil {
		return "", err
	}
	return nsPath, nil
}

// settingsOf turns attachments into inspect's NetworkSettings.
func settingsOf(nsPath string, as []*network.Attachment) *NetworkSettings {
	ns := &NetworkSettings{Networks: map[string]*EndpointSettings{}, Ports: map[string][]PortBinding{}, SandboxKey: nsPath}
	for i, a := range as {
		ep := &EndpointSettings{NetworkID: a.NetworkID, MacAddress: a.MAC, Aliases: a.Aliases, Interface: a.Interface}
		if a.IPv4.IsValid() {
			ep.IPAddress, ep.IPPrefixLen = a.IPv4.Addr().String(), a.IPv4.Bits()
		}
		if a.Gateway.IsValid() {
			ep.Gateway = a.Gateway.String()
		}
		if a.IPv6.IsValid() {
			ep.GlobalIPv6Address = a.IPv6.Addr().String()
		}
		if a.IPv6Gateway.IsValid() {
			ep.IPv6Gateway = a.IPv6Gateway.String()
		}
		ns.Networks[a.Network] = ep
		if i == 0 {
			ns.IPAddress, ns.IPPrefixLen, ns.Gateway, ns.MacAddress = ep.IPAddress, ep.IPPrefixLen, ep.Gateway, ep.MacAddress
		}
		for _, p := range a.Ports {
			key := strconv.Itoa(int(p.ContainerPort)) + "/" + p.Protocol
			hostIP := "0.0.0.0"
			if p.HostIP.IsValid() {
				hostIP = p.HostIP.String()
			}
			ns.Ports[key] = append(ns.Ports[key], PortBinding{HostIP: hostIP, HostPort: strconv.Itoa(int(p.HostPort))})
		}
	}
	return ns
}

// teardownNetwork detaches the container from its networks and removes
// its namespace; it works from the records alone, after a crash too.
func (e *Engine) teardownNetwork(id string) error {
	nsPath := e.netnsPath(id)
	var errs []string
	if nm, err := e.Networks(); err == nil {
		if err := nm.Detach(context.Background(), id); err != nil {
			errs = append(errs, err.Error())
		}
	} else {
		errs = append(errs, err.Error())
	}
	if err := netns.Remove(nsPath); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return fmt.Errorf("network: %s", strings.Join(errs, "; "))
	}
	return nil
}

// publishAll adds a random host port for every exposed port not already
// published (-P).
func publishAll(r *record) {
	have := map[string]bool{}
	for _, p := range r.Net.Ports {
		have[strconv.Itoa(int(p.ContainerPort))+"/"+p.Protocol] = true
	}
	var keys []string
	for k := range r.Config.ExposedPorts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		port, proto, _ := strings.Cut(k, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 || have[port+"/"+proto] {
			continue
		}
		r.Net.Ports = append(r.Net.Ports, network.PortMapping{ContainerPort: uint16(n), Protocol: proto})
	}
}
