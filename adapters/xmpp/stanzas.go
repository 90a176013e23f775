package xmpp

// Building blocks for the stanzas the adapter writes, on top of mellium's
// stanza, disco, commands and form packages: what those have no type for
// in v0.22.0 is composed here with xmlstream.

import (
	"encoding/xml"
	"fmt"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/kakehashi/kakehashi/address"
)

// Namespaces mellium has no package for.
const (
	nsNick  = "http://jabber.org/protocol/nick" // XEP-0172
	nsVCard = "vcard-temp"                      // XEP-0054
)

// verbatim is addr as a JID spelled exactly as given, for the address of an
// answer: the server routed the stanza answered with that spelling and will
// route the answer with it. jid.Parse would re-spell it (case, A-labels to
// U-labels, which the server may not know its own domain by) or refuse it
// (PRECIS is stricter than the server's stringprep).
func verbatim(addr string) jid.JID {
	// ParseUnsafe only splits the string: no string is an error.
	u, _ := jid.ParseUnsafe(addr)
	return u.JID
}

// validJID is jid.Parse's verdict on addr, without the parsed JID: nil
// when addr is a valid address. The common spelling is answered by
// address.PlainJID, without PRECIS and IDNA.
func validJID(addr string) error {
	if address.PlainJID(addr) {
		return nil
	}
	_, err := jid.Parse(addr)
	return err
}

// stanzaError is an error with cond, of the type RFC 6120 gives it, with
// text in English.
func stanzaError(cond stanza.Condition, text string) stanza.Error {
	e := stanza.Error{Type: errorType(cond), Condition: cond}
	if text != "" {
		e.Text = map[string]string{"en": text}
	}
	return e
}

// answerTo is the IQ answering iq with typ, addressed as stanza.IQ's Result
// and Error address theirs, for answers those cannot write.
func answerTo(iq stanza.IQ, typ stanza.IQType) stanza.IQ {
	iq.Type = typ
	iq.From, iq.To = iq.To, iq.From
	return iq
}

// element is <name>text</name> in its parent's namespace (a message's
// body, subject or thread, a vCard's FN): mellium has no types for them.
func element(name, text string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(text)), xml.StartElement{Name: xml.Name{Local: name}})
}

// nick is a nick (XEP-0172) announcing name, or nothing when name is empty.
func nick(name string) xml.TokenReader {
	if name == "" {
		return nil
	}
	return xmlstream.Wrap(xmlstream.Token(xml.CharData(name)), xml.StartElement{Name: xml.Name{Space: nsNick, Local: "nick"}})
}

// presence is a presence of typ from from to to, announcing name.
func presence(typ stanza.PresenceType, from, to jid.JID, name string) xml.TokenReader {
	return stanza.Presence{Type: typ, From: from, To: to}.Wrap(nick(name))
}

// vCard is a vcard-temp card (XEP-0054) naming name.
func vCard(name string) xml.TokenReader {
	return xmlstream.Wrap(xmlstream.MultiReader(element("FN", name), element("NICKNAME", name)),
		xml.StartElement{Name: xml.Name{Space: nsVCard, Local: "vCard"}})
}

// insertInto puts inner at the end of the element named name in r: a
// command's payload, a form's fields, a list's items, where mellium writes
// the element without them. xmlstream.Insert (v0.15.4) misses an end
// element read together with io.EOF, as the last token of a reader made by
// xmlstream.Wrap is, and cuts the stream short when what it inserts is
// empty; neither happens here.
func insertInto(name xml.Name, r xml.TokenReader, inner ...xml.TokenReader) xml.TokenReader {
	if len(inner) == 0 {
		return r
	}
	return xmlstream.Insert(name, readers(inner))(xmlstream.MultiReader(r, xmlstream.MultiReader()))
}

// readers are token readers read one after the other, as the
// xmlstream.Marshaler that xmlstream.Insert takes.
type readers []xml.TokenReader

func (rs readers) TokenReader() xml.TokenReader { return xmlstream.MultiReader(rs...) }

// write copies stanzas to w, a handler's stream: mellium flushes it when
// the handler returns, and an IQ answered there counts as answered.
func write(w xmlstream.TokenWriter, stanzas ...xml.TokenReader) error {
	for _, s := range stanzas {
		if _, err := xmlstream.Copy(w, s); err != nil {
			return fmt.Errorf("xmpp: write reply: %w", err)
		}
	}
	return nil
}
