// Package network keeps Hutch's bridge networks: their records, the
// addresses handed out to containers (IPAM), and the attachment of a
// container's network namespace to a network, which it makes with the
// bridge (netlink) and nat (nftables) packages.
//
// State on disk:
//
//	ROOT/networks/NAME.json       one record per user-defined network
//	RUNROOT/networks/lock         flock held by every change (all processes)
//	RUNROOT/networks/ID.json      the attachments (leases) of one network
//
// Records describe what the user asked for and live as long as the user
// wants them; attachments describe kernel state (a veth, rules, a netns),
// which a reboot wipes, so they live beside it on the tmpfs of RUNROOT.
// The default network "bridge" has no record: it is built from the
// Manager's options, and cannot be removed.
package network

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"regexp"
	"time"
)

// Network is the record of one network.
type Network struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	// Driver is "bridge", the only one there is.
	Driver string `json:"driver"`
	// Bridge is the Linux bridge's name (hutch0 for the default network,
	// hutch-SHORTID for the others).
	Bridge string `json:"bridge"`
	// Subnets holds one IPv4 subnet, then an IPv6 one on dual-stack
	// networks.
	Subnets  []Subnet          `json:"subnets"`
	Internal bool              `json:"internal,omitempty"`
	MTU      int               `json:"mtu,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Created  time.Time         `json:"created"`
	// Default is true for the implicit default network.
	Default bool `json:"-"`
}

// Subnet is one address range of a network.
type Subnet struct {
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway"`
	// IPRange, when set, is the part of Subnet that IPAM hands out from;
	// addresses asked for explicitly may lie anywhere in Subnet.
	IPRange netip.Prefix `json:"ipRange,omitzero"`
}

// IPv6 reports whether the network has an IPv6 subnet.
func (n *Network) IPv6() bool { return n.subnet6() != nil }

func (n *Network) subnet4() *Subnet {
	for i := range n.Subnets {
		if n.Subnets[i].Subnet.Addr().Is4() {
			return &n.Subnets[i]
		}
	}
	return nil
}

func (n *Network) subnet6() *Subnet {
	for i := range n.Subnets {
		if n.Subnets[i].Subnet.Addr().Is6() {
			return &n.Subnets[i]
		}
	}
	return nil
}

// gatewayPrefixes are the bridge's addresses: each gateway with its
// subnet's prefix length.
func (n *Network) gatewayPrefixes() []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range n.Subnets {
		ps = append(ps, netip.PrefixFrom(s.Gateway, s.Subnet.Bits()))
	}
	return ps
}

// The names Docker reserves for network modes, which a network may not take.
var reservedNames = map[string]bool{"host": true, "none": true, "container": true, "default": true}

// validName is Docker's rule for network names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// defaultID is the ID of the default network: fixed, so that it is the same
// for every command that builds it.
func defaultID(name string) string {
	sum := sha256.Sum256([]byte("hutch network " + name))
	return hex.EncodeToString(sum[:])
}
