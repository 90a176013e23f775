package parse

import (
	"bytes"
	"errors"
	"net/mail"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// trusted is the receiving MTA of the gateway's mail domain in the fixtures.
var trustedOpts = Options{TrustedAuthServIDs: []string{"mx.contact.acme.test"}}

func jst(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.FixedZone("JST", 9*3600))
}

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

var (
	hana = Address{Name: "Hana Suzuki", Addr: "hana@contact.acme.test"}
	bob  = Address{Name: "Bob Tanaka", Addr: "bob@mail.test"}
)

type fixtureCase struct {
	file string
	// err, when set, is the error the fixture must produce (errors.Is),
	// and errText a substring of its message.
	err     error
	errText string
	want    *Mail
}

func fixtureCases() []fixtureCase {
	return []fixtureCase{
		{file: "gmail_reply.eml", want: &Mail{
			MessageID:   "CAKx9Fq3m+Yd8pZ4t_Vb1nQ0rEw7@mail.gmail.com",
			InReplyTo:   "CAJ7k2hY8+fWq3N_0aKc5r@contact.acme.test",
			References:  []string{"CAJ7k2hY8+fWq3N_0aKc5r@contact.acme.test"},
			From:        bob,
			To:          []Address{hana},
			DeliveredTo: []string{"hana@contact.acme.test"},
			ReturnPath:  "bob@mail.test",
			Subject:     "Re: Quote for the Q1 order",
			Date:        jst(2026, 11, 21, 18, 15, 30),
			Text: "Hi Hana,\n\nThanks for the quote — the prices look good. Could you confirm the delivery date for the 40 units?\n\n" +
				"Best,\nBob",
			FullText: "Hi Hana,\n\nThanks for the quote — the prices look good. Could you confirm the delivery date for the 40 units?\n\n" +
				"Best,\nBob\n\n--\nBob Tanaka\nPurchasing, Mail Test Corp.\n+81 3-5555-0142\n\n" +
				"On Sat, Nov 21, 2026 at 10:00\u202fAM Hana Suzuki <hana@contact.acme.test>\nwrote:\n\n" +
				"> Hi Bob,\n>\n> Please find our quote for the Q1 order attached.\n>\n> Regards,\n> Hana\n>",
			QuoteRemoved:     true,
			SignatureRemoved: true,
			DMARC:            "pass",
			SPF:              "pass",
		}},
		{file: "outlook_reply.eml", want: &Mail{
			MessageID:  "TYCP286MB1234A1B2C3D4E5F6A7B8C9D0E1F2A3B4C5D6E@TYCP286MB1234.JPNP286.PROD.OUTLOOK.COM",
			InReplyTo:  "hana-2026-11-20-meeting@contact.acme.test",
			References: []string{"hana-2026-11-20-meeting@contact.acme.test"},
			From:       Address{Name: "Robert Tanaka", Addr: "bob@mail.test"},
			To:         []Address{hana},
			Subject:    "RE: Meeting next week",
			Date:       utc(2026, 11, 21, 0, 2, 9),
			// Outlook's signature has no delimiter, so it stays: better a
			// signature too many than a sentence too few.
			Text: "Hello Hana,\n\nYes, Tuesday 1 December at 14:00 works for us. I will bring the signed contract.\n\n" +
				"Kind regards,\nRobert Tanaka\nProcurement Manager | Mail Test Corp.",
			QuoteRemoved: true,
			DMARC:        "pass",
		}},
		{file: "outlook_ios_reply.eml", want: &Mail{
			MessageID:  "OS3P286MB5678F0E1D2C3B4A59687@OS3P286MB5678.JPNP286.PROD.OUTLOOK.COM",
			InReplyTo:  "hana-invoice-2026-118@contact.acme.test",
			References: []string{"hana-invoice-2026-118@contact.acme.test"},
			From:       bob,
			To:         []Address{hana},
			ReturnPath: "bob@mail.test",
			Subject:    "Re: Invoice 2026-118",
			Date:       utc(2026, 11, 21, 0, 30, 38),
			Text:       "Received, thank you. I will forward the invoice to our accounts team today.",
			FullText: "Received, thank you. I will forward the invoice to our accounts team today.\n\n" +
				"Get Outlook for iOS (https://aka.ms/o0ukef)\n\n" +
				"From: Hana Suzuki <hana@contact.acme.test>\nSent: Friday, November 20, 2026 6:40:12 PM\n" +
				"To: Bob Tanaka <bob@mail.test>\nSubject: Invoice 2026-118\n" +
				"Dear Bob,\n\nplease find invoice 2026-118 attached.\n\nHana",
			QuoteRemoved:     true,
			SignatureRemoved: true,
			FromHTML:         true,
		}},
		{file: "applemail_reply.eml", want: &Mail{
			MessageID:    "8E1F2A3B-4C5D-4E6F-9A0B-1C2D3E4F5A6B@mail.test",
			InReplyTo:    "hana-samples-20261120@contact.acme.test",
			References:   []string{"hana-samples-20261120@contact.acme.test"},
			From:         bob,
			To:           []Address{hana},
			ReturnPath:   "bob@mail.test",
			Subject:      "Re: Sample shipment",
			Date:         jst(2026, 11, 21, 11, 2, 17),
			Text:         "Hi Hana,\n\nThe samples arrived this morning, all 12 pieces intact. We will run the tests next week and get back to you.\n\nBob",
			QuoteRemoved: true,
		}},
		{file: "ios_reply.eml", want: &Mail{
			MessageID:        "3C0B9D1E-7A2F-4B8C-9E5D-6F1A2B3C4D5E@mail.test",
			InReplyTo:        "hana-mtg-20261121@contact.acme.test",
			References:       []string{"hana-mtg-20261121@contact.acme.test"},
			From:             Address{Name: "田中 一郎", Addr: "bob@mail.test"},
			To:               []Address{{Name: "鈴木 花子", Addr: "hana@contact.acme.test"}},
			ReturnPath:       "bob@mail.test",
			Subject:          "Re: 打ち合わせの日程",
			Date:             jst(2026, 11, 21, 10, 20, 3),
			Text:             "了解しました。月曜日に伺います。",
			QuoteRemoved:     true,
			SignatureRemoved: true,
		}},
		{file: "thunderbird_reply.eml", want: &Mail{
			MessageID:  "5e0a1f3c-8b2d-4c7e-9f16-2a3b4c5d6e7f@mail.test",
			InReplyTo:  "hana-draft-20261121@contact.acme.test",
			References: []string{"hana-draft-20261121@contact.acme.test"},
			From:       bob,
			To:         []Address{hana},
			ReturnPath: "bob@mail.test",
			Subject:    "Re: Draft agreement",
			Date:       jst(2026, 11, 21, 13, 41, 8),
			// format=flowed: the 72-column wrapping is undone.
			Text: "Hello Hana,\n\nI have checked the draft agreement with our legal team and we are happy with clauses 1 to 7. " +
				"Clause 8 (liability) needs a small change: we would like the cap to be twelve months of fees instead of six.\n\nRegards,\nBob",
			QuoteRemoved:     true,
			SignatureRemoved: true,
		}},
		{file: "html_only.eml", want: &Mail{
			MessageID:  "order-A-1042.1795323600@web01.mail.test",
			From:       Address{Name: "Mail Test Orders", Addr: "orders@mail.test"},
			ReplyTo:    []Address{bob},
			To:         []Address{{Addr: "hana@contact.acme.test"}},
			ReturnPath: "orders@mail.test",
			Subject:    "Order confirmed: #A-1042",
			Date:       jst(2026, 11, 21, 14, 0, 0),
			Text: "Order confirmed\n\nDear Hana,\n\n" +
				"thank you for your order #A-1042. We will ship it on Monday, 23 November. Café orders & samples are packed separately—as agreed.\n\n" +
				"- 40 × ceramic mugs\n- 12 × tea sets\n\n" +
				"Item | Qty | Price\nCeramic mug | 40 | ¥48,000\nTea set | 12 | ¥60,000\nTotal | | ¥108,000\n\n" +
				"Track the parcel at our tracking page (https://track.mail.test/p/A-1042) or write to orders@mail.test. See also https://mail.test/faq.\n\n" +
				"Mail Test Corp.\nOrder desk",
			FromHTML: true,
		}},
		{file: "japanese_iso2022jp.eml", want: &Mail{
			MessageID:   "20261121091500.1F2E3D4C5B6A@mail.test",
			InReplyTo:   "hana-quote-20261120@contact.acme.test",
			References:  []string{"hana-quote-20261120@contact.acme.test"},
			From:        Address{Name: "田中 一郎", Addr: "bob@mail.test"},
			To:          []Address{{Name: "鈴木 花子", Addr: "hana@contact.acme.test"}},
			DeliveredTo: []string{"hana@contact.acme.test"},
			ReturnPath:  "bob@mail.test",
			Subject:     "Re: 御見積書の件",
			Date:        jst(2026, 11, 21, 9, 15, 0),
			Text: "鈴木様\n\nいつもお世話になっております。\n株式会社メールテストの田中です。\n\n" +
				"御見積書を拝受いたしました。\n内容を確認のうえ、来週中にご連絡いたします。\n\nよろしくお願いいたします。",
			FullText: "鈴木様\n\nいつもお世話になっております。\n株式会社メールテストの田中です。\n\n" +
				"御見積書を拝受いたしました。\n内容を確認のうえ、来週中にご連絡いたします。\n\nよろしくお願いいたします。\n\n" +
				"━━━━━━━━━━━━━━━━━━━━\n株式会社メールテスト　購買部\n田中 一郎\n〒100-0005 東京都千代田区丸の内1-1-1\n" +
				"TEL: 03-5555-0142\nMail: bob@mail.test\n━━━━━━━━━━━━━━━━━━━━\n\n" +
				"2026年11月20日(金) 17:12 鈴木 花子 <hana@contact.acme.test>:\n> 田中様\n>\n> お世話になっております。\n" +
				"> 御見積書を添付いたしますので、ご確認ください。\n>\n> 鈴木",
			QuoteRemoved:     true,
			SignatureRemoved: true,
		}},
		{file: "japanese_sjis.eml", want: &Mail{
			MessageID:  "000001db3b1a$5f2e3d40$1d8ab7c0$@mail.test",
			From:       Address{Name: "田中 一郎", Addr: "bob@mail.test"},
			To:         []Address{{Name: "hana@contact.acme.test", Addr: "hana@contact.acme.test"}},
			ReturnPath: "bob@mail.test",
			Subject:    "RE: 納品予定表の送付",
			Date:       jst(2026, 11, 20, 10, 3, 10),
			// 表, ソ and 能 end in byte 0x5C ("\") in Shift_JIS.
			Text: "鈴木様\n\nお世話になっております。田中です。\n" +
				"納品予定表を確認しました。ソフトウェアの機能についても問題ありません。\n\n以上、よろしくお願いいたします。",
			QuoteRemoved: true,
			// The file name is raw Shift_JIS in a quoted parameter.
			Attachments: []Attachment{{Name: "納品予定表.xls", ContentType: "application/vnd.ms-excel", Size: 520}},
		}},
		{file: "japanese_eucjp.eml", want: &Mail{
			MessageID:        "20261120194438.8D9C.BOB@mail.test",
			InReplyTo:        "hana-sample-20261120@contact.acme.test",
			References:       []string{"hana-sample-20261120@contact.acme.test"},
			From:             Address{Name: "田中 一郎", Addr: "bob@mail.test"},
			To:               []Address{{Name: "鈴木 花子", Addr: "hana@contact.acme.test"}},
			ReturnPath:       "bob@mail.test",
			Subject:          "Re: サンプル返送",
			Date:             jst(2026, 11, 20, 19, 44, 38),
			Text:             "鈴木さん\n\n田中です。ご連絡ありがとうございます。\nサンプルの件、承知しました。来週水曜日までに返送します。",
			QuoteRemoved:     true,
			SignatureRemoved: true,
		}},
		{file: "attachments.eml", want: &Mail{
			MessageID: "7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f@mail.test",
			From:      bob,
			To:        []Address{{Name: "鈴木 花子", Addr: "hana@contact.acme.test"}},
			// A comma inside a quoted name does not split the list;
			// addresses are lower-cased.
			Cc:         []Address{{Addr: "orders@mail.test"}, {Name: "Sato, Kenji", Addr: "kenji.sato@mail.test"}},
			ReturnPath: "bob@mail.test",
			Subject:    "見積書と工場写真",
			Date:       jst(2026, 11, 21, 15, 20, 28),
			Text:       "Hana,\n\nAttached are the signed quote, a photo of the factory floor and the spec.\n\nBob",
			Attachments: []Attachment{
				{Name: "見積書.pdf", ContentType: "application/pdf", Size: 218},                                                          // RFC 2231
				{Name: "工場写真.png", ContentType: "image/png", Size: 69},                                                                // RFC 2231 continuations, inline
				{Name: "仕様書.docx", ContentType: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Size: 104}, // RFC 2047 ISO-2022-JP
			},
		}},
		{file: "dsn_bounce.eml", want: &Mail{
			MessageID:   "20261121010512.8C2A1C0F12@mx1.mail.test",
			From:        Address{Name: "Mail Delivery System", Addr: "mailer-daemon@mx1.mail.test"},
			To:          []Address{{Addr: "bounces+abc123@contact.acme.test"}},
			DeliveredTo: []string{"bounces+abc123@contact.acme.test"},
			NullSender:  true,
			Subject:     "Undelivered Mail Returned to Sender",
			Date:        jst(2026, 11, 21, 10, 5, 12),
			Text: "This is the mail system at host mx1.mail.test.\n\n" +
				"I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients. It's attached below.\n\n" +
				"For further assistance, please send mail to postmaster.\n\n" +
				"If you do so, please include this problem report. You can\ndelete your own text from the attached returned message.\n\n" +
				"                   The mail system\n\n" +
				"<carol@mail.test>: host mx1.mail.test[private/dovecot-lmtp] said: 550 5.1.1\n" +
				"    <carol@mail.test> User doesn't exist: carol@mail.test (in reply to RCPT TO\n    command)",
			Automatic: "Auto-Submitted: auto-replied",
			Bounce: &Bounce{
				Recipients: []BounceRecipient{{
					Addr: "carol@mail.test", Action: "failed", Status: "5.1.1",
					Diagnostic: "550 5.1.1 <carol@mail.test> User doesn't exist: carol@mail.test",
				}},
				OriginalMessageID: "kakehashi.7f3a9c2e@contact.acme.test",
				OriginalTo:        "carol@mail.test",
			},
		}},
		{file: "dsn_mixed.eml", want: &Mail{
			MessageID:   "dsn-7788@relay.mail.test",
			From:        Address{Name: "Mail Delivery Subsystem", Addr: "postmaster@relay.mail.test"},
			To:          []Address{{Addr: "bounces+def456@contact.acme.test"}},
			DeliveredTo: []string{"bounces+def456@contact.acme.test"},
			NullSender:  true,
			Subject:     "Delivery Status Notification (Failure)",
			Date:        jst(2026, 11, 21, 12, 0, 1),
			Text: "Delivery to the following recipients failed permanently:\n\n    dave@mail.test\n\n" +
				"Delivery to the following recipients has been delayed:\n\n    erin@mail.test",
			// Outside a multipart/report the returned message stays an
			// attachment, named after its subject.
			Attachments: []Attachment{{Name: "Catalogue 2027.eml", ContentType: "message/rfc822", Size: 278}},
			Automatic:   "delivery status notification",
			Bounce: &Bounce{
				Recipients: []BounceRecipient{
					{Addr: "dave@mail.test", Action: "failed", Status: "5.2.2", Diagnostic: "552-5.2.2 The recipient's inbox is out of storage space."},
					{Addr: "erin@mail.test", Action: "delayed", Status: "4.4.1", Diagnostic: "421 4.4.1 Connection timed out"},
				},
				OriginalMessageID: "kakehashi.11aa22bb@contact.acme.test",
				OriginalTo:        "dave@mail.test, erin@mail.test",
			},
		}},
		{file: "out_of_office.eml", want: &Mail{
			MessageID:  "TYCP286MB12340AA1BB2CC3DD4EE5FF6@TYCP286MB1234.JPNP286.PROD.OUTLOOK.COM",
			InReplyTo:  "kakehashi.99ff88ee@contact.acme.test",
			From:       Address{Name: "Robert Tanaka", Addr: "bob@mail.test"},
			To:         []Address{hana},
			ReturnPath: "bob@mail.test",
			Subject:    "Automatic reply: Invoice 2026-118",
			Date:       utc(2026, 11, 22, 23, 0, 4),
			Text:       "I am out of the office until 30 November with limited access to e-mail.\nFor urgent matters please contact José Ortega (jose@mail.test).",
			Automatic:  "Auto-Submitted: auto-replied",
		}},
		{file: "list_mail.eml", want: &Mail{
			MessageID:  "holiday-2026.announce@lists.mail.test",
			From:       Address{Name: "Mail Test Corp.", Addr: "news@mail.test"},
			To:         []Address{{Addr: "announce@lists.mail.test"}},
			ReturnPath: "announce-bounces+hana=contact.acme.test@lists.mail.test",
			Subject:    "[Announce] Holiday schedule 2026",
			Date:       jst(2026, 11, 24, 9, 0, 0),
			Text:       "Our offices are closed from 29 December to 3 January.\n\nOrders placed during that time ship on 4 January.",
			// The list footer is a separator line plus short lines with a URL.
			SignatureRemoved: true,
			Automatic:        "Precedence: bulk",
		}},
		{file: "dmarc_fail_spoof.eml", want: &Mail{
			MessageID:  "a1b2c3@verify-login.test",
			From:       Address{Name: "Bank Example Support", Addr: "support@bank.example"},
			To:         []Address{{Addr: "hana@contact.acme.test"}},
			ReturnPath: "noreply@verify-login.test",
			Subject:    "Urgent: your account is suspended",
			Date:       jst(2026, 11, 24, 3, 12, 40),
			// The link text and its real target differ: both are shown.
			Text: "Dear customer,\n\nYour account has been suspended. Verify your identity within 24 hours:\n\n" +
				"https://bank.example/verify (https://bank-example.verify-login.test/session?id=8812)\n\nBank Example Security Team",
			FromHTML: true,
			// The topmost trusted header says fail; the forged "pass" below
			// it carries the same authserv-id but came with the mail.
			DMARC: "fail",
			// About the Return-Path's domain, which is not the From's.
			SPF: "softfail",
		}},
		{file: "dmarc_fail_untrusted.eml", want: &Mail{
			MessageID:  "d4e5f6@verify-login.test",
			From:       Address{Name: "Bank Example Support", Addr: "support@bank.example"},
			To:         []Address{{Addr: "hana@contact.acme.test"}},
			ReturnPath: "noreply@verify-login.test",
			Subject:    "Urgent: your account is suspended",
			Date:       jst(2026, 11, 24, 3, 14, 58),
			Text: "Dear customer,\n\nYour account has been suspended. Verify your identity within 24 hours:\n" +
				"https://bank-example.verify-login.test/session?id=8813\n\nBank Example Security Team",
			// Neither authserv-id is ours (one only looks like it): no verdict.
			DMARC: "",
		}},
		{file: "inline_reply.eml", want: &Mail{
			MessageID:  "CAKx9Fq3inline0042@mail.gmail.com",
			InReplyTo:  "hana-questions-20261120@contact.acme.test",
			References: []string{"hana-thread-start@contact.acme.test", "hana-questions-20261120@contact.acme.test"},
			From:       bob,
			To:         []Address{hana},
			ReturnPath: "bob@mail.test",
			Subject:    "Re: Three questions before shipping",
			Date:       jst(2026, 11, 21, 8, 30, 0),
			// Interleaved answers keep the questions they answer; only the
			// unanswered quote at the end goes.
			Text: "Hi Hana,\n\nOn Fri, Nov 20, 2026 at 5:12 PM Hana Suzuki <hana@contact.acme.test> wrote:\n" +
				"> Could you answer three questions before we ship?\n>\n> 1. Can you accept delivery on Saturdays?\n\nYes, until noon.\n\n" +
				"> 2. Do you need the goods on pallets?\n\nNo, cartons are fine.\n\n" +
				"> 3. Who should we contact on arrival?\n\nMe, on +81 90-5555-0199.",
			QuoteRemoved: true,
		}},
		{file: "unknown_charset.eml", want: &Mail{
			MessageID: "klingon-1@mail.test",
			// Raw 8-bit header bytes fall back to Windows-1252.
			From:    Address{Name: "José", Addr: "jose@mail.test"},
			To:      []Address{{Addr: "hana@contact.acme.test"}},
			Subject: "Caf\uFFFD order",
			Date:    jst(2026, 11, 21, 17, 0, 0),
			// An unknown charset keeps ASCII and marks what it cannot read.
			Text: "Two caf\uFFFD au lait sets, please.\nOrder ref: K-77.",
		}},
		{file: "forwarded.eml", want: &Mail{
			MessageID: "CAKx9Fq3fwd0077@mail.gmail.com",
			From:      bob,
			To:        []Address{hana},
			Subject:   "Fwd: Customs documents",
			Date:      jst(2026, 11, 21, 18, 0, 0),
			// A forward is shown whole: the forwarded part is the message.
			Text: "Hana, see below from our broker.\n\n---------- Forwarded message ---------\n" +
				"From: Customs Broker <broker@mail.test>\nDate: Fri, Nov 20, 2026 at 4:00 PM\nSubject: Customs documents\n" +
				"To: Bob Tanaka <bob@mail.test>\n\n\nBob,\n\n> Which documents are missing?\n\n" +
				"The commercial invoice and the packing list.\n\nBroker",
		}},
		{file: "malformed.eml", err: ErrMalformed, errText: "multipart/mixed without boundary"},
		{file: "malformed_unclosed.eml", err: ErrMalformed, errText: "never closed"},
		{file: "malformed_header.eml", err: ErrMalformed, errText: "header section"},
	}
}

