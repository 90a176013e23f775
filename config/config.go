// Package config loads and validates Kakehashi's configuration.
//
// Configuration comes from one YAML file, overridden key by key by
// environment variables named KAKEHASHI_ followed by the key path in upper
// case with '.' and '-' replaced by '_': networks.public-xmpp.xmpp.secret is
// overridden by KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_SECRET. Every key of the
// schema can be overridden, including keys absent from the file; keys under
// networks.<name> only for networks the file names (a network cannot be
// created from the environment alone). The same goes for the entries of
// xmpp.proxy_domains, which are keyed by network name:
// KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_DOMAINS_MAIL sets
// networks.corp.xmpp.proxy_domains.mail when the file names a network mail.
//
// Loading is strict: unknown keys, wrong types and invalid values are all
// reported together, each as a [KeyError] that names the key, says what is
// wrong and how to fix it.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// Defaults applied by [Load] to keys that are absent (or empty).
const (
	DefaultDataDir      = "./data"
	DefaultLogLevel     = "info"
	DefaultLogFormat    = "text"
	DefaultAdminListen  = "127.0.0.1:8765"
	DefaultMaxBodyBytes = 65536
	// DefaultBroadcastsPerDay and DefaultBroadcastsPerMonth cap how many
	// broadcasts one contact receives in any 24 hours and any 30 days.
	DefaultBroadcastsPerDay   = 1
	DefaultBroadcastsPerMonth = 4
	// DefaultMessageRetention is how long the queue keeps the text of a
	// message once it is sent or failed (limits.message_retention).
	DefaultMessageRetention = 30 * 24 * time.Hour
	// DefaultMaxFiles and DefaultMaxFileBytes bound the files of one
	// message (files.max_files, files.max_file_bytes).
	DefaultMaxFiles     = 10
	DefaultMaxFileBytes = 50 << 20
	// DefaultMaxFilesPerDay and DefaultMaxBytesPerDay bound the files one
	// sender address may send in any 24 hours (files.max_files_per_day,
	// files.max_bytes_per_day).
	DefaultMaxFilesPerDay = 500
	DefaultMaxBytesPerDay = 2 << 30
	// DefaultAttachLimit is how many bytes of files one mail carries as
	// attachments (networks.<name>.mail.attach_limit).
	DefaultAttachLimit = 10 << 20
)

// Bounds of values checked by [Config.Validate].
const (
	MinAdminTokenLen = 16
	MaxMaxBodyBytes  = 1 << 20
	// MaxBroadcastCap bounds limits.broadcasts_per_day and _per_month.
	MaxBroadcastCap = 1000
	// MinMessageRetention bounds limits.message_retention from below (0
	// aside, which keeps texts forever).
	MinMessageRetention = time.Hour
)

// KindXMPP is the network kind served through an XMPP component (XEP-0114).
const KindXMPP = "xmpp"

// KindMail is an e-mail network: mail in over IMAP, out over SMTP.
const KindMail = "mail"

// EnvPrefix starts the name of every environment variable that overrides a key.
const EnvPrefix = "KAKEHASHI_"

// Config is Kakehashi's whole configuration.
type Config struct {
	// DataDir is where Kakehashi keeps its state (data_dir). Relative paths
	// are relative to the working directory.
	DataDir string `mapstructure:"data_dir" example:"./data"`
	// Store is where the durable state lives (store): empty for SQLite
	// files in DataDir (the embedded default), or a PostgreSQL URL,
	// postgres://user:password@host/database, that several instances
	// share, one of them active at a time (see HA). A Secret: the URL
	// may hold a password.
	Store Secret `mapstructure:"store" example:"postgres://kakehashi:<password>@db.corp.test/kakehashi"`
	// HA configures the election among instances that share a PostgreSQL
	// store (ha.*).
	HA HA `mapstructure:"ha"`
	// Log configures logging (log.*).
	Log Log `mapstructure:"log"`
	// Admin configures the admin API (admin.*).
	Admin Admin `mapstructure:"admin"`
	// Console configures the web console (console.*).
	Console Console `mapstructure:"console"`
	// Networks are the networks Kakehashi bridges, by name (networks.<name>).
	Networks map[string]*Network `mapstructure:"networks"`
	// Routing says where messages go that have no owner (routing.*).
	Routing Routing `mapstructure:"routing"`
	// Limits bounds what Kakehashi accepts (limits.*).
	Limits Limits `mapstructure:"limits"`
	// Files configures how files cross the gateway (files.*).
	Files Files `mapstructure:"files"`
	// Signals says which of employees' receipts, read markers and typing
	// notices reach contacts (signals.*).
	Signals Signals `mapstructure:"signals"`
	// Guard configures the outbound guard (guard.*).
	Guard Guard `mapstructure:"guard"`
}

