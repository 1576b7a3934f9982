package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"galaxy/platform/apierror"
)

// MaxBodyBytes bounds every request body (contracts/errors.md).
const MaxBodyBytes = 64 << 10

var errTooLarge = apierror.New(apierror.PayloadTooLarge, "request body is larger than %d bytes", MaxBodyBytes)

// decodeJSON reads r's body into dst strictly: the body must be declared
// application/json, hold at most MaxBodyBytes and be exactly one JSON object
// with only dst's fields, each of the right type.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.ContentLength > MaxBodyBytes {
		return errTooLarge
	}
	body := http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	// Exactly one value: only whitespace may follow it.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			if e := decodeError(err); apierror.Is(e, apierror.PayloadTooLarge) {
				return e
			}
		}
		return apierror.New(apierror.InvalidArgument, "request body must hold a single JSON object")
	}
	return nil
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

// decodeError explains a decoding failure without echoing the body.
func decodeError(err error) error {
	var (
		maxErr    *http.MaxBytesError
		syntaxErr *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &maxErr):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return apierror.New(apierror.InvalidArgument, "request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &syntaxErr):
		return apierror.New(apierror.InvalidArgument, "request body is not valid JSON")
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return apierror.New(apierror.InvalidArgument, "request body must be a JSON object")
		}
		return apierror.New(apierror.InvalidArgument, "field %q must be a %s", typeErr.Field, typeErr.Type)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok && len(field) <= 66 {
		return apierror.New(apierror.InvalidArgument, "unknown field %s", field)
	}
	return apierror.New(apierror.InvalidArgument, "request body is not a valid JSON object")
}
