// Package email is the one email normalisation policy of the galaxy
// services (contracts/email.md): which addresses are refused and which
// spellings are one account. authsession normalises what a login starts
// with and the user service what it is asked to resolve, with this same
// code, so the two sides of that seam cannot disagree.
package email

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/unicode/norm"

	"galaxy/platform/apierror"
)

// Email length limits (RFC 5321 §4.5.3.1), in octets of the normalised
// address, whose domain is in its A-label (ASCII) form.
const (
	maxEmailLength  = 254 // the whole address (the 256-octet path less "<>")
	maxLocalLength  = 64
	maxDomainLength = 253
	maxLabelLength  = 63
	// maxRawEmailLength bounds the input worth looking at: no address
	// longer than this could normalise to maxEmailLength.
	maxRawEmailLength = 4 * maxEmailLength
)

// refusedInEmail are the characters no address may hold: controls (Cc),
// format characters (Cf: zero-width characters, bidi controls, the BOM),
// private use (Co), separators and other whitespace, and the rest of the
// default-ignorable code points (variation selectors, fillers); and U+FFFD,
// which only stands for something that was lost. Each is
// invisible or renders as something else, so two addresses a person reads
// as one would otherwise be two.
var refusedInEmail = []*unicode.RangeTable{
	unicode.Cc, unicode.Cf, unicode.Co, unicode.Z,
	unicode.White_Space, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector,
}

// Normalize applies the email normalisation policy of
// contracts/email.md to a bare address ("user@example.com": no display
// name, no angle brackets, nothing trimmed) and returns the address every
// login of that mailbox shares: its local part in Unicode NFC, lowercased,
// and its domain in the lowercase A-label form of IDNA2008 (UTS #46 lookup
// mapping), so that the U-label and A-label forms of one domain are one
// account. Anything the policy refuses is INVALID_ARGUMENT.
func Normalize(raw string) (string, error) {
	switch {
	case raw == "":
		return "", apierror.New(apierror.InvalidArgument, "email is required")
	case len(raw) > maxRawEmailLength:
		return "", apierror.New(apierror.InvalidArgument, "email is longer than %d octets", maxEmailLength)
	case !utf8.ValidString(raw):
		return "", apierror.New(apierror.InvalidArgument, "email is not valid UTF-8")
	}
	for _, r := range raw {
		if unicode.IsOneOf(refusedInEmail, r) || r == utf8.RuneError {
			return "", apierror.New(apierror.InvalidArgument,
				"email holds a control, invisible or whitespace character (U+%04X)", r)
		}
	}
	local, domain, ok := strings.Cut(raw, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", apierror.New(apierror.InvalidArgument, "email is not a valid address")
	}
	// The local part must be a dot-atom: net/mail reads one back unchanged.
	if addr, err := mail.ParseAddress(local + "@example.com"); err != nil || addr.Name != "" || addr.Address != local+"@example.com" {
		return "", apierror.New(apierror.InvalidArgument, "email is not a valid address")
	}
	local = strings.ToLower(norm.NFC.String(local))
	if len(local) > maxLocalLength {
		return "", apierror.New(apierror.InvalidArgument, "the local part of email is longer than %d octets", maxLocalLength)
	}
	domain, err := asciiDomain(domain)
	if err != nil {
		return "", err
	}
	addr := local + "@" + domain
	if len(addr) > maxEmailLength {
		return "", apierror.New(apierror.InvalidArgument, "email is longer than %d octets", maxEmailLength)
	}
	return addr, nil
}

// lookup is golang.org/x/net/idna's lookup profile (idna.Lookup: the UTS #46
// mapping, nontransitional, with the STD3 rules, CheckJoiners and the Bidi
// Rule) but for its hyphen check, which counts octets, so that a U-label
// such as "ü--x" is refused and "üa--x" taken: the hyphen rule is applied
// to each U-label in asciiDomain, in characters, as RFC 5891 §4.2.3.1 says.
var lookup = idna.New(idna.MapForLookup(), idna.BidiRule(), idna.CheckHyphens(false))

// mapping maps text as lookup does (UTS #46), validating nothing.
var mapping = idna.New(idna.MapForLookup(), idna.ValidateLabels(false))

// asciiDomain returns the A-label form of domain under the IDNA2008 lookup
// profile, refusing a domain that is not a host name, that is too long or
// whose A-labels do not round-trip (an A-label that is not the encoding of
// its own U-label, or an xn-- label that holds anything but ASCII).
func asciiDomain(domain string) (string, error) {
	invalid := apierror.New(apierror.InvalidArgument, "the domain of email is not a valid domain name")
	ascii, err := lookup.ToASCII(domain)
	if err != nil || ascii == "" {
		return "", invalid
	}
	if len(ascii) > maxDomainLength {
		return "", apierror.New(apierror.InvalidArgument, "the domain of email is longer than %d octets", maxDomainLength)
	}
	aLabels := strings.Split(ascii, ".")
	for _, label := range aLabels {
		if label == "" { // also a trailing dot: an address names no root
			return "", invalid
		}
		if len(label) > maxLabelLength {
			return "", apierror.New(apierror.InvalidArgument, "a label of the domain of email is longer than %d octets", maxLabelLength)
		}
	}
	unicodeForm, err := lookup.ToUnicode(ascii)
	if err != nil {
		return "", invalid
	}
	if again, err := lookup.ToASCII(unicodeForm); err != nil || again != ascii {
		return "", invalid
	}
	for label := range strings.SplitSeq(unicodeForm, ".") {
		if !hyphensAllowed(label) {
			return "", invalid
		}
	}
	// An xn-- label as given (once mapped) must be the A-label it stands
	// for: golang.org/x/net/idna also decodes one holding non-ASCII
	// characters, which is no Punycode.
	given := strings.Split(mapped(domain), ".")
	if len(given) != len(aLabels) {
		return "", invalid
	}
	for i, label := range given {
		if strings.HasPrefix(label, acePrefix) && label != aLabels[i] {
			return "", invalid
		}
	}
	return ascii, nil
}

const acePrefix = "xn--"

// hyphensAllowed reports whether a U-label keeps the hyphen rule of RFC
// 5891 §4.2.3.1, counted in characters: no hyphen at its start or end, and
// not one in both its third and fourth characters.
func hyphensAllowed(label string) bool {
	r := []rune(label)
	n := len(r)
	return n > 0 && r[0] != '-' && r[n-1] != '-' && (n < 4 || r[2] != '-' || r[3] != '-')
}

// mapped is s under the UTS #46 mapping of the lookup profile, in NFC:
// each code point mapped alone, so that no xn-- label is decoded.
func mapped(s string) string {
	var b strings.Builder
	for _, r := range s {
		m, _ := mapping.ToUnicode(string(r)) // s is a domain lookup took: nothing is refused
		b.WriteString(m)
	}
	return norm.NFC.String(b.String())
}