func TestFixtures(t *testing.T) {
	for _, tc := range fixtureCases() {
		raw, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		variants := []struct {
			name string
			data []byte
		}{
			{"LF", raw},
			// IMAP delivers CRLF; the result must not depend on it.
			{"CRLF", bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))},
		}
		for _, v := range variants {
			t.Run(tc.file+"/"+v.name, func(t *testing.T) {
				m, err := Parse(bytes.NewReader(v.data), trustedOpts)
				if tc.err != nil {
					if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.errText) {
						t.Fatalf("err = %v, want %v containing %q", err, tc.err, tc.errText)
					}
					if m != nil {
						t.Errorf("mail = %+v, want nil with an error", m)
					}
					return
				}
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				checkMail(t, m, tc.want, v.name == "CRLF")
			})
		}
	}
}

// checkMail compares every field. FullText is compared only when want sets
// it; otherwise it must at least contain Text. With lenientSizes the sizes
// of unencoded attachments are not compared, since they include the line
// ends.
func checkMail(t *testing.T, got, want *Mail, lenientSizes bool) {
	t.Helper()
	g, w := *got, *want
	if !g.Date.Equal(w.Date) {
		t.Errorf("Date = %v, want %v", g.Date, w.Date)
	}
	g.Date, w.Date = time.Time{}, time.Time{}
	if w.FullText == "" {
		if !strings.Contains(g.FullText, g.Text) && !g.QuoteRemoved {
			t.Errorf("FullText %q does not contain Text %q", g.FullText, g.Text)
		}
		g.FullText = ""
	}
	g.Attachments = withoutData(t, g.Attachments, w.Attachments)
	if lenientSizes {
		g.Attachments = append([]Attachment(nil), g.Attachments...)
		w.Attachments = append([]Attachment(nil), w.Attachments...)
		for i := range g.Attachments {
			if i < len(w.Attachments) && strings.HasPrefix(g.Attachments[i].ContentType, "message/") {
				g.Attachments[i].Size = w.Attachments[i].Size
			}
		}
	}
	gv, wv := reflect.ValueOf(g), reflect.ValueOf(w)
	for i := 0; i < gv.NumField(); i++ {
		if !reflect.DeepEqual(gv.Field(i).Interface(), wv.Field(i).Interface()) {
			t.Errorf("%s =\n\t%#v\nwant\n\t%#v", gv.Type().Field(i).Name, gv.Field(i).Interface(), wv.Field(i).Interface())
		}
	}
	for _, s := range []string{got.Text, got.FullText, got.Subject, got.From.Name} {
		if !utf8.ValidString(s) || strings.ContainsRune(s, '\r') {
			t.Errorf("not clean text: %q", s)
		}
	}
}

