package config

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// kind is the type a key's value must have.
type kind int

const (
	kMap kind = iota
	kString
	kInt
	kBool
	kList
	kDuration // a Go duration string such as "30s" or "2m"
)

// field is one node of the schema: a mapping of keys, or a leaf value.
type field struct {
	kind     kind
	secret   bool              // never show the value, not even in errors
	example  string            // a valid value, for fixes
	children map[string]*field // for kMap: the known keys
	any      *field            // for kMap: the value of every key (networks.<name>)
}

func leaf(k kind, example string) *field { return &field{kind: k, example: example} }

func secretLeaf() *field { return &field{kind: kString, secret: true, example: "<secret>"} }

func mapping(children map[string]*field) *field { return &field{kind: kMap, children: children} }

// schema returns the configuration's schema. It is built anew for each use
// so the package holds no mutable state.
func schema() *field {
	network := mapping(map[string]*field{
		"side": leaf(kString, "inside"),
		"kind": leaf(kString, KindXMPP),
		"xmpp": mapping(map[string]*field{
			"domain":       leaf(kString, "gw.corp.test"),
			"server":       leaf(kString, "127.0.0.1:5347"),
			"secret":       secretLeaf(),
			"secret_file":  leaf(kString, "/etc/kakehashi/corp.secret"),
			"home_domains": leaf(kList, "[corp.test]"),
			"proxy_for":    leaf(kString, "public-xmpp"),
			// Keyed by outside network name, like networks itself, so the
			// same names give each entry its environment variable.
			"proxy_domains": {kind: kMap, any: leaf(kString, "mail.gw.corp.test"), example: "mail: mail.gw.corp.test"},
		}),
		"mail": mapping(map[string]*field{
			"domain": leaf(kString, "contact.acme.test"),
			"imap": mapping(map[string]*field{
				"server":             leaf(kString, "mail.acme.test:993"),
				"tls":                leaf(kString, TLSImplicit),
				"ca_file":            leaf(kString, "/etc/kakehashi/mail-ca.pem"),
				"username":           leaf(kString, "contact@acme.test"),
				"password":           secretLeaf(),
				"password_file":      leaf(kString, "/etc/kakehashi/imap.password"),
				"mailbox":            leaf(kString, DefaultIMAPMailbox),
				"processed_mailbox":  leaf(kString, DefaultProcessedMailbox),
				"quarantine_mailbox": leaf(kString, DefaultQuarantineMailbox),
				"poll_interval":      leaf(kDuration, shortDuration(DefaultPollInterval)),
				"idle_interval":      leaf(kDuration, shortDuration(DefaultIdleInterval)),
			}),
			"smtp": mapping(map[string]*field{
				"server":        leaf(kString, "mail.acme.test:465"),
				"tls":           leaf(kString, TLSImplicit),
				"ca_file":       leaf(kString, "/etc/kakehashi/mail-ca.pem"),
				"username":      leaf(kString, "contact@acme.test"),
				"password":      secretLeaf(),
				"password_file": leaf(kString, "/etc/kakehashi/smtp.password"),
				"helo":          leaf(kString, "contact.acme.test"),
			}),
			"dkim": mapping(map[string]*field{
				"selector": leaf(kString, "k2025"),
				"key_file": leaf(kString, "/etc/kakehashi/dkim.pem"),
			}),
			"trusted_authserv_ids": leaf(kList, "[mx.acme.test]"),
		}),
	})
	return mapping(map[string]*field{
		"data_dir": leaf(kString, DefaultDataDir),
		"log": mapping(map[string]*field{
			"level":  leaf(kString, DefaultLogLevel),
			"format": leaf(kString, DefaultLogFormat),
		}),
		"admin": mapping(map[string]*field{
			"listen":       leaf(kString, DefaultAdminListen),
			"token":        secretLeaf(),
			"token_file":   leaf(kString, "/etc/kakehashi/admin.token"),
			"allow_remote": leaf(kBool, "false"),
		}),
		"networks": {kind: kMap, any: network},
		"routing": mapping(map[string]*field{
			"fallback_employee":       leaf(kString, "ken"),
			"fallback_address":        leaf(kString, "desk@corp.test"),
			"allow_special_addresses": leaf(kBool, "false"),
		}),
		"limits": mapping(map[string]*field{
			"max_body_bytes":       leaf(kInt, strconv.Itoa(DefaultMaxBodyBytes)),
			"broadcasts_per_day":   leaf(kInt, strconv.Itoa(DefaultBroadcastsPerDay)),
			"broadcasts_per_month": leaf(kInt, strconv.Itoa(DefaultBroadcastsPerMonth)),
			"message_retention":    leaf(kDuration, shortDuration(DefaultMessageRetention)),
		}),
	})
}

