package bridge

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// setRouteLocalnet lets the bridge carry packets whose source is in
// 127.0.0.0/8. The kernel drops them as martians by default; they appear
// when the host connects to 127.0.0.1:HOSTPORT and the output chain DNATs
// the connection to a container behind this bridge. Only this bridge gets
// the flag, not "all": the nat package also drops packets that arrive on
// the bridge addressed to 127.0.0.0/8, which route_localnet would otherwise
// let a container send to the host's loopback services (CVE-2020-8558).
func setRouteLocalnet(bridge string) error {
	return writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", bridge, "route_localnet"), "1")
}

// EnableForwarding turns on IPv4 (and with v6, IPv6) forwarding, without
// which nothing leaves a bridge network. Values already set are not
// written again.
func EnableForwarding(v6 bool) error {
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return err
	}
	if v6 {
		return writeSysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1")
	}
	return nil
}

func writeSysctl(path, value string) error {
	cur, err := os.ReadFile(path)
	if err == nil && string(bytes.TrimSpace(cur)) == value {
		return nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", path, value, err)
	}
	return nil
}