// Files configures how files cross the gateway. Files are fetched into
// data_dir/files, cleaned of author metadata when they leave for the
// outside, and re-hosted on the recipient's side.
type Files struct {
	// MaxFiles is how many files one message may carry (files.max_files),
	// 1..100; 0 means DefaultMaxFiles.
	MaxFiles int `mapstructure:"max_files" example:"10"`
	// MaxFileBytes is the largest file accepted, in bytes
	// (files.max_file_bytes), up to 1 GiB; 0 means DefaultMaxFileBytes.
	MaxFileBytes int64 `mapstructure:"max_file_bytes" example:"52428800"`
	// MaxFilesPerDay is how many files one sender address (an employee's
	// or a contact's) may send in any 24 hours (files.max_files_per_day);
	// default DefaultMaxFilesPerDay, 0 turns the limit off.
	MaxFilesPerDay int `mapstructure:"max_files_per_day" example:"500"`
	// MaxBytesPerDay is how many bytes of files one sender address may
	// send in any 24 hours (files.max_bytes_per_day); default
	// DefaultMaxBytesPerDay, 0 turns the limit off.
	MaxBytesPerDay int64 `mapstructure:"max_bytes_per_day" example:"2147483648"`
	// AllowPrivate lets the gateway fetch files outside parties give from
	// loopback, private and link-local addresses (files.allow_private).
	// For demos and tests on loopback only: otherwise a contact could make
	// the gateway fetch from the company's own network.
	AllowPrivate bool `mapstructure:"allow_private"`
	// PassThrough are media types sent outside although the gateway
	// cannot remove their metadata, e.g. video/* (files.pass_through).
	// Default none: such a file is held and its author told why.
	PassThrough []string `mapstructure:"pass_through" example:"video/mp4"`
}

// Signals says which of an employee's signals reach contacts. A contact's
// always reach the employee.
type Signals struct {
	// Received sends "delivered" receipts (signals.received), default true.
	Received *bool `mapstructure:"received"`
	// Displayed sends "read" markers (signals.displayed), default false:
	// many companies do not show contacts when a message was read.
	Displayed bool `mapstructure:"displayed"`
	// ChatStates sends typing notices (signals.chat_states), default true.
	ChatStates *bool `mapstructure:"chat_states"`
}

// Guard configures the outbound guard: before a message leaves for the
// outside, its text is searched for the sender's real name, inside
// addresses and host names, and these terms.
type Guard struct {
	// InsideDomains are further inside domain names (guard.inside_domains);
	// the home and component domains of inside networks and the upload
	// hosts are always included.
	InsideDomains []string `mapstructure:"inside_domains" example:"acme.internal"`
	// Terms are words the company keeps inside, e.g. project code names
	// (guard.terms).
	Terms []string `mapstructure:"terms" example:"Project Sakura"`
	// Off turns the guard off (guard.off).
	Off bool `mapstructure:"off"`
}

// Log configures logging.
type Log struct {
	// Level is the minimum level logged: debug, info, warn or error (log.level).
	Level string `mapstructure:"level" example:"info"`
	// Format is text or json (log.format).
	Format string `mapstructure:"format" example:"text"`
}

