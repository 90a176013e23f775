package fetch

import (
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// isPublic reports whether a is an address on the public Internet, the only
// kind a URL from an outside party may reach. Everything else—loopback,
// RFC 1918 and unique-local networks, link-local (cloud metadata at
// 169.254.169.254), CGNAT, unspecified, multicast, broadcast, documentation,
// benchmarking and reserved blocks—can lead into the company's own network or
// to the gateway itself. IPv4-mapped IPv6 addresses are judged by the IPv4
// address they carry, and NAT64 and 6to4 addresses by the IPv4 address they
// embed, since a router forwards them there.
func isPublic(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return false
	}
	if a.Is4() {
		return publicV4(a)
	}
	// IPv6: only the global unicast allocation, 2000::/3, is routed on the
	// Internet; the well-known NAT64 prefix leads to an IPv4 address.
	b := a.As16()
	if netip.PrefixFrom(netip.AddrFrom16([16]byte{0, 0x64, 0xff, 0x9b}), 96).Contains(a) {
		return publicV4(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	if b[0]&0xe0 != 0x20 {
		// ::/8 (unspecified, loopback, IPv4-compatible and -translated),
		// 64:ff9b:1::/48, 100::/64, 5f00::/16, fc00::/7, fe80::/10,
		// fec0::/10, ff00::/8 and the unallocated rest.
		return false
	}
	switch {
	case b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02:
		// 2001::/23, IETF protocol assignments: Teredo (which tunnels to
		// an obfuscated IPv4 address), benchmarking, ORCHID.
		return false
	case b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8:
		// 2001:db8::/32, documentation.
		return false
	case b[0] == 0x3f && b[1] == 0xff && b[2]&0xf0 == 0:
		// 3fff::/20, documentation.
		return false
	case b[0] == 0x20 && b[1] == 0x02:
		// 2002::/16, 6to4: the relay forwards to the embedded IPv4 address.
		return publicV4(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}

// publicV4 is isPublic for an IPv4 address.
func publicV4(a netip.Addr) bool {
	if a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() {
		return false
	}
	b := a.As4()
	switch {
	case b[0] == 0: // 0.0.0.0/8, "this network"
		return false
	case b[0] == 100 && b[1]&0xc0 == 64: // 100.64.0.0/10, CGNAT
		return false
	case b[0] == 192 && b[1] == 0 && (b[2] == 0 || b[2] == 2): // 192.0.0.0/24 protocol assignments, 192.0.2.0/24 TEST-NET-1
		return false
	case b[0] == 192 && b[1] == 88 && b[2] == 99: // 192.88.99.0/24, 6to4 relay anycast
		return false
	case b[0] == 198 && b[1]&0xfe == 18: // 198.18.0.0/15, benchmarking
		return false
	case b[0] == 198 && b[1] == 51 && b[2] == 100: // 198.51.100.0/24, TEST-NET-2
		return false
	case b[0] == 203 && b[1] == 0 && b[2] == 113: // 203.0.113.0/24, TEST-NET-3
		return false
	case b[0] >= 240: // 240.0.0.0/4 reserved, and 255.255.255.255 broadcast
		return false
	}
	return true
}

// hostRule is one entry of Options.Hosts: a lower-case host name, and a port
// when the entry named one ("" matches any port).
type hostRule struct {
	host, port string
}

// parseHostRule reads an Options.Hosts entry: "name", "name:port",
// "[v6]" or "[v6]:port".
func parseHostRule(s string) hostRule {
	s = strings.TrimSpace(s)
	if h, p, err := net.SplitHostPort(s); err == nil {
		return hostRule{host: normalHost(h), port: p}
	}
	return hostRule{host: normalHost(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))}
}

// normalHost folds a host name for comparison: case does not matter in DNS,
// and a trailing dot names the same host.
func normalHost(h string) string {
	return strings.TrimSuffix(strings.ToLower(h), ".")
}

// hostAllowed reports whether u's host is in rules (always true when rules is
// empty). A URL without a port is compared with its scheme's default port.
func hostAllowed(rules []hostRule, u *url.URL) bool {
	if len(rules) == 0 {
		return true
	}
	host, port := normalHost(u.Hostname()), u.Port()
	if port == "" {
		port = defaultPort(u.Scheme)
	}
	for _, r := range rules {
		if r.host == host && (r.port == "" || r.port == port) {
			return true
		}
	}
	return false
}

// defaultPort is the port a URL of scheme uses when it names none.
func defaultPort(scheme string) string {
	if scheme == "https" {
		return "443"
	}
	return "80"
}
