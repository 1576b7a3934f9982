package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"galaxy/platform/apierror"
)

// TestStrictJSON sends request bodies that encoding/json alone would accept
// and read one way while another parser reads them another: each is
// refused at the gateway with INVALID_ARGUMENT naming what is wrong.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	const start, confirm, refresh = "/v1/auth/email/start", "/v1/auth/email/confirm", "/v1/auth/refresh"
	tests := []struct {
		name, path, body string
		wantDetail       string
	}{
		{"invalid UTF-8 in a value", start, "{\"email\": \"a\xff@example.com\"}", `"email" is not valid UTF-8`},
		{"overlong UTF-8 in a value", start, "{\"email\": \"a\xc0\xaf@example.com\"}", `"email" is not valid UTF-8`},
		{"escaped unpaired surrogate", start, `{"email": "a\ud800@example.com"}`, `"email" is not valid UTF-8`},
		{"escaped replacement character", start, `{"email": "a\ufffd@example.com"}`, `"email" is not valid UTF-8`},
		{"invalid UTF-8 in a key", start, "{\"email\xff\": \"a@example.com\"}", `not valid UTF-8`},
		{"invalid UTF-8 outside strings", start, "{\"email\": \"a@example.com\"}\xff", `not valid UTF-8`},
		{"duplicate key", start, `{"email": "a@example.com", "email": "b@example.com"}`, `"email" appears more than once`},
		{"duplicate key, same value", start, `{"email": "a@example.com", "email": "a@example.com"}`, `"email" appears more than once`},
		{"duplicate key, one escaped", start, `{"email": "a@example.com", "\u0065mail": "b@example.com"}`, `"email" appears more than once`},
		{"case variant beside the key", start, `{"email": "a@example.com", "Email": "b@example.com"}`, `unknown field "Email"`},
		{"case variant instead of the key", start, `{"EMAIL": "a@example.com"}`, `unknown field "EMAIL"`},
		{"case variant of a snake key", confirm, `{"Challenge_ID": "ch-1", "code": "123456"}`, `unknown field "Challenge_ID"`},
		{"duplicate code", confirm, `{"challenge_id": "ch-1", "code": "000000", "code": "123456"}`, `"code" appears more than once`},
		{"duplicate refresh token", refresh, `{"refresh_token": "a", "refresh_token": "b"}`, `"refresh_token" appears more than once`},
		{"null value", start, `{"email": null}`, `"email" must be a string`},
		{"number value", confirm, `{"challenge_id": "ch-1", "code": 123456}`, `"code" must be a string`},
		{"array value", refresh, `{"refresh_token": ["r"]}`, `"refresh_token" must be a string`},
		{"trailing object", start, `{"email": "a@example.com"} {}`, `single JSON object`},
		{"unterminated object", start, `{"email": "a@example.com"`, `not valid JSON`},
		{"missing colon", start, `{"email" "a@example.com"}`, `not valid JSON`},
		{"trailing comma", start, `{"email": "a@example.com",}`, `not valid JSON`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t)
			resp, body := a.do(t, request{method: "POST", path: tt.path, body: tt.body})
			p := wantProblem(t, resp, body, apierror.InvalidArgument)
			if !strings.Contains(p.Detail, tt.wantDetail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, tt.wantDetail)
			}
			if calls := st.Auth.Calls(); len(calls) != 0 {
				t.Errorf("authsession calls = %q, want the request refused at the gateway", calls)
			}
		})
	}
}

// TestStrictJSONAcceptsWhatIsDocumented checks that the strict decoder still
// takes every well-formed body: escapes, any key order, whitespace and
// non-ASCII text that is valid UTF-8.
func TestStrictJSONAcceptsWhatIsDocumented(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body string
	}{
		{"plain", "/v1/auth/email/start", `{"email": "user@example.com"}`},
		{"escaped key and value", "/v1/auth/email/start", `{"\u0065mail": "user\u0040example.com"}`},
		{"surrounding whitespace", "/v1/auth/email/start", " \r\n\t{\"email\":\"user@example.com\"}\n "},
		{"valid non-ASCII", "/v1/auth/email/start", `{"email": "josé@exämple.com"}`},
		{"keys in another order", "/v1/auth/email/confirm", `{"code": "123456", "challenge_id": "ch-1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, a := newStack(t)
			resp, body := a.do(t, request{method: "POST", path: tt.path, body: tt.body})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %s)", resp.StatusCode, body)
			}
			if calls := st.Auth.Calls(); len(calls) != 1 {
				t.Errorf("authsession calls = %q, want the one call", calls)
			}
		})
	}
}