// SlogLevel returns Level as a slog.Level; unknown levels give slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Admin configures the admin API.
type Admin struct {
	// Listen is the host:port the admin API listens on (admin.listen). It
	// must be a loopback address unless AllowRemote is set.
	Listen string `mapstructure:"listen" example:"127.0.0.1:8765"`
	// Token is the bearer token admin clients present (admin.token, or read
	// from admin.token_file). At least MinAdminTokenLen characters.
	Token Secret `mapstructure:"token" example:"<secret>"`
	// TokenFile is the file Token was read from, if any (admin.token_file).
	// Relative paths are relative to the working directory.
	TokenFile string `mapstructure:"token_file" example:"/etc/kakehashi/admin.token"`
	// AllowRemote permits a non-loopback Listen address (admin.allow_remote).
	AllowRemote bool `mapstructure:"allow_remote"`
}

// Console configures the web console: the pages where admins, team
// leads and auditors sign in with a named admin credential's password.
type Console struct {
	// Listen is the host:port of the console's own listener
	// (console.listen). Empty: the console is served on the admin API's
	// listener, under /console/. Like admin.listen it must be a loopback
	// address unless AllowRemote is set.
	Listen string `mapstructure:"listen" example:"127.0.0.1:8766"`
	// AllowRemote permits a non-loopback Listen address
	// (console.allow_remote). The session cookie is Secure: browsers
	// keep it only over https (or on loopback), so serve a remote
	// console behind a TLS reverse proxy.
	AllowRemote bool `mapstructure:"allow_remote"`
	// Disabled turns the console off (console.disabled): no pages, on
	// any listener.
	Disabled bool `mapstructure:"disabled"`
	// SessionIdle signs a browser out after this long without a request
	// (console.session_idle, default 30m).
	SessionIdle time.Duration `mapstructure:"session_idle" example:"30m"`
	// SessionMax signs a browser out this long after it signed in,
	// however active (console.session_max, default 12h).
	SessionMax time.Duration `mapstructure:"session_max" example:"12h"`
}

// Sessions returns SessionIdle and SessionMax, or their defaults where
// they are zero (not set).
func (c *Console) Sessions() (idle, most time.Duration) {
	idle, most = c.SessionIdle, c.SessionMax
	if idle == 0 {
		idle = DefaultSessionIdle
	}
	if most == 0 {
		most = max(DefaultSessionMax, idle)
	}
	return idle, most
}

// Console session defaults.
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
)

// Network is one network Kakehashi bridges: one adapter instance.
type Network struct {
	// Name is the network's key under networks: lower-case a-z, 0-9 and '-'.
	Name string `mapstructure:"-"`
	// Side says whether the network's users are employees (inside) or
	// outside parties (outside) (networks.<name>.side).
	Side identity.Side `mapstructure:"side" example:"inside"`
	// Kind is the protocol, one of SupportedKinds (networks.<name>.kind).
	Kind string `mapstructure:"kind" example:"xmpp"`
	// XMPP configures a network of kind xmpp (networks.<name>.xmpp); nil
	// for other kinds.
	XMPP *XMPP `mapstructure:"xmpp"`
	// Mail configures a network of kind mail (networks.<name>.mail); nil
	// for other kinds. Mail networks are always outside networks.
	Mail *Mail `mapstructure:"mail"`
}

