package config

import (
	"fmt"
	"io"
	"log/slog"
)

// redacted is what a Secret shows instead of its value.
const redacted = "[redacted]"

// Secret is a string that never shows its value when printed with fmt, logged
// with slog, or marshalled to JSON, YAML or text. Use Reveal where the value
// is really needed.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]".
func (s Secret) String() string { return redacted }

// GoString returns "[redacted]", so %#v does not show the value either.
func (s Secret) GoString() string { return redacted }

// Format writes "[redacted]" for every verb, including %x and %q.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue makes slog log "[redacted]".
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText makes encoding/json, YAML and slog's JSON handler write
// "[redacted]" when a struct holding a Secret is marshalled.
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
