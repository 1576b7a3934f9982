package email_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"galaxy/platform/apierror"
	"galaxy/platform/email"
)

// label is a DNS label of n letters.
func label(n int) string { return strings.Repeat("d", n) }

func TestNormalize(t *testing.T) {
	t.Parallel()
	// The longest domain an address can hold, 252 octets: 254 less "u@".
	longDomain := label(63) + "." + label(63) + "." + label(63) + "." + label(60)
	valid := []struct {
		name, in, want string
	}{
		{"plain", "user@example.com", "user@example.com"},
		{"lowercased", "User.Name@Example.COM", "user.name@example.com"},
		{"plus tag", "user+tag@example.com", "user+tag@example.com"},
		{"single-label domain", "user@localhost", "user@localhost"},
		{"local part of 64 octets", strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
		{"label of 63 octets", "u@" + label(63) + ".com", "u@" + label(63) + ".com"},
		{"address of 254 octets", strings.Repeat("a", 64) + "@" + label(63) + "." + label(63) + "." + label(61), strings.Repeat("a", 64) + "@" + label(63) + "." + label(63) + "." + label(61)},
		{"domain of 252 octets", "u@" + longDomain, "u@" + longDomain},
		{"U-label domain", "user@bücher.example", "user@xn--bcher-kva.example"},
		{"U-label domain, capitals", "user@BÜCHER.Example", "user@xn--bcher-kva.example"},
		{"A-label domain", "user@xn--bcher-kva.example", "user@xn--bcher-kva.example"},
		{"A-label domain, capitals", "user@XN--BCHER-KVA.example", "user@xn--bcher-kva.example"},
		{"decomposed U-label", "user@bu\u0308cher.example", "user@xn--bcher-kva.example"},
		{"non-ASCII local part, lowercased", "JOSÉ@example.com", "josé@example.com"},
		{"decomposed local part, composed", "jose\u0301@example.com", "josé@example.com"},
		{"U-label with hyphens in its third and fourth octets, not characters", "u@ü--x.example", "u@xn----x-goa.example"},
		{"A-label, fullwidth", "u@ｘｎ--bcher-kva.example", "u@xn--bcher-kva.example"},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := email.Normalize(tc.in)
			if err != nil || got != tc.want {
				t.Errorf("Normalize(%q) = %q, %v; want %q, nil", tc.in, got, err, tc.want)
			}
		})
	}

	invalid := []struct {
		name, in string
	}{
		{"empty", ""},
		{"blank", "   "},
		{"leading space", " user@example.com"},
		{"trailing tab", "user@example.com\t"},
		{"no-break space", "user\u00a0@example.com"},
		{"ideographic space", "user@example.com\u3000"},
		{"no at", "userexample.com"},
		{"two ats", "a@b@example.com"},
		{"no domain", "user@"},
		{"no local part", "@example.com"},
		{"display name", "User <user@example.com>"},
		{"angle brackets", "<user@example.com>"},
		{"two addresses", "a@example.com, b@example.com"},
		{"space inside", "us er@example.com"},
		{"quoted local part", `"us er"@example.com`},
		{"dot at the start", ".user@example.com"},
		{"two dots", "us..er@example.com"},
		{"newline", "user@example.com\nBcc: x@example.com"},
		{"NUL", "user\x00@example.com"},
		{"DEL", "user\x7f@example.com"},
		{"C1 control", "user\u0085@example.com"},
		{"invalid UTF-8", "user\xff@example.com"},
		{"replacement character", "user\ufffd@example.com"},
		{"zero-width space", "us\u200ber@example.com"},
		{"zero-width joiner", "user@exa\u200dmple.com"},
		{"zero-width non-joiner", "us\u200cer@example.com"},
		{"word joiner", "user\u2060@example.com"},
		{"byte order mark", "\ufeffuser@example.com"},
		{"soft hyphen", "us\u00ader@example.com"},
		{"left-to-right mark", "user\u200e@example.com"},
		{"right-to-left override", "user@\u202eexample.com"},
		{"right-to-left isolate", "\u2067user@example.com"},
		{"variation selector", "user\ufe0f@example.com"},
		{"hangul filler", "user\u3164@example.com"},
		{"private use", "user\ue000@example.com"},
		{"local part of 65 octets", strings.Repeat("a", 65) + "@example.com"},
		{"local part of 65 octets once lowercased", strings.Repeat("a", 62) + "Ⱥ@example.com"},
		{"label of 64 octets", "u@" + label(64) + ".com"},
		{"domain of 254 octets", "u@" + longDomain + "dd"},
		{"address of 255 octets by its domain", "u@" + longDomain + "d"},
		{"address of 255 octets", strings.Repeat("a", 64) + "@" + label(63) + "." + label(63) + "." + label(62)},
		{"U-label longer than 63 once encoded", "u@" + strings.Repeat("ü", 60) + ".example"},
		{"huge input", strings.Repeat("a", 5000) + "@example.com"},
		{"empty label", "user@example..com"},
		{"trailing dot", "user@example.com."},
		{"leading dot in the domain", "user@.example.com"},
		{"hyphen at a label's start", "user@-example.com"},
		{"underscore in the domain", "user@ex_ample.com"},
		{"domain literal", "user@[192.0.2.1]"},
		{"A-label that is not punycode", "user@xn--.example"},
		{"A-label of an ASCII label", "user@xn--example-.com"},
		{"A-label not in its canonical form", "user@xn--bcher-kva-.example"},
		{"hyphens in the third and fourth characters", "user@ab--cd.example"},
		{"U-label with hyphens in its third and fourth characters", "user@üa--x.example"},
		{"A-label of a U-label with hyphens in its third and fourth characters", "user@xn--a--x-zra.example"},
		{"xn-- label holding a non-ASCII character", "user@xn--zzé-.example"},
		{"XN-- label holding a non-ASCII character", "user@XN--bücher-.example"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := email.Normalize(tc.in)
			if !apierror.Is(err, apierror.InvalidArgument) {
				t.Errorf("Normalize(%q) = %q, %v; want an INVALID_ARGUMENT error", tc.in, got, err)
			}
		})
	}
}