// TestFixturesUntrusted: without trusted authserv-ids no Authentication-
// Results header is believed.
func TestFixturesUntrusted(t *testing.T) {
	for _, f := range []string{"gmail_reply.eml", "dmarc_fail_spoof.eml"} {
		raw, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(bytes.NewReader(raw), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m.DMARC != "" {
			t.Errorf("%s: DMARC = %q with no trusted authserv-id", f, m.DMARC)
		}
	}
}

// TestParseDateFastPathAgreesWithNetMail: the common form read directly
// gives what net/mail gives, zone and all; other forms still go to it.
func TestParseDateFastPathAgreesWithNetMail(t *testing.T) {
	for _, v := range []string{
		"Sat, 21 Nov 2026 10:00:00 +0000",
		"Sat, 1 Nov 2026 10:00:00 +0900",
		"Mon, 02 Jan 2006 15:04:05 -0700",
		"Sat, 21 Nov 2026 10:00:00 +0100 (CET)",
		"21 Nov 2026 10:00 +0000",
		"Sat, 21 Nov 26 10:00:00 GMT",
		"Sat, 31 Nov 2026 10:00:00 +0000",
	} {
		want, err := mail.ParseDate(v)
		if err != nil {
			want = time.Time{}
		}
		got := parseDate(v)
		gn, go_ := got.Zone()
		wn, wo := want.Zone()
		if !got.Equal(want) || gn != wn || go_ != wo {
			t.Errorf("parseDate(%q) = %v, net/mail says %v", v, got, want)
		}
	}
}
