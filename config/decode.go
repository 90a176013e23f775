package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// The Config type is the configuration's only schema: viper decodes by the
// mapstructure tags, the environment variables are derived from them, and
// an example tag gives a valid value for the fix of a type error. What is
// left here is what viper does not do: errors that name the key and say
// the fix, variables bound for keys absent from the file (viper's
// AutomaticEnv only sees keys it already knows), and secrets read from files.

// loader decodes one configuration and collects its problems.
type loader struct {
	v        *viper.Viper
	settings map[string]any // viper's merged view of the file and the environment
	errs     []error
	bad      []string // keys with a problem already reported
}

func (l *loader) fail(e KeyError) {
	l.errs = append(l.errs, e)
	l.bad = append(l.bad, e.Key)
}

// isBad reports whether key, or a mapping or list holding it, already has a
// problem: validating it again would only repeat that.
func (l *loader) isBad(key string) bool {
	for _, b := range l.bad {
		if key == b || strings.HasPrefix(key, b+".") || strings.HasPrefix(key, b+"[") {
			return true
		}
	}
	return false
}

// newConfig returns a Config holding the defaults of keys for which absent
// and zero differ: a limit of 0 is a setting, not a missing key.
func newConfig() *Config {
	return &Config{
		Networks: map[string]*Network{},
		Limits: Limits{MaxBodyBytes: DefaultMaxBodyBytes, BroadcastsPerDay: DefaultBroadcastsPerDay,
			BroadcastsPerMonth: DefaultBroadcastsPerMonth, MessageRetention: DefaultMessageRetention},
		Files: Files{MaxFiles: DefaultMaxFiles, MaxFileBytes: DefaultMaxFileBytes,
			MaxFilesPerDay: DefaultMaxFilesPerDay, MaxBytesPerDay: DefaultMaxBytesPerDay},
	}
}

// strict makes viper decode through decodeHook only, without mapstructure's
// weak conversions (a number into a string, say).
func strict(c *mapstructure.DecoderConfig) {
	c.DecodeHook = mapstructure.DecodeHookFuncValue(decodeHook)
	c.WeaklyTypedInput = false
}

// decode decodes the settings into a new Config, reporting unknown keys and
// values of the wrong type. mapstructure drops the whole map entry or
// pointer holding a bad value (a network, its xmpp block), whose other keys
// still need validating, so after a failure each bad value is replaced by
// its type's zero value and the settings decoded again.
func (l *loader) decode() (*Config, error) {
	c := newConfig()
	err := l.v.UnmarshalExact(c, strict)
	if err == nil {
		return c, nil
	}
	var found []KeyError
	for _, de := range decodeErrors(err) {
		p := at(de.Name())
		var te *typeError
		if !errors.As(de, &te) {
			// ErrorUnused's "has invalid keys": the keys are read from the
			// settings rather than from the text of the error.
			found = append(found, l.unknownKeys(p, de)...)
			continue
		}
		found = append(found, p.typeError(te.got))
		if p.list != "" {
			// A list with a bad element is dropped whole.
			l.v.Set(p.list, []any{})
			l.bad = append(l.bad, p.list)
		} else {
			l.v.Set(p.key, zero(p.t))
		}
	}
	slices.SortStableFunc(found, func(a, b KeyError) int { return strings.Compare(a.Key, b.Key) })
	for _, e := range found {
		l.fail(e)
	}
	c = newConfig()
	if err := l.v.Unmarshal(c, strict); err != nil {
		return nil, fmt.Errorf("decoding without the values reported: %w", err)
	}
	return c, nil
}

// decodeErrors returns the mapstructure errors in err's tree.
func decodeErrors(err error) []*mapstructure.DecodeError {
	switch e := err.(type) {
	case *mapstructure.DecodeError:
		return []*mapstructure.DecodeError{e}
	case interface{ Unwrap() []error }:
		var out []*mapstructure.DecodeError
		for _, c := range e.Unwrap() {
			out = append(out, decodeErrors(c)...)
		}
		return out
	case interface{ Unwrap() error }:
		return decodeErrors(e.Unwrap())
	}
	return nil
}

