package gateway

import (
	"context"
	"errors"
)

// Commands are what employees can do besides chatting: tag a contact,
// write a remark, send a broadcast. The inside XMPP adapter offers them as
// ad-hoc commands (XEP-0050) with data forms (XEP-0004) on its own domain;
// the gateway decides who may run what. Single-stage: the adapter shows
// the form, the employee submits it once, the result is a note.

// FieldType is the kind of a form field, named as in XEP-0004.
type FieldType string

// Field types.
const (
	FieldText      FieldType = "text-single"
	FieldTextMulti FieldType = "text-multi"
	FieldList      FieldType = "list-single"
	FieldListMulti FieldType = "list-multi"
	FieldBool      FieldType = "boolean"
	FieldFixed     FieldType = "fixed" // a line of text, not an input
)

// FieldOption is one choice of a list field.
type FieldOption struct {
	Label, Value string
}

// Field is one field of a command's form.
type Field struct {
	Var      string // empty for FieldFixed
	Label    string
	Type     FieldType
	Desc     string
	Required bool
	Options  []FieldOption
	Values   []string // current or default values
}

// Command is a command as listed and as its form.
type Command struct {
	Node         string // stable identifier, e.g. "tag-contact"
	Name         string // shown in the client's command menu
	Title        string // form title
	Instructions string
	Fields       []Field
}

// NoteType says how a command's outcome is shown.
type NoteType string

// Note types, as in XEP-0050.
const (
	NoteInfo  NoteType = "info"
	NoteWarn  NoteType = "warn"
	NoteError NoteType = "error"
)

// CommandResult is the outcome of a submitted command.
type CommandResult struct {
	NoteType NoteType
	Note     string
	// Fields, when set, are shown as a result form (e.g. a report table
	// as fixed lines).
	Fields []Field
}

// Commander is implemented by a Core that offers commands. Adapters
// discover it by type assertion.
type Commander interface {
	// Commands lists the commands the inside address from may run on the
	// adapter's network (forms may be left empty here).
	Commands(network, from string) []Command
	// CommandForm returns the form of one command for from, filled with
	// current values; an error wrapping ErrCommandNotFound or
	// ErrCommandForbidden is shown as such.
	CommandForm(ctx context.Context, network, from, node string) (Command, error)
	// RunCommand executes a submitted form. A validation problem is a
	// result with NoteError, not an error.
	RunCommand(ctx context.Context, network, from, node string, values map[string][]string) (CommandResult, error)
}

// Errors a Commander returns for commands that cannot be run.
var (
	ErrCommandNotFound  = errors.New("no such command")
	ErrCommandForbidden = errors.New("not allowed to run this command")
)

// Insider is implemented by a Core that knows who the employees are.
// Adapters discover it by type assertion.
type Insider interface {
	// ActiveEmployee reports whether from (an address on the inside
	// network) belongs to an active employee. Adapters answer queries about
	// the gateway's inside addresses (disco, commands, vCards, presence)
	// only to them: to anyone else those addresses do not exist.
	ActiveEmployee(network, from string) bool
}

// ContactEvent is what an outside network says a contact did about one of
// the gateway's personas.
type ContactEvent struct {
	Network string
	From    string // the contact's bare address
	To      string // the persona's address
	Why     string // for ContactGone: what they did, worded to follow their address
}

// ContactTracker is implemented by a Core that keeps track of contacts
// who went out of reach. Adapters discover it by type assertion and report
// what their protocol says: on XMPP, a contact removing the persona from
// their roster (presence unsubscribe/unsubscribed) or adding it back
// (subscribe).
type ContactTracker interface {
	// ContactGone reports that the contact at e.From no longer wants to
	// hear from the persona at e.To, and why.
	ContactGone(ctx context.Context, e ContactEvent)
	// ContactBack reports that the contact wants to hear from it again.
	ContactBack(ctx context.Context, e ContactEvent)
	// ContactUnreachable reports that the contact a message the gateway
	// sent on network (its gateway ID) went to said they want no more of
	// it, and why (they unsubscribed from it, say): their relationship is
	// marked gone. Bounces, a server's word, go through Core.Failed.
	ContactUnreachable(ctx context.Context, network, id, why string)
}