// XMPP configures a network reached through an XMPP server's component port.
type XMPP struct {
	// Domain is the component's domain, e.g. gw.corp.test (xmpp.domain).
	Domain string `mapstructure:"domain" example:"gw.corp.test"`
	// Server is host:port of the XMPP server's component port (xmpp.server).
	Server string `mapstructure:"server" example:"127.0.0.1:5347"`
	// Secret is the component secret shared with the server (xmpp.secret, or
	// read from xmpp.secret_file).
	Secret Secret `mapstructure:"secret" example:"<secret>"`
	// SecretFile is the file Secret was read from, if any (xmpp.secret_file).
	SecretFile string `mapstructure:"secret_file" example:"/etc/kakehashi/corp.secret"`
	// HomeDomains are the domains of the inside users, e.g. corp.test
	// (xmpp.home_domains). Inside networks only, and required there.
	HomeDomains []string `mapstructure:"home_domains" example:"corp.test"`
	// ProxyFor names the outside network, of any kind, that proxy addresses
	// on Domain lead to (xmpp.proxy_for). Inside networks only. Load
	// defaults it to the only outside xmpp network without an entry in
	// ProxyDomains or, if there is no such network, to the only outside
	// network without one.
	ProxyFor string `mapstructure:"proxy_for" example:"public-xmpp"`
	// ProxyDomains are the further proxy component domains, by the name of
	// the outside network their proxy addresses lead to
	// (xmpp.proxy_domains.<network>), e.g. mail -> mail.gw.corp.test for
	// bob\40mail.test@mail.gw.corp.test. Inside networks only. Together with
	// ProxyFor they must cover every outside network, so that employees can
	// address contacts on each. Nil when none are configured.
	ProxyDomains map[string]string `mapstructure:"proxy_domains" example:"mail: mail.gw.corp.test"`
	// Upload is the JID of the server's HTTP upload service (XEP-0363),
	// e.g. upload.corp.test (xmpp.upload): files are re-hosted there for
	// this network's users. Empty: found through service discovery.
	Upload string `mapstructure:"upload" example:"upload.corp.test"`
	// UploadHosts are the host names of that service's URLs
	// (xmpp.upload_hosts). On an inside network, employees' files are
	// fetched only from these; default the Upload JID's domain.
	UploadHosts []string `mapstructure:"upload_hosts" example:"upload.corp.test"`
	// ServerDomain is the XMPP server's own domain, where the upload
	// service is looked for when Upload is empty (xmpp.server_domain);
	// default the first of HomeDomains inside, and Domain without its
	// first label outside (acme.test for contact.acme.test).
	ServerDomain string `mapstructure:"server_domain" example:"acme.test"`
	// ConfirmWrites, true unless set false (xmpp.confirm_writes), has the
	// server confirm the messages the component wrote, with a probe after
	// each batch; what it had not confirmed when a stream ended is written
	// again on the next. False: a message the server had not read when it
	// stopped is lost. For measurement; leave it on.
	ConfirmWrites *bool `mapstructure:"confirm_writes" example:"true"`
}

// UploadHostsOrDefault returns UploadHosts or, when it is empty and Upload
// is set, the Upload JID's domain.
func (x *XMPP) UploadHostsOrDefault() []string {
	if len(x.UploadHosts) == 0 && x.Upload != "" {
		return []string{x.Upload}
	}
	return x.UploadHosts
}

// ServerDomainOrDefault returns ServerDomain or, when it is empty, the
// first of HomeDomains; empty when neither is set (the adapter then takes
// Domain without its first label).
func (x *XMPP) ServerDomainOrDefault() string {
	if x.ServerDomain != "" {
		return x.ServerDomain
	}
	if len(x.HomeDomains) > 0 {
		return x.HomeDomains[0]
	}
	return ""
}

// Proxies returns, for each outside network that employees on this inside
// network can reach, the component domain of its proxy addresses: ProxyFor
// -> Domain, and every entry of ProxyDomains. The map is the caller's own.
//
// Each domain is one component connection to the XMPP server, with the same
// Server and Secret, so each needs its own Component "<domain>" block in the
// server's configuration. Proxies returns nil for a nil XMPP.
func (x *XMPP) Proxies() map[string]string {
	if x == nil {
		return nil
	}
	out := make(map[string]string, len(x.ProxyDomains)+1)
	for network, domain := range x.ProxyDomains {
		out[network] = domain
	}
	if x.ProxyFor != "" {
		out[x.ProxyFor] = x.Domain
	}
	return out
}

// ComponentDomains returns the domains of the components this network
// attaches to the XMPP server: Domain first, then the proxy domains in the
// order of their outside networks' names. Each is one component connection.
func (x *XMPP) ComponentDomains() []string {
	if x == nil {
		return nil
	}
	out := []string{x.Domain}
	for _, network := range sortedKeys(x.ProxyDomains) {
		out = append(out, x.ProxyDomains[network])
	}
	return out
}