// zero is the value that stands in for a bad one of type t.
func zero(t reflect.Type) any {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return map[string]any{}
	case reflect.Pointer:
		return zero(t.Elem())
	}
	return reflect.Zero(t).Interface()
}

// typeError is a value decodeHook refused. Its key is known only to the
// mapstructure error wrapping it, so Load turns it into a KeyError.
type typeError struct{ got any }

func (e *typeError) Error() string { return "value of the wrong type" }

// decodeHook checks each value against its field's type. Values from the
// environment are always strings, so numbers, booleans, durations and lists
// are read from strings too; otherwise a value must have its field's type,
// as a number given for a host name is a mistake, not a host name.
func decodeHook(from, to reflect.Value) (any, error) {
	v := from.Interface()
	str, isString := v.(string)
	if to.Type() == reflect.TypeFor[time.Duration]() {
		if isString {
			if d, err := time.ParseDuration(strings.TrimSpace(str)); err == nil {
				return d, nil
			}
		} else if from.CanInt() && from.Int() == 0 {
			return time.Duration(0), nil // zero needs no unit
		}
		return nil, &typeError{v}
	}
	switch to.Kind() {
	case reflect.Pointer:
		return v, nil // the value it points to is checked next
	case reflect.String:
		if from.Kind() == reflect.String {
			return v, nil
		}
	case reflect.Int:
		if n, ok := toInt(v); ok {
			return n, nil
		}
	case reflect.Int64: // byte counts (files.max_file_bytes, mail.attach_limit)
		if n, ok := toInt(v); ok {
			return int64(n), nil
		}
	case reflect.Bool:
		if from.Kind() == reflect.Bool {
			return v, nil
		}
		if b, err := strconv.ParseBool(strings.TrimSpace(str)); err == nil && isString {
			return b, nil
		}
	case reflect.Slice:
		if isString { // from the environment: "a.test,b.test" or "a.test b.test"
			return strings.FieldsFunc(str, func(r rune) bool { return r == ',' || isSpace(r) }), nil
		}
		if from.Kind() == reflect.Slice {
			return v, nil
		}
	case reflect.Struct, reflect.Map:
		if from.Kind() == reflect.Map {
			return v, nil
		}
	}
	return nil, &typeError{v}
}

// toInt returns v as an int if it is a whole number, or a string of one.
func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), n >= math.MinInt && n <= math.MaxInt
	case uint64:
		return int(n), n <= math.MaxInt
	case float64:
		return int(n), n == math.Trunc(n) && n >= math.MinInt && n < math.MaxInt
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		return i, err == nil
	}
	return 0, false
}

// place is where a mapstructure field name such as
// networks[corp].xmpp.home_domains[0] leads in Config.
type place struct {
	key   string              // as written in the configuration: networks.corp.xmpp.home_domains[0]
	list  string              // for an element of a list, the list's key
	t     reflect.Type        // the type there
	field reflect.StructField // the field that declares it, or its map or list
	names []string            // the map keys on the way: network names
}

func at(name string) place {
	p := place{t: reflect.TypeFor[Config]()}
	for part := range strings.SplitSeq(name, ".") {
		field, index, isIndex := strings.Cut(part, "[")
		if field != "" {
			f, ok := fields(p.t)[field]
			if !ok { // not a path in Config: no mapstructure error names one
				p.key, p.t = join(p.key, part), reflect.TypeFor[any]()
				continue
			}
			p.key, p.t, p.field = join(p.key, field), f.Type, f
		}
		if !isIndex {
			continue
		}
		index = strings.TrimSuffix(index, "]")
		switch t := deref(p.t); t.Kind() {
		case reflect.Slice:
			p.list, p.key, p.t = p.key, p.key+"["+index+"]", t.Elem()
		case reflect.Map:
			p.key, p.names, p.t = join(p.key, index), append(p.names, index), t.Elem()
		}
	}
	return p
}

