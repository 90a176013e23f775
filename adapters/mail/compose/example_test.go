package compose_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
)

func ExampleBuild() {
	raw, err := compose.Build(&compose.Message{
		From:       compose.Address{Name: "ACME Sales · Hana", Addr: "hana.sales@contact.acme.test"},
		To:         compose.Address{Name: "山田 太郎", Addr: "yamada@mail.test"},
		Subject:    compose.ReplySubject("お見積もり"),
		Date:       time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC),
		MessageID:  "k2m5x9c4h8p1r6t0w2y4a3b7d5f3g2h4@contact.acme.test",
		InReplyTo:  "CAKx=abc-123@mail.gmail.com",
		References: []string{"CAKx=abc-123@mail.gmail.com"},
		Text:       "山田様\nありがとうございます。\n",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(strings.ReplaceAll(string(raw), "\r\n", "\n"))
	// Output:
	// Date: Sat, 01 Mar 2025 09:30:00 +0000
	// From: =?UTF-8?B?QUNNRSBTYWxlcyDCtyBIYW5h?= <hana.sales@contact.acme.test>
	// To: =?UTF-8?B?5bGx55SwIOWkqumDjg==?= <yamada@mail.test>
	// Subject: =?UTF-8?B?UmU6IOOBiuimi+epjeOCguOCig==?=
	// Message-ID: <k2m5x9c4h8p1r6t0w2y4a3b7d5f3g2h4@contact.acme.test>
	// In-Reply-To: <CAKx=abc-123@mail.gmail.com>
	// References: <CAKx=abc-123@mail.gmail.com>
	// MIME-Version: 1.0
	// Content-Type: text/plain; charset=utf-8
	// Content-Transfer-Encoding: quoted-printable
	//
	// =E5=B1=B1=E7=94=B0=E6=A7=98
	// =E3=81=82=E3=82=8A=E3=81=8C=E3=81=A8=E3=81=86=E3=81=94=E3=81=96=E3=81=84=
	// =E3=81=BE=E3=81=99=E3=80=82
}