// Routing says where messages go that no one owns.
type Routing struct {
	// FallbackEmployee is the ID of the employee who receives messages no
	// one else owns (routing.fallback_employee).
	FallbackEmployee string `mapstructure:"fallback_employee" example:"ken"`
	// FallbackAddress is an inside address, e.g. desk@corp.test, that
	// receives messages no one else owns (routing.fallback_address).
	FallbackAddress string `mapstructure:"fallback_address" example:"desk@corp.test"`
	// AllowSpecialAddresses accepts outside addresses at domains no one
	// on the public network can be reached at: IP literals, localhost and
	// *.invalid (routing.allow_special_addresses). Off by default: such an
	// address is refused before it becomes a contact.
	AllowSpecialAddresses bool `mapstructure:"allow_special_addresses"`
}

// Limits bounds what Kakehashi accepts.
type Limits struct {
	// MaxBodyBytes is the largest message body accepted, in bytes
	// (limits.max_body_bytes), 1..MaxMaxBodyBytes.
	MaxBodyBytes int `mapstructure:"max_body_bytes" example:"65536"`
	// BroadcastsPerDay is how many broadcasts one contact may receive in
	// any 24 hours (limits.broadcasts_per_day), 0..MaxBroadcastCap; 0
	// turns broadcasts off.
	BroadcastsPerDay int `mapstructure:"broadcasts_per_day" example:"1"`
	// BroadcastsPerMonth is how many in any 30 days
	// (limits.broadcasts_per_month), BroadcastsPerDay..MaxBroadcastCap.
	BroadcastsPerMonth int `mapstructure:"broadcasts_per_month" example:"4"`
	// MessageRetention is how long after a message was sent (or failed)
	// the queue keeps its body and subject (limits.message_retention);
	// 0 keeps them forever, otherwise at least MinMessageRetention.
	MessageRetention time.Duration `mapstructure:"message_retention" example:"720h"`
}

// Inside returns the inside networks, sorted by name.
func (c *Config) Inside() []*Network { return c.side(identity.Inside) }

// Outside returns the outside networks, sorted by name.
func (c *Config) Outside() []*Network { return c.side(identity.Outside) }

func (c *Config) side(s identity.Side) []*Network {
	var out []*Network
	for _, name := range sortedKeys(c.Networks) {
		if n := c.Networks[name]; n != nil && n.Side == s {
			out = append(out, n)
		}
	}
	return out
}