// keys returns the full paths of all leaves under f, with each name in names
// standing in for f.any's key.
func (f *field) keys(prefix string, names []string) []string {
	var out []string
	if f.kind != kMap {
		return []string{prefix}
	}
	for _, k := range sortedKeys(f.children) {
		out = append(out, f.children[k].keys(join(prefix, k), names)...)
	}
	if f.any != nil {
		for _, n := range names {
			out = append(out, f.any.keys(join(prefix, n), names)...)
		}
	}
	return out
}

// decoder turns viper's merged settings into typed values, collecting every
// problem on the way.
type decoder struct {
	values  map[string]any  // full key path -> string, int, bool or []string
	present map[string]bool // full key paths of mappings that were given
	errs    []error
	bad     []string // keys with a decoding problem
	// unknowns are the places in errs kept for unknown keys, filled in by
	// suggestUnknown once the whole file is walked: a good suggestion
	// depends on blocks that may come later in the file.
	unknowns []unknownKey
}

type unknownKey struct {
	at           int // index in errs
	parent, name string
}

func (d *decoder) fail(key, problem, fix string) {
	d.errs = append(d.errs, KeyError{Key: key, Problem: problem, Fix: fix})
	d.bad = append(d.bad, key)
}

// isBad reports whether key, or a mapping holding it, already has a
// decoding problem: validating it again would only repeat that.
func (d *decoder) isBad(key string) bool {
	for _, b := range d.bad {
		if key == b || strings.HasPrefix(key, b+".") {
			return true
		}
	}
	return false
}

// walk checks val against f at path, recording values and problems.
func (d *decoder) walk(f *field, path string, val any) {
	if f.kind == kMap {
		m, ok := asMap(val)
		if !ok {
			d.fail(path, "expected a mapping of keys, got "+describe(val, false),
				"write its keys on the lines below it, indented"+knownHint(f))
			return
		}
		d.present[path] = true
		for _, k := range sortedKeys(m) {
			child := f.children[k]
			if child == nil {
				child = f.any
			}
			if child == nil {
				d.unknown(path, k)
				continue
			}
			d.walk(child, join(path, k), m[k])
		}
		return
	}
	if v, ok := d.convert(f, path, val); ok {
		d.values[path] = v
	}
}

// unknown reports the unknown key name under parent.
func (d *decoder) unknown(parent, name string) {
	d.unknowns = append(d.unknowns, unknownKey{at: len(d.errs), parent: parent, name: name})
	d.errs = append(d.errs, nil)
}

// suggestUnknown fills in the reports of unknown keys, with a did-you-mean
// where one is close.
func (d *decoder) suggestUnknown() {
	for _, u := range d.unknowns {
		d.errs[u.at] = d.unknownError(u.parent, u.name)
	}
	d.unknowns = nil
}

func (d *decoder) unknownError(parent, name string) KeyError {
	key := join(parent, name)
	s := schema()
	f := s
	var names []string
	for seg := range strings.SplitSeq(parent, ".") {
		if seg == "" || f == nil {
			break
		}
		if c := f.children[seg]; c != nil {
			f = c
		} else {
			f, names = f.any, []string{seg}
		}
	}
	var siblings []string
	if f != nil {
		siblings = sortedKeys(f.children)
	}
	if len(names) == 0 {
		names = []string{"<name>"}
	}
	fix := "remove it"
	if sug := suggest(parent, name, siblings, s.keys("", names), d.likelyBlock); sug != "" {
		fix = "did you mean " + sug + "?"
	} else if len(siblings) > 0 {
		fix = "remove it; known keys here: " + strings.Join(siblings, ", ")
	}
	return KeyError{Key: key, Problem: "unknown key", Fix: fix}
}

