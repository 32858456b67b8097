package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
)

// Sentinel errors of the gateway's internals; the HTTP layer turns them into APIErrors.
var (
	// ErrTransition is returned for a state change the intent's state does not allow.
	ErrTransition = errors.New("gateway: transition not allowed")
	// ErrNotFound is returned for an intent or merchant the projection does not have.
	ErrNotFound = errors.New("gateway: not found")
	// ErrBusy is returned when another request holds an intent's lock for too long.
	ErrBusy = errors.New("gateway: intent is busy")
)

// Error types of the API, as in the "type" member of an error body.
const (
	typeInvalidRequest = "invalid_request_error"
	typeAuthentication = "authentication_error"
	typePermission     = "permission_error"
	typeRateLimit      = "rate_limit_error"
	typeIdempotency    = "idempotency_error"
	typeAPI            = "api_error"
)

// APIError is the body of every error response: {"error": {...}}. Param names the
// offending request field (JSON path, e.g. "amount" or "metadata.order"), when there is
// one. It never echoes a secret or a whole request body.
type APIError struct {
	// Status is the HTTP status; not serialized.
	Status int `json:"-"`
	// Type is the broad class: invalid_request_error, authentication_error, …
	Type string `json:"type"`
	// Code is a stable machine-readable code, e.g. "amount_invalid".
	Code string `json:"code"`
	// Message is a human explanation.
	Message string `json:"message"`
	// Param is the offending field, if any.
	Param string `json:"param,omitempty"`
	// RequestID is the id of the request ("req_…"), also in the Request-Id header.
	RequestID string `json:"request_id,omitempty"`
	// Reasons are the risk check's reason codes (risk_blocked, risk_review), strongest
	// first.
	Reasons []string `json:"reasons,omitempty"`
}

func (e *APIError) Error() string {
	if e.Param != "" {
		return e.Code + ": " + e.Param + ": " + e.Message
	}
	return e.Code + ": " + e.Message
}

func invalid(param, code, msg string) *APIError {
	return &APIError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: code, Message: msg, Param: param}
}

// writeJSON writes v with status. It is the one place responses are encoded.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"type":"api_error","code":"encode_failed","message":"the response could not be encoded"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// errorBody returns e as the response body.
func errorBody(e *APIError) map[string]*APIError { return map[string]*APIError{"error": e} }