func deref(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// fields returns the fields of t, a struct type of Config or a pointer to
// one, by their keys; none for other types.
func fields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	if t = deref(t); t.Kind() == reflect.Struct {
		for f := range t.Fields() {
			if key, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ","); key != "" && key != "-" {
				out[key] = f
			}
		}
	}
	return out
}

// keys returns the full keys of all values under prefix, of type t, with
// each of names standing for the key of a map's entry.
func keys(t reflect.Type, prefix string, names []string) []string {
	var out []string
	switch t = deref(t); t.Kind() {
	case reflect.Struct:
		fs := fields(t)
		for _, k := range sortedKeys(fs) {
			out = append(out, keys(fs[k].Type, join(prefix, k), names)...)
		}
	case reflect.Map:
		for _, n := range names {
			out = append(out, keys(t.Elem(), join(prefix, n), names)...)
		}
	default:
		out = append(out, prefix)
	}
	return out
}

// typeError reports a value of the wrong type at p, with a valid one in the
// fix. A secret's value is never shown.
func (p place) typeError(got any) KeyError {
	ex := p.field.Tag.Get("example")
	given := describe(got, p.t == reflect.TypeFor[Secret]())
	e := KeyError{Key: p.key}
	switch t := deref(p.t); {
	case t == reflect.TypeFor[time.Duration]():
		e.Problem = given + " is not a duration"
		e.Fix = "write a number with a unit, e.g. " + ex + ", 2m or 1m30s"
		if _, err := strconv.ParseFloat(fmt.Sprint(got), 64); err == nil {
			e.Fix += " (a bare number has no unit)"
		}
	case t.Kind() == reflect.String:
		if p.field.Type.Kind() == reflect.Map {
			_, ex, _ = strings.Cut(ex, ": ") // an entry: the example is of the whole mapping
		}
		e.Problem = "expected a string, got " + given
		e.Fix = "quote the value, e.g. " + strconv.Quote(ex)
		switch got.(type) {
		case []any, map[string]any:
			e.Fix = "give it a single value, e.g. " + strconv.Quote(ex)
		}
	case t.Kind() == reflect.Int:
		e.Problem, e.Fix = given+" is not a whole number", "set it to a whole number, e.g. "+ex
	case t.Kind() == reflect.Bool:
		e.Problem, e.Fix = given+" is not true or false", "set it to true or false"
	case t.Kind() == reflect.Slice:
		e.Problem, e.Fix = "expected a list of strings, got "+given, "write a list, e.g. ["+ex+"]"
	default:
		e.Problem, e.Fix = "expected a mapping of keys, got "+given, "write its keys on the lines below it, indented"
		if known := sortedKeys(fields(t)); len(known) > 0 {
			e.Fix += ": " + strings.Join(known, ", ")
		} else if ex != "" {
			e.Fix += ", e.g. " + ex
		}
	}
	return e
}

// unknownKeys reports the keys of the mapping at p that its type has no
// field for, each with the known key it most likely stands for.
func (l *loader) unknownKeys(p place, de *mapstructure.DecodeError) []KeyError {
	m, _ := l.lookup(p.key).(map[string]any)
	known := sortedKeys(fields(p.t))
	names := p.names
	if len(names) == 0 {
		names = []string{"<name>"}
	}
	var out []KeyError
	for _, name := range sortedKeys(m) {
		if slices.Contains(known, name) {
			continue
		}
		fix := "remove it"
		if sug := suggest(p.key, name, known, withBlocks(keys(reflect.TypeFor[Config](), "", names)), l.likelyBlock); sug != "" {
			fix = "did you mean " + sug + "?"
		} else if len(known) > 0 {
			fix = "remove it; known keys here: " + strings.Join(known, ", ")
		}
		out = append(out, KeyError{Key: join(p.key, name), Problem: "unknown key", Fix: fix})
	}
	if len(out) == 0 { // not an unknown key after all: mapstructure's own words
		out = append(out, KeyError{Key: p.key, Problem: de.Unwrap().Error()})
	}
	return out
}