// likelyBlock reports whether key lies in a block the file uses, or, for a
// network, in the block of its kind: where a misplaced key most likely
// belongs.
func (d *decoder) likelyBlock(key string) bool {
	parent := key[:max(0, strings.LastIndexByte(key, '.'))]
	if d.present[parent] {
		return true
	}
	rest, ok := strings.CutPrefix(key, "networks.")
	if !ok {
		return false
	}
	name, rest, _ := strings.Cut(rest, ".")
	kind, _ := d.values["networks."+name+".kind"].(string)
	return kind != "" && strings.HasPrefix(rest, kind+".")
}

// convert checks a leaf's value. Values from the environment are always
// strings, so int, bool and list keys accept strings that parse.
func (d *decoder) convert(f *field, key string, val any) (any, bool) {
	switch f.kind {
	case kString:
		if s, ok := val.(string); ok {
			return s, true
		}
		fix := "quote the value, e.g. " + strconv.Quote(f.example)
		if _, isMap := asMap(val); isMap {
			fix = "give it a single value, e.g. " + strconv.Quote(f.example)
		} else if _, isList := val.([]any); isList {
			fix = "give it a single value, e.g. " + strconv.Quote(f.example)
		}
		d.fail(key, "expected a string, got "+describe(val, f.secret), fix)
	case kInt:
		switch v := val.(type) {
		case int:
			return v, true
		case int64:
			if v >= math.MinInt && v <= math.MaxInt {
				return int(v), true
			}
		case uint64:
			if v <= math.MaxInt {
				return int(v), true
			}
		case float64:
			if v == math.Trunc(v) && v >= math.MinInt && v <= math.MaxInt {
				return int(v), true
			}
		case string:
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return n, true
			}
		}
		d.fail(key, describe(val, f.secret)+" is not a whole number",
			"set it to a whole number, e.g. "+f.example)
	case kBool:
		switch v := val.(type) {
		case bool:
			return v, true
		case string:
			if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
				return b, true
			}
		}
		d.fail(key, describe(val, f.secret)+" is not true or false", "set it to true or false")
	case kList:
		switch v := val.(type) {
		case string: // from the environment: "a.test,b.test" or "a.test b.test"
			return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }), true
		case []any:
			out := make([]string, 0, len(v))
			ok := true
			for i, e := range v {
				s, isStr := e.(string)
				if !isStr {
					d.fail(fmt.Sprintf("%s[%d]", key, i), "expected a string, got "+describe(e, f.secret), "quote the value")
					ok = false
					continue
				}
				out = append(out, s)
			}
			if ok {
				return out, true
			}
			d.bad = append(d.bad, key)
			return nil, false
		}
		d.fail(key, "expected a list of strings, got "+describe(val, f.secret),
			"write a list, e.g. "+f.example)
	case kDuration:
		fix := "write a number with a unit, e.g. " + f.example + ", 2m or 1m30s"
		s, ok := val.(string)
		if n, isInt := val.(int); isInt && n == 0 {
			return time.Duration(0), true // zero needs no unit
		}
		if !ok {
			switch val.(type) {
			case int, int64, uint64, float64:
				fix += " (a bare number has no unit)"
			}
			d.fail(key, describe(val, f.secret)+" is not a duration", fix)
			break
		}
		if dur, err := time.ParseDuration(strings.TrimSpace(s)); err == nil {
			return dur, true
		}
		d.fail(key, describe(val, f.secret)+" is not a duration", fix)
	}
	return nil, false
}