// EnvName returns the environment variable that overrides key, e.g.
// KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_SECRET for
// networks.public-xmpp.xmpp.secret.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// Load reads the YAML file at path, applies KAKEHASHI_* environment
// overrides, decodes strictly (unknown keys and wrong types are errors),
// reads secret files, applies defaults and validates. All problems found are
// returned together; each is a [KeyError]. A file that cannot be read gives
// an error naming the path that matches fs.ErrNotExist when it is missing.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		if _, notMapping := errors.AsType[*yaml.TypeError](err); notMapping {
			return nil, fmt.Errorf("config %s: the file must be a YAML mapping of keys (data_dir, admin, networks, ...): %w", path, err)
		}
		return nil, fmt.Errorf("config %s: not valid YAML: %w", path, err)
	}
	// Viper lower-cases keys, so network names are taken as written first:
	// an upper-case one is an error, not quietly renamed.
	written := networkNames(raw)
	v := viper.New()
	if err := v.MergeConfigMap(raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	names := sortedKeys(v.GetStringMap("networks")) // null ones too, unlike AllSettings
	for _, key := range keys(reflect.TypeFor[Config](), "", names) {
		if err := v.BindEnv(key, EnvName(key)); err != nil {
			return nil, fmt.Errorf("config: bind env for %s: %w", key, err)
		}
	}

	l := &loader{v: v, settings: v.AllSettings()}
	c, err := l.decode()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	for _, n := range written {
		if lower := strings.ToLower(n); lower != n {
			l.fail(KeyError{Key: "networks." + n, Problem: "network name has upper-case letters",
				Fix: fmt.Sprintf("rename it to %s (names use a-z, 0-9 and -)", lower)})
		}
	}
	for _, name := range names {
		n, ok := c.Networks[name]
		switch {
		case !ok && !l.isBad("networks."+name):
			c.Networks[name] = nil // null in the file: Validate says it is empty
		case n != nil:
			n.Name = name
			if n.Mail != nil {
				m := "networks." + name + ".mail"
				n.Mail.setDefaults(l.given(m+".imap"), l.given(m+".smtp"))
			}
		}
	}
	setIfEmpty(&c.DataDir, DefaultDataDir)
	setIfEmpty(&c.Log.Level, DefaultLogLevel)
	setIfEmpty(&c.Log.Format, DefaultLogFormat)
	setIfEmpty(&c.Admin.Listen, DefaultAdminListen)
	l.readSecretFiles(c)
	c.defaultProxyFor()

	errs := l.errs
	for _, p := range c.problems() {
		if !l.isBad(p.Key) {
			errs = append(errs, p)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config %s: %d problem(s):\n%w", path, len(errs), errors.Join(errs...))
	}
	return c, nil
}

// HA configures the election among instances sharing a PostgreSQL store.
type HA struct {
	// Instance names this instance in logs, /healthz and the election's
	// record (ha.instance); default host name and process ID.
	Instance string `mapstructure:"instance" example:"gw-1"`
	// TTL is how long the active instance may go without renewing its
	// term before a standby takes over (ha.ttl, default 2s): the longest
	// takeover from a suspended or cut-off instance. A crashed one is
	// taken over within 50 ms whatever the TTL.
	TTL time.Duration `mapstructure:"ttl" example:"2s"`
	// Advertise is where the other instances reach this one's admin API
	// (ha.advertise): an http or https URL of scheme, host and port only.
	// A standby forwards the admin requests it gets to the active
	// instance's Advertise, so any instance serves the API; without it a
	// standby refuses them with 503 and names the active instance.
	Advertise string `mapstructure:"advertise" example:"http://gw-1.corp.test:8765"`
}

// networkNames returns the keys under networks as written in the file.
func networkNames(raw map[string]any) []string {
	var names []string
	for k, val := range raw {
		if m, ok := val.(map[string]any); ok && strings.EqualFold(k, "networks") {
			names = append(names, sortedKeys(m)...)
		}
	}
	return names
}

// defaultProxyFor fills in proxy_for where it was left out and the choice
// is clear. Outside networks that already have a proxy domain are not
// candidates: the user has said where their proxy addresses live. Among the
// rest an xmpp network wins, as it did before mail networks existed.
func (c *Config) defaultProxyFor() {
	for _, n := range c.Inside() {
		if n.XMPP == nil || n.XMPP.ProxyFor != "" {
			continue
		}
		if t := c.proxyForDefault(n.XMPP); t != "" {
			n.XMPP.ProxyFor = t
		}
	}
}

// proxyForDefault returns the outside network proxy_for defaults to for x,
// or "" if there is no single obvious one.
func (c *Config) proxyForDefault(x *XMPP) string {
	xmpp, all := c.proxyForCandidates(x)
	switch {
	case len(xmpp) == 1:
		return xmpp[0]
	case len(xmpp) == 0 && len(all) == 1:
		return all[0]
	}
	return ""
}

// proxyForCandidates returns the outside networks not keyed in
// x.ProxyDomains: those of kind xmpp, and all of them; both sorted.
func (c *Config) proxyForCandidates(x *XMPP) (xmpp, all []string) {
	for _, n := range c.Outside() {
		if _, ok := x.ProxyDomains[n.Name]; ok {
			continue
		}
		all = append(all, n.Name)
		if n.Kind == KindXMPP {
			xmpp = append(xmpp, n.Name)
		}
	}
	return xmpp, all
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