// withBlocks adds to keys the mappings holding them, so that a block
// written in the wrong place is found too.
func withBlocks(keys []string) []string {
	out := slices.Clone(keys)
	for _, k := range keys {
		for i := strings.LastIndexByte(k, '.'); i > 0; i = strings.LastIndexByte(k[:i], '.') {
			out = append(out, k[:i])
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// lookup returns the setting at key, nil if there is none.
func (l *loader) lookup(key string) any {
	var cur any = l.settings
	if key == "" {
		return cur
	}
	for seg := range strings.SplitSeq(key, ".") {
		m, _ := cur.(map[string]any)
		cur = m[seg]
	}
	return cur
}

// given reports whether key is a mapping with at least one key set: viper
// drops empty mappings, so {} counts as absent.
func (l *loader) given(key string) bool {
	_, ok := l.lookup(key).(map[string]any)
	return ok
}

// likelyBlock reports whether key lies in a block the configuration uses
// or, for a network, in the block of its kind: where a misplaced key most
// likely belongs.
func (l *loader) likelyBlock(key string) bool {
	if l.given(key[:max(0, strings.LastIndexByte(key, '.'))]) {
		return true
	}
	rest, ok := strings.CutPrefix(key, "networks.")
	if !ok {
		return false
	}
	name, rest, _ := strings.Cut(rest, ".")
	kind, _ := l.lookup("networks." + name + ".kind").(string)
	return kind != "" && strings.HasPrefix(rest, kind+".")
}

// readSecretFiles fills secrets from their *_file keys.
func (l *loader) readSecretFiles(c *Config) {
	l.readSecret("admin", "token", &c.Admin.Token, c.Admin.TokenFile)
	for _, name := range sortedKeys(c.Networks) {
		n := c.Networks[name]
		if n == nil {
			continue
		}
		if x := n.XMPP; x != nil {
			l.readSecret("networks."+name+".xmpp", "secret", &x.Secret, x.SecretFile)
		}
		if m := n.Mail; m != nil {
			l.readSecret("networks."+name+".mail.imap", "password", &m.IMAP.Password, m.IMAP.PasswordFile)
			l.readSecret("networks."+name+".mail.smtp", "password", &m.SMTP.Password, m.SMTP.PasswordFile)
		}
	}
}

// readSecret reads the file named by <parent>.<name>_file into secret,
// unless <parent>.<name> is set too, which is an error.
func (l *loader) readSecret(parent, name string, secret *Secret, file string) {
	if file == "" {
		return
	}
	key, fileKey := parent+"."+name, parent+"."+name+"_file"
	var problem, fix string
	data, err := os.ReadFile(file)
	s := strings.TrimSpace(string(data))
	switch {
	case *secret != "":
		problem = "both " + key + " and " + fileKey + " are set"
		fix = "keep only one of them (env " + EnvName(key) + " also sets " + key + ")"
	case err != nil:
		problem, fix = "cannot read it: "+err.Error(), "create the file, fix the path, or set "+key+" instead"
	case s == "":
		problem, fix = "file "+file+" is empty", "write the "+name+" into it"
	default:
		*secret = Secret(s)
		return
	}
	l.fail(KeyError{Key: fileKey, Problem: problem, Fix: fix})
	l.bad = append(l.bad, key)
}

// describe names val's type, and shows the value unless it is secret.
func describe(val any, secret bool) string {
	var what string
	switch v := val.(type) {
	case nil:
		return "nothing"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case string:
		if !secret {
			return strconv.Quote(v)
		}
		what = "a string"
	case bool:
		what = "a boolean"
	case int, int64, uint64, float64:
		what = "a number"
	default:
		what = fmt.Sprintf("a %T", val)
	}
	if secret {
		return what
	}
	return fmt.Sprintf("%s (%v)", what, val)
}