// build makes a Config from the decoded values, with defaults. names are the
// network names the file declares, even those whose value is empty.
func (d *decoder) build(names map[string]bool) *Config {
	str := func(key string) string { s, _ := d.values[key].(string); return s }
	c := &Config{
		DataDir: str("data_dir"),
		Log:     Log{Level: str("log.level"), Format: str("log.format")},
		Admin: Admin{
			Listen:    str("admin.listen"),
			Token:     Secret(str("admin.token")),
			TokenFile: str("admin.token_file"),
		},
		Routing: Routing{
			FallbackEmployee: str("routing.fallback_employee"),
			FallbackAddress:  str("routing.fallback_address"),
		},
		Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes,
			BroadcastsPerDay: DefaultBroadcastsPerDay, BroadcastsPerMonth: DefaultBroadcastsPerMonth,
			MessageRetention: DefaultMessageRetention},
		Networks: map[string]*Network{},
	}
	c.Admin.AllowRemote, _ = d.values["admin.allow_remote"].(bool)
	c.Routing.AllowSpecialAddresses, _ = d.values["routing.allow_special_addresses"].(bool)
	if n, ok := d.values["limits.max_body_bytes"].(int); ok {
		c.Limits.MaxBodyBytes = n
	} else if d.isBad("limits.max_body_bytes") {
		c.Limits.MaxBodyBytes = 0
	}
	for key, dst := range map[string]*int{
		"limits.broadcasts_per_day":   &c.Limits.BroadcastsPerDay,
		"limits.broadcasts_per_month": &c.Limits.BroadcastsPerMonth,
	} {
		if n, ok := d.values[key].(int); ok {
			*dst = n
		}
	}
	// 0 is a setting (keep texts forever), so only an absent key takes
	// the default.
	if r, ok := d.values["limits.message_retention"].(time.Duration); ok {
		c.Limits.MessageRetention = r
	}
	if c.DataDir == "" && !d.isBad("data_dir") {
		c.DataDir = DefaultDataDir
	}
	if c.Log.Level == "" && !d.isBad("log.level") {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" && !d.isBad("log.format") {
		c.Log.Format = DefaultLogFormat
	}
	if c.Admin.Listen == "" && !d.isBad("admin.listen") {
		c.Admin.Listen = DefaultAdminListen
	}

	if d.isBad("networks") {
		return c
	}
	for name := range names {
		p := "networks." + name
		if !d.present[p] {
			if !d.isBad(p) {
				d.fail(p, "empty", "give it side, kind and an xmpp or mail block")
			}
			continue
		}
		n := &Network{Name: name, Side: identity.Side(str(p + ".side")), Kind: str(p + ".kind")}
		if x := p + ".xmpp"; d.present[x] {
			hd, _ := d.values[x+".home_domains"].([]string)
			n.XMPP = &XMPP{
				Domain:      str(x + ".domain"),
				Server:      str(x + ".server"),
				Secret:      Secret(str(x + ".secret")),
				SecretFile:  str(x + ".secret_file"),
				HomeDomains: hd,
				ProxyFor:    str(x + ".proxy_for"),
			}
			n.XMPP.ProxyDomains = d.proxyDomains(x + ".proxy_domains")
		}
		if m := p + ".mail"; d.present[m] {
			n.Mail = d.buildMail(m)
		}
		c.Networks[name] = n
	}
	return c
}

