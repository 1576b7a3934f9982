package httpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"galaxy/platform/apierror"
)

// MaxBodyBytes bounds every request body (contracts/errors.md).
const MaxBodyBytes = 64 << 10

var errTooLarge = apierror.New(apierror.PayloadTooLarge, "request body is larger than %d bytes", MaxBodyBytes)

// DecodeJSON reads r's body into dst, a pointer to a request struct, strictly:
// the body must be declared application/json, hold at most MaxBodyBytes and
// be exactly one JSON object in valid UTF-8 whose keys are each exactly one
// of dst's fields (as its json tag spells it), at most once, each value of
// the field's JSON type.
//
// encoding/json alone is not strict enough for a request body: it replaces
// invalid UTF-8 with U+FFFD, matches keys case-insensitively and keeps the
// last of duplicate keys, so two parsers could read one body differently
// (RFC 8259 §8.1). The object is therefore tokenised here and only each
// accepted value is handed to encoding/json.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.ContentLength > MaxBodyBytes {
		return errTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return errTooLarge
		}
		return apierror.New(apierror.InvalidArgument, "request body could not be read")
	}
	return decodeObject(body, dst)
}

// decodeObject decodes body, a whole request body, into the struct dst
// points to; see DecodeJSON.
func decodeObject(body []byte, dst any) error {
	fields := jsonFields(dst)
	if len(bytes.TrimSpace(body)) == 0 {
		return apierror.New(apierror.InvalidArgument, "request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		return syntaxError(body)
	}
	if tok != json.Delim('{') {
		return apierror.New(apierror.InvalidArgument, "request body must be a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for dec.More() {
		keyStart := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(body)
		}
		key, _ := tok.(string) // inside an object, Token yields a string key
		if !utf8.Valid(body[keyStart:dec.InputOffset()]) || strings.ContainsRune(key, utf8.RuneError) {
			return apierror.New(apierror.InvalidArgument, "request body holds a key that is not valid UTF-8")
		}
		field, ok := fields[key]
		if !ok {
			return apierror.New(apierror.InvalidArgument, "unknown field %q", shortKey(key))
		}
		if seen[key] {
			return apierror.New(apierror.InvalidArgument, "field %q appears more than once", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return syntaxError(body)
		}
		if err := setField(field, key, raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return syntaxError(body)
	}
	if !utf8.Valid(body) { // after the object: invalid UTF-8 anywhere is refused
		return apierror.New(apierror.InvalidArgument, "request body is not valid UTF-8")
	}
	// Exactly one value: only whitespace may follow it.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apierror.New(apierror.InvalidArgument, "request body must hold a single JSON object")
	}
	return nil
}

// jsonFields maps the json names of the struct dst points to onto its fields.
func jsonFields(dst any) map[string]reflect.Value {
	v := reflect.ValueOf(dst).Elem()
	fields := make(map[string]reflect.Value, v.NumField())
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = v.Field(i)
		}
	}
	return fields
}

// setField decodes raw, the value of key, into field after checking that it
// is of the field's JSON type (null is of none) and valid UTF-8.
func setField(field reflect.Value, key string, raw json.RawMessage) error {
	var want string
	switch field.Kind() {
	case reflect.String:
		want = "string"
		if raw[0] != '"' {
			return apierror.New(apierror.InvalidArgument, "field %q must be a %s", key, want)
		}
		if !utf8.Valid(raw) {
			return apierror.New(apierror.InvalidArgument, "field %q is not valid UTF-8", key)
		}
	case reflect.Bool:
		want = "boolean"
		if raw[0] != 't' && raw[0] != 'f' {
			return apierror.New(apierror.InvalidArgument, "field %q must be a %s", key, want)
		}
	default:
		want = field.Kind().String()
		if string(raw) == "null" {
			return apierror.New(apierror.InvalidArgument, "field %q must be a %s", key, want)
		}
	}
	if err := json.Unmarshal(raw, field.Addr().Interface()); err != nil {
		return apierror.New(apierror.InvalidArgument, "field %q must be a %s", key, want)
	}
	// An escaped unpaired surrogate ("\ud800") decodes to U+FFFD: it is no
	// more valid Unicode than a raw invalid byte, and no field of this API
	// can hold the replacement character.
	if field.Kind() == reflect.String && strings.ContainsRune(field.String(), utf8.RuneError) {
		return apierror.New(apierror.InvalidArgument, "field %q is not valid UTF-8", key)
	}
	return nil
}

// shortKey is key cut to a length fit for an error message.
func shortKey(key string) string {
	const maxShown = 64
	if len(key) > maxShown {
		return strings.ToValidUTF8(key[:maxShown], "") + "..."
	}
	return key
}

// syntaxError explains a body that is not JSON: invalid UTF-8 or bad syntax.
func syntaxError(body []byte) error {
	if !utf8.Valid(body) {
		return apierror.New(apierror.InvalidArgument, "request body is not valid UTF-8")
	}
	return apierror.New(apierror.InvalidArgument, "request body is not valid JSON")
}

func checkContentType(v string) error {
	if v == "" {
		return apierror.New(apierror.UnsupportedMediaType, "Content-Type must be application/json")
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || mt != "application/json" {
		return apierror.New(apierror.UnsupportedMediaType, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return apierror.New(apierror.UnsupportedMediaType, "application/json must be UTF-8")
	}
	return nil
}
