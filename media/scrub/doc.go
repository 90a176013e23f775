// Package scrub removes author metadata from files an employee sends to an
// outside customer, so that a photo, a scanned PDF or a Word document does
// not carry the employee's name, machine, organisation or location past
// the gateway that hides who they are.
//
// Clean is the whole API. It decides the format from the content, never
// from the name or the claimed media type (net/http.DetectContentType plus
// magic numbers where that is too coarse), and either writes a cleaned
// copy, passes the file through unchanged, or refuses it with an error
// wrapping ErrUnsupported whose text tells the employee what to do.
//
// # What is cleaned, and how
//
//   - JPEG: streamed segment by segment. APP1 (Exif, XMP, extended XMP),
//     APP13 (Photoshop/IPTC), COM and every other APPn are dropped, except
//     APP0 JFIF (kept without its thumbnail), APP2 ICC_PROFILE and APP14
//     Adobe, which carry the colour information needed to render it. The
//     entropy-coded data after each SOS is copied unchanged; anything after
//     EOI (appended previews, motion-photo videos, vendor trailers) is
//     dropped. Of the EXIF, a rotating or mirroring Orientation (2-8) alone
//     stays, in a new EXIF segment holding nothing else, so a photo taken
//     sideways still displays upright: Report.Removed says
//     "EXIF (orientation kept)" (else "EXIF (incl. orientation)"). PNG
//     and WebP drop their EXIF whole; orientation there is rare.
//   - PNG: streamed chunk by chunk against an allow-list: critical
//     chunks, transparency, colour (iCCP, gAMA, cHRM, sRGB, sBIT, cICP,
//     mDCv, cLLi), bKGD, hIST, pHYs and APNG animation are copied byte for
//     byte with their CRCs (checked on the way); tEXt, zTXt, iTXt (XMP),
//     eXIf, tIME and unknown ancillary chunks are dropped. An unknown
//     critical chunk is refused.
//   - GIF: streamed block by block; comment extensions and application
//     extensions other than the NETSCAPE2.0/ANIMEXTS1.0 looping ones (XMP
//     is an application extension) are dropped.
//   - WebP: two passes over the RIFF chunk headers (the new RIFF size comes
//     first); EXIF, "XMP " and unknown chunks are dropped, and the VP8X
//     EXIF and XMP flags cleared.
//   - PDF: read whole into memory and written again by
//     github.com/pdfcpu/pdfcpu v0.15.0. The document Info dictionary is
//     removed (pdfcpu writes a new one holding only its own Producer and
//     the time of cleaning), as are the catalog's XMP Metadata stream and
//     every other object's (pages, images, fonts), PieceInfo application
//     data, the authors (T) of comments and other markup annotations, and
//     the file identifiers. Encrypted PDFs, signed PDFs (the signature
//     names the signer) and PDFs pdfcpu cannot read or validate are
//     refused.
//   - Office Open XML (DOCX, XLSX, PPTX and their template and
//     macro-enabled kinds: a zip with [Content_Types].xml whose main part
//     is a Word, Excel or PowerPoint one): rewritten entry by entry with
//     archive/zip. The core properties (creator, last modified by, title,
//     dates…) become an empty coreProperties document; Company, Manager,
//     HyperlinkBase and Template are removed from the app properties; the
//     custom properties part is dropped with its relationship and
//     content-type override; embedded JPEG, PNG, GIF and WebP images are
//     cleaned as above; every other entry is copied raw, still compressed.
//     Entry comments, extra fields and the archive comment are dropped.
//   - Plain text (any charset DetectContentType calls text/plain, CSV
//     included): copied unchanged (Report.Unchanged), after checking the
//     whole file, not only its start, for binary data.
//
// # What is refused, and why
//
// Everything else: other zips (OpenDocument, EPUB, plain archives), old
// and password-protected Office files (OLE2), HEIC, AVIF, TIFF, SVG,
// video, audio, RTF, HTML, and so on. Each of these can carry author
// metadata Clean does not know how to remove, so the safe answer is to
// hold the file and ask the employee to convert it (to PDF or an image;
// to JPEG or PNG for an image), or an admin to list its type in
// Options.PassThrough, which sends it unchanged. A file sent as an image that is not one is refused whatever
// PassThrough says. A damaged file is refused too (ErrMalformed as well as
// ErrUnsupported): what cannot be parsed cannot be cleaned.
//
// # What is not removed
//
// Clean removes metadata, not content. Inside Office documents, the
// authors of comments and tracked changes (word/comments.xml,
// word/people.xml, w:author attributes), Excel's absolute path of the
// workbook, a template's path in the settings relationships, and embedded
// objects (a workbook inside a slide) are left as they are; so are files
// attached to a PDF. ICC colour profiles are kept, and their description
// is whatever the profile's maker wrote.
//
// # Resources
//
// Every format but PDF is streamed: memory use does not grow with the
// file, beyond an Office file's zip directory (at most 50,000 entries)
// and a few small XML parts, read whole and capped at 8 MiB each. pdfcpu holds the whole PDF and its objects in memory,
// several times the file's size, so the caller must cap the size of what
// it accepts. Clean checks its context on every read and between
// segments, chunks and entries, and uses no package-level state: it may be
// called from many goroutines at once.
package scrub