// proxyDomains collects the entries under key (…xmpp.proxy_domains). An
// entry whose value was of the wrong type is kept, empty, so that the
// network still counts as covered and only the type error is reported.
func (d *decoder) proxyDomains(key string) map[string]string {
	if !d.present[key] {
		return nil
	}
	out := map[string]string{}
	prefix := key + "."
	for k, v := range d.values {
		if network, ok := strings.CutPrefix(k, prefix); ok && !strings.Contains(network, ".") {
			out[network], _ = v.(string)
		}
	}
	for _, b := range d.bad {
		if network, ok := strings.CutPrefix(b, prefix); ok && !strings.Contains(network, ".") {
			out[network] = ""
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// buildMail makes the Mail of the mail block at m, with defaults.
func (d *decoder) buildMail(m string) *Mail {
	str := func(key string) string { s, _ := d.values[key].(string); return s }
	dur := func(key string) time.Duration { v, _ := d.values[key].(time.Duration); return v }
	ids, _ := d.values[m+".trusted_authserv_ids"].([]string)
	ml := &Mail{Domain: str(m + ".domain"), TrustedAuthServIDs: ids}
	if i := m + ".imap"; d.present[i] {
		ml.IMAP = IMAP{
			Server:            str(i + ".server"),
			TLS:               str(i + ".tls"),
			CAFile:            str(i + ".ca_file"),
			Username:          str(i + ".username"),
			Password:          Secret(str(i + ".password")),
			PasswordFile:      str(i + ".password_file"),
			Mailbox:           str(i + ".mailbox"),
			ProcessedMailbox:  str(i + ".processed_mailbox"),
			QuarantineMailbox: str(i + ".quarantine_mailbox"),
			PollInterval:      dur(i + ".poll_interval"),
			IdleInterval:      dur(i + ".idle_interval"),
		}
	}
	if s := m + ".smtp"; d.present[s] {
		ml.SMTP = SMTP{
			Server:       str(s + ".server"),
			TLS:          str(s + ".tls"),
			CAFile:       str(s + ".ca_file"),
			Username:     str(s + ".username"),
			Password:     Secret(str(s + ".password")),
			PasswordFile: str(s + ".password_file"),
			HELO:         str(s + ".helo"),
		}
	}
	if k := m + ".dkim"; d.present[k] {
		ml.DKIM = &DKIM{Selector: str(k + ".selector"), KeyFile: str(k + ".key_file")}
	}
	ml.setDefaults(d.present[m+".imap"], d.present[m+".smtp"])
	return ml
}

// readSecretFiles fills secrets from their *_file keys.
func (d *decoder) readSecretFiles(c *Config) {
	if tok, ok := d.readSecret("admin", "token", c.Admin.Token, c.Admin.TokenFile); ok {
		c.Admin.Token = tok
	}
	for _, name := range sortedKeys(c.Networks) {
		n := c.Networks[name]
		if x := n.XMPP; x != nil {
			if s, ok := d.readSecret("networks."+name+".xmpp", "secret", x.Secret, x.SecretFile); ok {
				x.Secret = s
			}
		}
		if m := n.Mail; m != nil {
			if s, ok := d.readSecret("networks."+name+".mail.imap", "password", m.IMAP.Password, m.IMAP.PasswordFile); ok {
				m.IMAP.Password = s
			}
			if s, ok := d.readSecret("networks."+name+".mail.smtp", "password", m.SMTP.Password, m.SMTP.PasswordFile); ok {
				m.SMTP.Password = s
			}
		}
	}
}

// readSecret reads the file named by <parent>.<name>_file, unless
// <parent>.<name> is set too, which is an error.
func (d *decoder) readSecret(parent, name string, inline Secret, file string) (Secret, bool) {
	if file == "" {
		return "", false
	}
	key, fileKey := parent+"."+name, parent+"."+name+"_file"
	if inline != "" {
		d.fail(fileKey, "both "+key+" and "+fileKey+" are set",
			"keep only one of them (env "+EnvName(key)+" also sets "+key+")")
		d.bad = append(d.bad, key)
		return "", false
	}
	data, err := os.ReadFile(file)
	if err != nil {
		d.fail(fileKey, "cannot read it: "+err.Error(),
			"create the file, fix the path, or set "+key+" instead")
		d.bad = append(d.bad, key)
		return "", false
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		d.fail(fileKey, "file "+file+" is empty", "write the "+name+" into it")
		d.bad = append(d.bad, key)
		return "", false
	}
	return Secret(s), true
}

// asMap returns val as a map with string keys, if it is a mapping.
func asMap(val any) (map[string]any, bool) {
	switch m := val.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			out[fmt.Sprint(k)] = v
		}
		return out, true
	}
	return nil, false
}

// describe names val's type, and shows the value unless it is secret.
func describe(val any, secret bool) string {
	var what string
	switch val.(type) {
	case nil:
		return "nothing"
	case string:
		what = "a string"
	case bool:
		what = "a boolean"
	case int, int64, uint64:
		what = "a number"
	case float64:
		what = "a number"
	case []any:
		return "a list"
	default:
		if _, ok := asMap(val); ok {
			return "a mapping"
		}
		what = fmt.Sprintf("a %T", val)
	}
	if secret {
		return what
	}
	if s, ok := val.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%s (%v)", what, val)
}

// knownHint lists f's known keys, if it has any, or else shows an entry.
func knownHint(f *field) string {
	if len(f.children) == 0 {
		if f.example != "" {
			return ", e.g. " + f.example
		}
		return ""
	}
	return ": " + strings.Join(sortedKeys(f.children), ", ")
}