// TestNormalizeIsIdempotent checks that a normalised address is its
// own normal form, so that storing it and normalising again agree.
func TestNormalizeIsIdempotent(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"User@Example.COM", "user@BÜCHER.example", "JOSÉ@xn--bcher-kva.example", "jose\u0301@bu\u0308cher.example"} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			once, err := email.Normalize(in)
			if err != nil {
				t.Fatalf("Normalize(%q): %v", in, err)
			}
			if twice, err := email.Normalize(once); err != nil || twice != once {
				t.Errorf("Normalize(%q) = %q, %v; want %q, nil", once, twice, err, once)
			}
		})
	}
}

// TestNormalizeIsIdempotentOnGeneratedAddresses: for thousands of
// addresses built from letters of several scripts and cases, composed and
// decomposed marks, dots, tags and Unicode and A-label domains, every
// address the policy accepts normalises to a form that normalises to
// itself: the form authsession sends the user service names the same
// account there.
func TestNormalizeIsIdempotentOnGeneratedAddresses(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(20, 7))
	letters := []string{"a", "Z", "é", "E\u0301", "ß", "ẞ", "İ", "ı", "Σ", "ς", "ǅ", "Ω", "Ж", "ж", "ü", "u\u0308", "ﬃ", "K", "1", "_", "+", "-", "'"}
	domains := []string{"example.com", "EXAMPLE.COM", "bücher.example", "BÜCHER.Example", "xn--bcher-kva.example", "straße.de", "ΕΛΛΑΔΑ.gr", "münchen.DE", "localhost"}
	pick := func(from []string) string { return from[rng.IntN(len(from))] }
	accepted := 0
	for range 5000 {
		var local strings.Builder
		for i := range 1 + rng.IntN(12) {
			if i > 0 && rng.IntN(6) == 0 {
				local.WriteString(".")
			}
			local.WriteString(pick(letters))
		}
		raw := local.String() + "@" + pick(domains)
		once, err := email.Normalize(raw)
		if err != nil {
			continue // refused: nothing to compare
		}
		accepted++
		if twice, err := email.Normalize(once); err != nil || twice != once {
			t.Fatalf("Normalize(%q) = %q, whose normal form is %q, %v; want itself", raw, once, twice, err)
		}
	}
	if accepted < 1000 {
		t.Errorf("only %d of 5000 generated addresses were accepted: the generator tests too little", accepted)
	}
}
